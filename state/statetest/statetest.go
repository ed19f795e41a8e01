// Package statetest is the conformance test every state backend runs, so
// that apply and plan can rely on the same behaviour from each.
package statetest

import (
	"context"
	"errors"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/state"
)

// TestStore runs the conformance tests against stores made by newStore,
// which returns an empty store for each subtest. Two Lock calls on one
// store must conflict as two processes would.
func TestStore(t *testing.T, newStore func(t *testing.T) state.Store) {
	t.Run("EmptyRead", func(t *testing.T) {
		s, err := newStore(t).Read()
		if s != nil || err != nil {
			t.Fatalf("Read of an empty store = %+v, %v; want nil, nil", s, err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		store := newStore(t)
		want := sample()
		before := time.Now().Add(-time.Second)
		if err := store.Write(want); err != nil {
			t.Fatal(err)
		}
		if want.Serial != 1 || want.Updated.Before(before) || want.FormatVersion != state.FormatVersion {
			t.Errorf("after first Write: serial %d, updated %v, format %q; want 1, now, %q",
				want.Serial, want.Updated, want.FormatVersion, state.FormatVersion)
		}
		if d := diff(want, mustRead(t, store)); d != "" {
			t.Errorf("Read after Write (-want +got):\n%s", d)
		}
	})

	t.Run("SerialBumps", func(t *testing.T) {
		store := newStore(t)
		s := sample()
		for i := uint64(1); i <= 3; i++ {
			if err := store.Write(s); err != nil {
				t.Fatal(err)
			}
			if got := mustRead(t, store).Serial; got != i || s.Serial != i {
				t.Fatalf("write %d: stored serial %d, in hand %d; want %d", i, got, s.Serial, i)
			}
		}
	})

	t.Run("LineageKept", func(t *testing.T) {
		store := newStore(t)
		s := sample()
		s.Lineage = ""
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
		if s.Lineage == "" {
			t.Fatal("first Write of a state without lineage chose none")
		}
		lineage := s.Lineage
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, store).Lineage; got != lineage || s.Lineage != lineage {
			t.Errorf("lineage after second write: stored %q, in hand %q; want %q", got, s.Lineage, lineage)
		}
	})

	t.Run("OtherLineageRefused", func(t *testing.T) {
		store := newStore(t)
		if err := store.Write(sample()); err != nil {
			t.Fatal(err)
		}
		other := sample()
		other.Lineage = "another-lineage"
		err := store.Write(other)
		if !errors.Is(err, state.ErrLineage) {
			t.Fatalf("Write of another lineage = %v; want ErrLineage", err)
		}
		if other.Serial != 0 {
			t.Errorf("refused Write changed the serial in hand to %d", other.Serial)
		}
		if got := mustRead(t, store); got.Lineage == other.Lineage {
			t.Error("refused Write replaced the state")
		}
	})

	t.Run("StaleRefused", func(t *testing.T) {
		store := newStore(t)
		s := sample()
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
		old := mustRead(t, store)
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
		if err := store.Write(old); !errors.Is(err, state.ErrStale) {
			t.Fatalf("Write of a state read before the last write = %v; want ErrStale", err)
		}
	})

	t.Run("Backup", func(t *testing.T) {
		store := newStore(t)
		br, ok := store.(state.BackupReader)
		if !ok {
			t.Skipf("%T keeps no backup", store)
		}
		if b, err := br.ReadBackup(); b != nil || err != nil {
			t.Fatalf("ReadBackup of an empty store = %+v, %v; want nil, nil", b, err)
		}
		s := sample()
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
		first := mustRead(t, store)
		s.Resources = s.Resources[:1]
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
		b, err := br.ReadBackup()
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(first, b); d != "" {
			t.Errorf("backup after second write (-want +got):\n%s", d)
		}
	})

	t.Run("ExclusiveExcludesAll", func(t *testing.T) {
		store := newStore(t)
		unlock := mustLock(t, store, "apply", true)
		defer unlock()
		for _, excl := range []bool{true, false} {
			start := time.Now()
			u, err := store.Lock(context.Background(), state.LockInfo{Operation: "plan", Exclusive: excl})
			if err == nil {
				u()
				t.Fatalf("Lock(exclusive=%v) while an exclusive lock is held succeeded", excl)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Lock(exclusive=%v) without a deadline took %v to fail; want at once", excl, d)
			}
			checkLocked(t, err, os.Getpid(), "apply")
		}
	})

	t.Run("SharedAllowsShared", func(t *testing.T) {
		store := newStore(t)
		u1 := mustLock(t, store, "plan", false)
		u2 := mustLock(t, store, "plan", false)
		if u, err := store.Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true}); err == nil {
			u()
			t.Fatal("exclusive Lock while shared locks are held succeeded")
		} else if !errors.Is(err, state.ErrLocked) {
			t.Fatalf("exclusive Lock while shared locks are held = %v; want ErrLocked", err)
		}
		if err := u1(); err != nil {
			t.Fatal(err)
		}
		if err := u2(); err != nil {
			t.Fatal(err)
		}
		mustLock(t, store, "apply", true)()
	})

	t.Run("UnlockReleases", func(t *testing.T) {
		store := newStore(t)
		unlock := mustLock(t, store, "apply", true)
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err != nil {
			t.Errorf("second unlock = %v; want nil", err)
		}
		mustLock(t, store, "destroy", true)()
	})

	t.Run("WaitWithDeadline", func(t *testing.T) {
		store := newStore(t)
		unlock := mustLock(t, store, "apply", true)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		_, err := store.Lock(ctx, state.LockInfo{Operation: "plan"})
		var le *state.LockedError
		if !errors.As(err, &le) || le.Waited < 100*time.Millisecond {
			t.Fatalf("Lock until a deadline = %v; want a LockedError after waiting", err)
		}
		time.AfterFunc(100*time.Millisecond, func() { unlock() })
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u, err := store.Lock(ctx, state.LockInfo{Operation: "plan"})
		if err != nil {
			t.Fatalf("Lock waiting for a release = %v", err)
		}
		u()
	})
}

