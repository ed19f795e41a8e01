package cli

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// fleetBackend is a shared store named by the config's backend block:
// port claims in place of the lock file, and each computer's state and
// lock in place of its state file.
type fleetBackend interface {
	// Allocate claims the ports of services with port = "auto" and sets
	// them in cfg; Preview does the same without claiming.
	Allocate(ctx context.Context, cfg *schema.Config, opts schema.AllocateOptions) (*schema.Lock, []schema.LockChange, hcl.Diagnostics, error)
	Preview(ctx context.Context, cfg *schema.Config, opts schema.AllocateOptions) (*schema.Lock, []schema.LockChange, hcl.Diagnostics, error)
	// Store returns the state store of computer c; NetworkStore that of
	// network name's router part (--network).
	Store(c *schema.Computer) targetStore
	NetworkStore(name string) targetStore
	// ExportLock returns the claims as a lock file; ImportLock claims the
	// assignments of lock, refusing ports claimed otherwise.
	ExportLock(ctx context.Context) (*schema.Lock, error)
	ImportLock(ctx context.Context, cfg *schema.Config, lock *schema.Lock) (int, error)
	// ReportTTL is how long a computer's report lives without renewal.
	ReportTTL() time.Duration
	String() string
}

// targetStore is a computer's state store: a state file, or a backend's.
type targetStore interface {
	state.Store
	// Path names the state for saved plans and messages: a file, or a key.
	Path() string
}

// backendKinds opens the backends this build has, by kind; each backend
// registers itself from its own file, which a build tag can leave out.
var backendKinds = map[schema.BackendKind]func(*schema.Backend) (fleetBackend, error){}

// backends are the open backends, one per loaded config's computers: a
// target finds its computer's here.
var backends sync.Map // *schema.Computer -> fleetBackend

// openBackend opens cfg's backend and records it for cfg's computers.
func openBackend(cfg *schema.Config) (fleetBackend, error) {
	open := backendKinds[cfg.Backend.Kind]
	if open == nil {
		return nil, fmt.Errorf("backend %q: this netplan42 was built without it", cfg.Backend.Kind)
	}
	b, err := open(cfg.Backend)
	if err != nil {
		return nil, err
	}
	for _, c := range cfg.Computers {
		backends.Store(c, b)
	}
	return b, nil
}

// storeFor returns computer c's state store: its backend's when the
// config has one and --state names no file, else the state file at path.
func storeFor(c *schema.Computer, path string, explicit bool) targetStore {
	if b, ok := backends.Load(c); ok {
		s := b.(fleetBackend).Store(c)
		if !explicit || path == s.Path() {
			return s
		}
	}
	return state.NewFileStore(path)
}

// networkStoreFor is storeFor for network name's router part.
func networkStoreFor(cfg *schema.Config, name, path string, explicit bool) targetStore {
	if len(cfg.Computers) > 0 {
		if b, ok := backends.Load(cfg.Computers[0]); ok {
			s := b.(fleetBackend).NetworkStore(name)
			if !explicit || path == s.Path() {
				return s
			}
		}
	}
	return state.NewFileStore(path)
}

// allocateBackend is the lock file's allocation with the port claims of
// cfg's backend: claims are made when write, else only previewed.
func allocateBackend(stdio IO, cfg *schema.Config, f *configFlags, write bool) (int, hcl.Diagnostics, error) {
	b, err := openBackend(cfg)
	if err != nil {
		return 0, nil, err
	}
	opts := schema.AllocateOptions{Readonly: f.lockfile == "readonly", InUse: stateInUse(cfg)}
	allocate := b.Preview
	if write {
		allocate = b.Allocate
	}
	_, changes, diags, err := allocate(context.Background(), cfg, opts)
	if err != nil {
		return 0, diags, fmt.Errorf("port claims: %w", err)
	}
	if !write {
		return len(changes), diags, nil
	}
	reportClaims(stdio.Err, b, changes)
	return 0, diags, nil
}

// reportClaims says what changed in the claims, as reportLockChanges does
// for the lock file.
func reportClaims(w io.Writer, b fleetBackend, changes []schema.LockChange) {
	assigned := 0
	for _, c := range changes {
		if c.Action == schema.LockAssign {
			assigned++
		}
	}
	for _, c := range changes {
		if c.Action != schema.LockAssign || assigned <= manyAssigned {
			fmt.Fprintf(w, "%s: %s\n", b, c)
		}
	}
	if assigned > manyAssigned {
		fmt.Fprintf(w, "%s: claimed %s ports for services with port = \"auto\"\n", b, thousands(assigned))
	}
}
