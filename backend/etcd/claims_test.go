package etcd

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/schema"
)

// fleet returns a configuration of n computers on network "office", each
// with a service "crashplan" on port = "auto"; skip leaves computers out.
func fleet(t testing.TB, n int, skip ...int) *schema.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("network \"office\" {\n  listen_ports = \"4200-4299\"\n}\n")
	for i := range n {
		if slices.Contains(skip, i) {
			continue
		}
		proto := "tcp"
		if i%5 == 0 {
			proto = "both"
		}
		fmt.Fprintf(&b, "computer \"c%02d\" {\n  network = \"office\"\n  service \"crashplan\" {\n    port = \"auto\"\n    protocol = %q\n  }\n}\n", i, proto)
	}
	cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(b.String())}, "", schema.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// portsOf returns each computer's port of service crashplan.
func portsOf(cfg *schema.Config) map[string]uint16 {
	m := map[string]uint16{}
	for _, c := range cfg.Computers {
		m[c.Name()] = c.Services[0].Port
	}
	return m
}

// planAll runs n planners at once, each its own client and its own copy
// of the config, as n computers running plan would; it returns each
// computer's port as its own planner saw it, and checks every planner saw
// the same assignments.
func planAll(t *testing.T, endpoints []string, n int) (map[string]uint16, int) {
	t.Helper()
	var wg sync.WaitGroup
	seen := make([]map[string]uint16, n)
	made := make([]int, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			c := dial(t, endpoints, "/np")
			cfg := fleet(t, n)
			_, changes, diags, err := c.Allocate(context.Background(), cfg, schema.AllocateOptions{})
			if err == nil && diags.HasErrors() {
				err = diags
			}
			errs[i], seen[i], made[i] = err, portsOf(cfg), len(changes)
		})
	}
	wg.Wait()
	t.Logf("%d planners claimed in %s", n, time.Since(start).Round(time.Millisecond))
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("planner %d: %v", i, errs[i])
		}
		if !maps.Equal(seen[i], seen[0]) {
			t.Fatalf("planner %d saw %v, planner 0 saw %v", i, seen[i], seen[0])
		}
		total += made[i]
	}
	own := map[string]uint16{}
	for i := range n {
		name := fmt.Sprintf("c%02d", i)
		own[name] = seen[i][name]
	}
	return own, total
}

func TestClaimsConcurrent(t *testing.T) {
	m := etcdtest.Start(t)
	eps := []string{m.ClientURL}
	const n = 20
	first, made := planAll(t, eps, n)
	distinct := map[uint16]bool{}
	for name, p := range first {
		if p < 4200 || p > 4299 {
			t.Errorf("%s got port %d, outside 4200-4299", name, p)
		}
		distinct[p] = true
	}
	if len(distinct) != n {
		t.Fatalf("%d computers got %d distinct ports: %v", n, len(distinct), first)
	}
	if made != n {
		t.Errorf("planners made %d claims together; want %d, one per computer", made, n)
	}
	again, made := planAll(t, eps, n)
	if !maps.Equal(first, again) || made != 0 {
		t.Fatalf("second run: %v with %d claims; want %v with none", again, made, first)
	}
	m.Stop()
	m.Restart(t)
	after, made := planAll(t, eps, n)
	if !maps.Equal(first, after) || made != 0 {
		t.Fatalf("after an etcd restart: %v with %d claims; want %v with none", after, made, first)
	}
	// The keys are as documented, one per protocol.
	c := dial(t, eps, "/np")
	resp, err := rawClient(t, c).Get(context.Background(), "/np/networks/office/ports/", withPrefix()...)
	if err != nil {
		t.Fatal(err)
	}
	if want := n + n/5; len(resp.Kvs) != want {
		t.Errorf("%d port keys; want %d (udp too for every fifth)", len(resp.Kvs), want)
	}
	key := fmt.Sprintf("/np/networks/office/ports/udp/%d", first["c05"])
	if r, _ := rawClient(t, c).Get(context.Background(), key); len(r.Kvs) != 1 || string(r.Kvs[0].Value) != `{"computer":"computer.c05","service":"crashplan"}` {
		t.Errorf("%s = %v; want c05's claim", key, r.Kvs)
	}
}

