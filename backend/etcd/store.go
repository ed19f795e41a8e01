package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/netplan42/netplan42/state"
)

// Store keeps one state in etcd: a computer's, or a network's router part.
// It implements state.Store and state.BackupReader.
type Store struct {
	c    *Client
	name string // computers/nas
	ctx  context.Context
}

var (
	_ state.Store        = (*Store)(nil)
	_ state.BackupReader = (*Store)(nil)
)

// ComputerStore returns the store of computer name's state (the name as in
// the config: "nas").
func (c *Client) ComputerStore(name string) *Store {
	return &Store{c: c, name: path.Join("computers", name), ctx: context.Background()}
}

// NetworkStore returns the store of a network's router part, for
// networks whose router netplan42 administers from one machine; name is
// what the state file of that part is named after ("network-lab"), so the
// key is PREFIX/computers/network-lab/state.
func (c *Client) NetworkStore(name string) *Store { return c.ComputerStore(name) }

func (s *Store) key(leaf string) string { return s.c.prefix + "/" + s.name + "/" + leaf }

// Key returns the state's key.
func (s *Store) Key() string { return s.key("state") }

// String names the store in messages: "etcd key /netplan42/computers/nas/state".
func (s *Store) String() string { return "etcd key " + s.Key() }

// Read implements state.Reader.
func (s *Store) Read() (*state.State, error) {
	st, _, _, err := s.read(s.Key())
	return st, err
}

// ReadBackup implements state.BackupReader.
func (s *Store) ReadBackup() (*state.State, error) {
	st, _, _, err := s.read(s.key("state.backup"))
	return st, err
}

