// Package schema turns netplan42's HCL configuration into typed values.
//
// It owns the config language (network, computer, service, variable and
// locals blocks, for_each, the function set), the lock file that records
// ports handed out for port = "auto", and the allocator that hands them out.
// Every mistake in a config is an hcl.Diagnostic with a source range; the
// package does no network IO and never runs commands.
package schema