func checkLocked(t *testing.T, err error, pid int, op string) {
	t.Helper()
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("error %v is not ErrLocked", err)
	}
	var le *state.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LockedError", err)
	}
	host, _ := os.Hostname()
	h := le.Holder
	if h.Pid != pid || h.Host != host || h.Operation != op || time.Since(h.Since) > time.Minute {
		t.Errorf("holder = %+v; want pid %d, host %s, operation %s, since just now", h, pid, host, op)
	}
}

func mustLock(t *testing.T, s state.Locker, op string, exclusive bool) func() error {
	t.Helper()
	unlock, err := s.Lock(context.Background(), state.LockInfo{Operation: op, Exclusive: exclusive})
	if err != nil {
		t.Fatalf("Lock(%s, exclusive=%v): %v", op, exclusive, err)
	}
	t.Cleanup(func() { unlock() })
	return unlock
}

func mustRead(t *testing.T, s state.Reader) *state.State {
	t.Helper()
	got, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("Read after Write returned no state")
	}
	return got
}

// diff compares states as stored: times by instant.
func diff(want, got *state.State) string {
	return cmp.Diff(want, got,
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	)
}

// sample returns a state with one resource of each kind and a router memo.
func sample() *state.State {
	s := state.New("computer.nas")
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s.Resources = []planner.Managed{
		{
			Address: `router_mapping.crashplan["tcp"]`,
			Kind:    planner.KindMapping,
			Mapping: &planner.Mapping{
				Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.168.1.10"),
				InternalPort: 4242, Description: planner.Tag("nas", "crashplan"), LeaseSeconds: 3600,
			},
			Via:     string(schema.ViaUPnP),
			Expires: at.Add(time.Hour),
		},
		{
			Address: `firewall_rule.crashplan["tcp"]`,
			Kind:    planner.KindRule,
			Rule: &planner.Rule{
				Protocol: planner.TCP, Port: 4242, Sources: planner.AnySource, Comment: planner.Tag("nas", "crashplan"),
			},
		},
	}
	s.Router = planner.RouterMemo{
		Protocol: schema.ViaUPnP, Identity: "http://192.168.1.1:5000/rootDesc.xml#1",
		External: netip.MustParseAddr("203.0.113.7"),
	}
	return s
}