// read returns the state at key, its bytes and its ModRevision (0 when
// absent).
func (s *Store) read(key string) (*state.State, []byte, int64, error) {
	ctx, cancel := opCtx(s.ctx)
	defer cancel()
	resp, err := s.c.get(ctx, getKey(key))
	if err != nil {
		return nil, nil, 0, s.c.unavailable("read state "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, 0, nil
	}
	kv := resp.Kvs[0]
	st, err := state.Decode("etcd key "+key, kv.Value)
	return st, kv.Value, kv.ModRevision, err
}

// Write implements state.Writer. The state is replaced in one transaction
// that holds only if the key is at the revision read: a writer that came
// in between makes it fail with state.ErrStale, naming what it wrote. The
// previous state is kept as state.backup in the same transaction.
func (s *Store) Write(st *state.State) error {
	key := s.Key()
	old, oldBytes, rev, err := s.read(key)
	if err != nil {
		return fmt.Errorf("%w; refusing to overwrite what cannot be checked", err)
	}
	next, err := state.Stamp(s.String(), old, st, time.Now())
	if err != nil {
		return err
	}
	b, err := state.Encode(next)
	if err != nil {
		return fmt.Errorf("write %s: %w", s, err)
	}
	return s.commit(st, next, b, oldBytes, old, rev)
}

// writeAt is Write for a state read at revision rev; tests use it to
// lose a race on purpose.
func (s *Store) writeAt(st *state.State, rev int64) error {
	_, oldBytes, _, err := s.read(s.Key())
	if err != nil {
		return err
	}
	next, err := state.Stamp(s.String(), nil, st, time.Now())
	if err != nil {
		return err
	}
	b, err := state.Encode(next)
	if err != nil {
		return err
	}
	old := *st
	return s.commit(st, next, b, oldBytes, &old, rev)
}

// commit stores next (encoded as b) if the key is still at rev, keeping
// oldBytes as the backup, and copies next into st.
func (s *Store) commit(st, next *state.State, b, oldBytes []byte, old *state.State, rev int64) error {
	key := s.Key()
	ops := []requestOp{opPut(key, string(b), 0)}
	if oldBytes != nil {
		ops = append(ops, opPut(s.key("state.backup"), string(oldBytes), 0))
	}
	ctx, cancel := opCtx(s.ctx)
	defer cancel()
	resp, err := s.c.txn(ctx, txnRequest{
		Compare: []compare{modRevisionIs(key, rev)},
		Success: ops,
		Failure: []requestOp{opGet(getKey(key))},
	})
	if err != nil {
		return s.c.unavailable("write state "+key, err)
	}
	if !resp.Succeeded {
		return s.lostRace(old, resp)
	}
	*st = *next
	return nil
}

// lostRace says what another writer did between the read and the write.
func (s *Store) lostRace(old *state.State, resp *txnResponse) error {
	kvs := resp.rangeOf(0).Kvs
	was := "no state"
	if old != nil {
		was = fmt.Sprintf("serial %d", old.Serial)
	}
	if len(kvs) == 0 {
		return fmt.Errorf("write %s: it was deleted after it was read (at %s); another netplan42 or a person removed it meanwhile, re-run: %w",
			s, was, state.ErrStale)
	}
	now, err := state.Decode(s.String(), kvs[0].Value)
	if err != nil {
		return fmt.Errorf("write %s: it changed after it was read (at %s) into something unreadable: %v: %w", s, was, err, state.ErrStale)
	}
	return fmt.Errorf("write %s: it changed after it was read: %s then, now serial %d of lineage %s written %s (etcd revision %d); another netplan42 wrote it meanwhile, re-run: %w",
		s, was, now.Serial, now.Lineage, now.Updated.Format(time.RFC3339), kvs[0].ModRevision, state.ErrStale)
}

// Lock implements state.Locker. An exclusive holder holds a mutex under
// the store's lock/ prefix, as etcd's concurrency.Mutex does, and records
// its state.Holder as its key's value; a shared holder puts a key under
// readers/. Both keys live under a lease of Client.LockTTL kept alive
// while the lock is held, so a holder that crashes frees the lock when
// its lease expires.
func (s *Store) Lock(ctx context.Context, info state.LockInfo) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", s, err)
	}
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		unlock, err := s.tryLock(info)
		var le *state.LockedError
		if !errors.As(err, &le) {
			return unlock, err
		}
		if _, ok := ctx.Deadline(); !ok {
			return nil, le
		}
		select {
		case <-ctx.Done():
			le.Waited = time.Since(start)
			return nil, le
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

func (s *Store) lockPrefix() string   { return s.key("lock") }
func (s *Store) readerPrefix() string { return s.key("readers") + "/" }

// lockRecord is the value of the exclusive holder's key: who, and the
// lease it holds the lock under.
type lockRecord struct {
	state.Holder
	TTLSeconds int64 `json:"ttl_seconds"`
}

// lockedError says the lock is held by h, under a lease of ttl (0: this
// client's).
func (s *Store) lockedError(h state.Holder, ttl time.Duration) *state.LockedError {
	if ttl <= 0 {
		ttl = s.c.LockTTL
	}
	return &state.LockedError{
		Path:    s.Key(),
		Holder:  h,
		Release: fmt.Sprintf("the lock is released when it exits, or within %s of a crash, when its etcd lease expires", ttl),
	}
}

// tryLock takes the lock once, without waiting.
func (s *Store) tryLock(info state.LockInfo) (func() error, error) {
	ttl := int(s.c.LockTTL / time.Second)
	if ttl < 1 {
		ttl = 1
	}
	ctx, cancel := opCtx(s.ctx)
	defer cancel()
	// The lease is granted here, within ctx's deadline; its keep-alives
	// run until the lock is released or the client closed, not for ctx.
	lease, err := s.c.grant(ctx, int64(ttl))
	if err != nil {
		return nil, s.c.unavailable("lock "+s.Key(), err)
	}
	stop := s.c.keepAlive(lease, time.Duration(ttl)*time.Second)
	fail := func(err error) (func() error, error) {
		stop()
		rctx, rcancel := opCtx(context.WithoutCancel(s.ctx))
		defer rcancel()
		s.c.revoke(rctx, lease)
		return nil, err
	}
	if info.Exclusive {
		key, err := s.tryMutex(ctx, lease)
		if errors.Is(err, errMutexLocked) {
			return fail(s.lockedError(s.holder(ctx)))
		}
		if err != nil {
			return fail(s.c.unavailable("lock "+s.Key(), err))
		}
		// Shared holders came first: give way to them.
		resp, err := s.c.get(ctx, countPrefix(s.readerPrefix()))
		if err != nil {
			return fail(s.c.unavailable("lock "+s.Key(), err))
		}
		if resp.Count > 0 {
			return fail(s.lockedError(state.Holder{}, 0))
		}
		b, _ := json.Marshal(lockRecord{state.CurrentHolder(info.Operation), int64(ttl)})
		// The holder record replaces the mutex key's empty value, if this
		// holder still owns it.
		tr, err := s.c.txn(ctx, txnRequest{
			Compare: []compare{createRevisionIs(key.key, key.rev)},
			Success: []requestOp{opPut(key.key, string(b), lease)},
		})
		if err != nil {
			return fail(s.c.unavailable("lock "+s.Key(), err))
		}
		if !tr.Succeeded {
			return fail(fmt.Errorf("lock %s: lost the lock while recording its holder (lease expired?)", s))
		}
	} else {
		key := s.readerPrefix() + fmt.Sprintf("%x", lease)
		if err := s.c.put(ctx, key, "", lease); err != nil {
			return fail(s.c.unavailable("lock "+s.Key(), err))
		}
		// An exclusive holder, or one taking the lock now, keeps plans
		// out: each side writes its key, then looks for the other's.
		resp, err := s.c.get(ctx, countPrefix(s.lockPrefix()+"/"))
		if err != nil {
			return fail(s.c.unavailable("lock "+s.Key(), err))
		}
		if resp.Count > 0 {
			return fail(s.lockedError(s.holder(ctx)))
		}
	}
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			stop()
			// Revoking the lease deletes the holder's key at once.
			rctx, rcancel := opCtx(context.WithoutCancel(s.ctx))
			defer rcancel()
			if err := s.c.revoke(rctx, lease); err != nil {
				uerr = fmt.Errorf("unlock %s: %w (the lock frees itself within %s, when its lease expires)", s, err, s.c.LockTTL)
			}
		})
		return uerr
	}, nil
}