func TestClaimsRelease(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	ctx := context.Background()
	cfg := fleet(t, 4)
	if _, _, diags, err := c.Allocate(ctx, cfg, schema.AllocateOptions{}); err != nil || diags.HasErrors() {
		t.Fatal(err, diags)
	}
	before := portsOf(cfg)

	// A transient error releases nothing: an unreachable etcd is an error.
	down := dial(t, []string{"http://127.0.0.1:1"}, "/np")
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, _, _, err := down.Allocate(short, fleet(t, 4, 1), schema.AllocateOptions{}); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("allocate against no etcd = %v; want an error naming the endpoint", err)
	} else {
		t.Log(err)
	}

	// c01 leaves the config: its claim goes, the others stay.
	cfg = fleet(t, 4, 1)
	_, changes, diags, err := c.Allocate(ctx, cfg, schema.AllocateOptions{})
	if err != nil || diags.HasErrors() {
		t.Fatal(err, diags)
	}
	if len(changes) != 1 || changes[0].Action != schema.LockRelease || changes[0].Key.Computer != "computer.c01" {
		t.Fatalf("changes = %v; want c01's release", changes)
	}
	for name, p := range portsOf(cfg) {
		if before[name] != p {
			t.Errorf("%s moved from %d to %d", name, before[name], p)
		}
	}
	cl, err := c.ReadClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Lock.Assignments) != 3 {
		t.Errorf("claims after the release: %v", cl.Lock.Assignments)
	}
	// Read-only: a new computer is an error, nothing is claimed.
	cfg = fleet(t, 4)
	_, changes, diags, err = c.Allocate(ctx, cfg, schema.AllocateOptions{Readonly: true})
	if err != nil || !diags.HasErrors() {
		t.Fatalf("read-only allocate of a new computer = %v, %v; want an error diagnostic", err, diags)
	}
	// And back: it gets the lowest free port, its old one.
	_, changes, diags, err = c.Allocate(ctx, cfg, schema.AllocateOptions{})
	if err != nil || diags.HasErrors() || len(changes) != 1 {
		t.Fatal(changes, err, diags)
	}
	if got := portsOf(cfg)["c01"]; got != before["c01"] {
		t.Errorf("c01 back on %d; want %d, the lowest free", got, before["c01"])
	}
}

// TestClaimsRetry repeats a claim whose answer was lost: the retry finds
// its own claim and claims nothing twice.
func TestClaimsRetry(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	ctx := context.Background()
	cfg := fleet(t, 3)
	cl, err := c.ReadClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, changes, _ := schema.AllocateWith(cfg, cl.Lock, schema.AllocateOptions{})
	if _, err := c.apply(ctx, cfg, cl, changes); err != nil {
		t.Fatal(err)
	}
	// The same transaction again, as a client would send it after a
	// time-out: refused, nothing written.
	if _, err := c.apply(ctx, cfg, cl, changes); err != ErrClaimConflict {
		t.Fatalf("repeated claim = %v; want ErrClaimConflict", err)
	}
	cfg2 := fleet(t, 3)
	_, again, diags, err := c.Allocate(ctx, cfg2, schema.AllocateOptions{})
	if err != nil || diags.HasErrors() || len(again) != 0 {
		t.Fatalf("allocate after the lost answer: %v, %v, %v; want no change", again, err, diags)
	}
	if !maps.Equal(portsOf(cfg), portsOf(cfg2)) {
		t.Errorf("ports %v after the retry; want %v", portsOf(cfg2), portsOf(cfg))
	}
}

func withPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }

