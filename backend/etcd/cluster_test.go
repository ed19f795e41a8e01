package etcd

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// TestClusterMemberStoppedMidApply runs an apply's writes against a
// three-member cluster: under the exclusive lock, the state is written
// after every change, as apply's journal does; the leader is stopped in
// the middle and started again at the end. Every write succeeds, the
// lock holds throughout, and every member ends with the last state.
func TestClusterMemberStoppedMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("three etcd members: skipped with -short")
	}
	cl := etcdtest.StartCluster(t, 3)
	c := dial(t, cl.Endpoints(), "/np")
	store := c.ComputerStore("nas")
	ctx := context.Background()
	unlock, err := store.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	st := state.New("computer.nas")
	j := &state.Journal{W: store, S: st}
	const changes = 12
	// The leader is the member whose loss costs most: an election.
	stopped := cl.Members[0]
	for _, m := range cl.Members {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := rawClient(t, c).Status(sctx, m.ClientURL)
		cancel()
		if err == nil && s.Leader == s.Header.MemberId {
			stopped = m
		}
	}
	var stopAt time.Time
	for i := range changes {
		if i == changes/2 {
			stopped.Kill() // a crash: no leadership handed over
			stopAt = time.Now()
		}
		prior := st.Prior
		prior.Resources = append(prior.Resources, planner.Managed{
			Address: fmt.Sprintf("router_mapping.s%d[\"tcp\"]", i),
			Kind:    planner.KindMapping,
			Mapping: &planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(4200 + i),
				InternalAddress: netip.MustParseAddr("192.0.2.10"), InternalPort: uint16(4200 + i), LeaseSeconds: 3600},
		})
		start := time.Now()
		if err := j.Save(prior); err != nil {
			t.Fatalf("change %d with member %s stopped=%v: %v", i, stopped.Name, i >= changes/2, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Logf("write %d took %s", i, d.Round(time.Millisecond))
		}
	}
	t.Logf("leader %s stopped mid-apply; the %d writes after it took %s", stopped.Name, changes-changes/2, time.Since(stopAt).Round(time.Millisecond))
	// Another process's apply is still refused: the lock held.
	var rest []string
	for _, m := range cl.Members {
		if m != stopped {
			rest = append(rest, m.ClientURL)
		}
	}
	other := dial(t, rest, "/np").ComputerStore("nas")
	if _, err := other.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true}); err == nil {
		t.Fatal("a second apply got the lock while the first held it across the member's stop")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	stopped.Restart(t)
	// Each member, asked alone, holds the last state.
	for _, m := range cl.Members {
		one := dial(t, []string{m.ClientURL}, "/np").ComputerStore("nas")
		var got *state.State
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err = one.Read()
			if err == nil && got != nil && got.Serial == changes || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || got == nil || got.Serial != changes || len(got.Resources) != changes {
			t.Fatalf("member %s: state %v, %v; want serial %d with %d resources", m.Name, got, err, changes, changes)
		}
	}
}

// TestClusterClaimsWithMemberDown claims ports while a member is down and
// reads them back from it once it is up.
func TestClusterClaimsWithMemberDown(t *testing.T) {
	if testing.Short() {
		t.Skip("three etcd members: skipped with -short")
	}
	cl := etcdtest.StartCluster(t, 3)
	cl.Members[2].Stop()
	c := dial(t, cl.Endpoints(), "/np")
	cfg := fleet(t, 5)
	if _, _, diags, err := c.Allocate(context.Background(), cfg, schema.AllocateOptions{}); err != nil || diags.HasErrors() {
		t.Fatal(err, diags)
	}
	want := portsOf(cfg)
	cl.Members[2].Restart(t)
	one := dial(t, []string{cl.Members[2].ClientURL}, "/np")
	cfg2 := fleet(t, 5)
	_, made, diags, err := one.Allocate(context.Background(), cfg2, schema.AllocateOptions{})
	if err != nil || diags.HasErrors() || len(made) != 0 {
		t.Fatalf("claims read from the restarted member: %v, %v, %v; want none new", made, err, diags)
	}
	for k, p := range portsOf(cfg2) {
		if want[k] != p {
			t.Errorf("%s: %d on the restarted member, %d when claimed", k, p, want[k])
		}
	}
}