// errMutexLocked: another holder has the mutex (concurrency.ErrLocked).
var errMutexLocked = errors.New("mutex: locked by another session")

// tryMutex is concurrency.Mutex's TryLock, key for key, so that holders
// built on either see each other: the holder's key is
// PREFIX/.../lock/LEASE (the lease in hex), created under the lease if
// absent, and the holder is the key under lock/ created first. It returns
// the key and its create revision, or errMutexLocked after deleting the
// key again.
func (s *Store) tryMutex(ctx context.Context, lease int64) (keyRev, error) {
	pfx := s.lockPrefix() + "/"
	key := fmt.Sprintf("%s%x", pfx, lease)
	resp, err := s.c.txn(ctx, txnRequest{
		Compare: []compare{createRevisionIs(key, 0)},
		Success: []requestOp{opPut(key, "", lease), opGet(firstCreated(pfx))},
		Failure: []requestOp{opGet(getKey(key)), opGet(firstCreated(pfx))},
	})
	if err != nil {
		return keyRev{}, err
	}
	rev := resp.Header.Revision
	if !resp.Succeeded {
		kvs := resp.rangeOf(0).Kvs
		if len(kvs) == 0 {
			return keyRev{}, fmt.Errorf("mutex key %s vanished while taking it", key)
		}
		rev = kvs[0].CreateRevision
	}
	owner := resp.rangeOf(1).Kvs
	if len(owner) == 0 || owner[0].CreateRevision == rev {
		return keyRev{key, rev}, nil
	}
	if err := s.c.del(ctx, key); err != nil {
		return keyRev{}, err
	}
	return keyRev{}, errMutexLocked
}

// holder returns the exclusive holder recorded in the lock and its lease,
// or zero. The holder records itself just after taking the mutex, so an
// empty record is read again briefly.
func (s *Store) holder(ctx context.Context) (state.Holder, time.Duration) {
	for range 3 {
		resp, err := s.c.get(ctx, firstCreated(s.lockPrefix()+"/"))
		if err != nil || len(resp.Kvs) == 0 {
			return state.Holder{}, 0
		}
		var r lockRecord
		if json.Unmarshal(resp.Kvs[0].Value, &r) == nil {
			return r.Holder, time.Duration(r.TTLSeconds) * time.Second
		}
		time.Sleep(5 * time.Millisecond)
	}
	return state.Holder{}, 0
}

// Holder returns the exclusive holder of the lock, or zero when none
// holds it.
func (s *Store) Holder(ctx context.Context) (state.Holder, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	if _, err := s.c.get(ctx, getKey(s.lockPrefix())); err != nil {
		return state.Holder{}, s.c.unavailable("read lock holder of "+s.Key(), err)
	}
	h, _ := s.holder(ctx)
	return h, nil
}

// Path returns the state's key, as FileStore.Path returns its file: saved
// plans record it, and a --state equal to it names this store.
func (s *Store) Path() string { return s.Key() }
