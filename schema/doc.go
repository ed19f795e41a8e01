// Package schema turns netplan42's HCL configuration into typed values.
//
// It owns the config language (network, computer, service, variable and
// locals blocks, for_each, the function set), the lock file that records
// ports handed out for port = "auto", and the allocator that hands them out.
// Every mistake in a config is an hcl.Diagnostic with a source range; the
// package does no network IO and never runs commands.
//
// A command loads in three steps, each pure but the file reads:
//
//	cfg, diags := schema.Load(dir, opts)        // or LoadFiles, from bytes
//	lock, more := schema.ReadLock(cfg.Dir)      // netplan42.lock.hcl
//	next, changes, more := schema.Allocate(cfg, lock, readonly)
//	// ... and schema.WriteLock(cfg.Dir, next) when changes is not empty.
//
// Loading reports every mistake it can find rather than the first, so a
// user fixes a config in one pass; values that an earlier mistake made
// unusable are unknown afterwards and raise no second message.
package schema