// TestClaimsFixedCollision: a fixed port on the router on a port claimed
// for another service is the lock file's diagnostic, and the claim stays.
func TestClaimsFixedCollision(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	ctx := context.Background()
	if _, _, diags, err := c.Allocate(ctx, fleet(t, 2), schema.AllocateOptions{}); err != nil || diags.HasErrors() {
		t.Fatal(err, diags)
	}
	src := `
network "office" {
  listen_ports = "4200-4299"
}
computer "c00" {
  network = "office"
  service "crashplan" {
    port     = "auto"
    protocol = "both"
    expose   = "internet"
  }
}
computer "c01" {
  network = "office"
  service "crashplan" {
    port   = 4200
    expose = "internet"
  }
}
`
	cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "", schema.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, _, diags, err := c.Allocate(ctx, cfg, schema.AllocateOptions{})
	if err != nil || !diags.HasErrors() {
		t.Fatalf("fixed port on a claimed one: %v, %v; want an error diagnostic", err, diags)
	}
	t.Log(diags)
	cl, err := c.ReadClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := cl.Lock.Lookup(schema.AssignmentKey{Network: "office", Computer: "computer.c00", Service: "crashplan"}); !ok || a.Port != 4200 {
		t.Errorf("c00's claim after the collision: %v %v; want 4200 kept", a, ok)
	}
}

// TestClaims1000 claims the ports of a 1000-computer fleet in one plan,
// and reads them back unchanged.
func TestClaims1000(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 claims: skipped with -short")
	}
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	load := func() *schema.Config {
		var b strings.Builder
		b.WriteString("network \"office\" {\n  listen_ports = \"10000-19999\"\n}\n")
		fmt.Fprintf(&b, "computer \"c\" {\n  for_each = range(1000)\n  network = \"office\"\n  service \"crashplan\" {\n    port = \"auto\"\n  }\n}\n")
		cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(b.String())}, "", schema.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	start := time.Now()
	_, made, diags, err := c.Allocate(context.Background(), load(), schema.AllocateOptions{})
	if err != nil || diags.HasErrors() || len(made) != 1000 {
		t.Fatalf("%d claims, %v, %v; want 1000", len(made), err, diags)
	}
	claimed := time.Since(start)
	start = time.Now()
	_, made, diags, err = c.Allocate(context.Background(), load(), schema.AllocateOptions{})
	if err != nil || diags.HasErrors() || len(made) != 0 {
		t.Fatalf("second plan: %d claims, %v, %v; want none", len(made), err, diags)
	}
	t.Logf("1000 claims in %s (%d per transaction); read back in %s", claimed.Round(time.Millisecond), claimsPerTxn, time.Since(start).Round(time.Millisecond))
}

// TestClaimsProtocolChange: a service that goes from tcp to both keeps
// its port and gains its udp key; back to tcp, the udp key goes.
func TestClaimsProtocolChange(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	ctx := context.Background()
	load := func(proto string) *schema.Config {
		src := fmt.Sprintf("network \"office\" {\n  listen_ports = \"4200-4299\"\n}\ncomputer \"a\" {\n  network = \"office\"\n  service \"s\" {\n    port = \"auto\"\n    protocol = %q\n  }\n}\n", proto)
		cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "", schema.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	keys := func() []string {
		resp, err := rawClient(t, c).Get(ctx, "/np/networks/office/ports/", withPrefix()...)
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, kv := range resp.Kvs {
			ks = append(ks, string(kv.Key))
		}
		return ks
	}
	for _, step := range []struct {
		proto string
		want  []string
	}{
		{"tcp", []string{"/np/networks/office/ports/tcp/4200"}},
		{"both", []string{"/np/networks/office/ports/tcp/4200", "/np/networks/office/ports/udp/4200"}},
		{"udp", []string{"/np/networks/office/ports/udp/4200"}},
	} {
		cfg := load(step.proto)
		if _, _, diags, err := c.Allocate(ctx, cfg, schema.AllocateOptions{}); err != nil || diags.HasErrors() {
			t.Fatal(err, diags)
		}
		if got := keys(); !slices.Equal(got, step.want) || cfg.Computers[0].Services[0].Port != 4200 {
			t.Errorf("protocol %s: keys %v, port %d; want %v on 4200", step.proto, got, cfg.Computers[0].Services[0].Port, step.want)
		}
	}
}
