package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netplan42/netplan42/planner"
)

type fake struct {
	mu                           sync.Mutex
	reconciles, releases, reload int
	failReload, failReconcile    error
	report                       Report
	passed                       chan struct{}
}

func (f *fake) Reconcile(context.Context) (Report, error) {
	f.mu.Lock()
	f.reconciles++
	rep, err := f.report, f.failReconcile
	f.mu.Unlock()
	if f.passed != nil {
		select {
		case f.passed <- struct{}{}:
		default:
		}
	}
	return rep, err
}

func (f *fake) Release(context.Context) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases++
	return Report{}, nil
}

func (f *fake) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reload++
	return f.failReload
}

func (f *fake) count() (int, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconciles, f.releases, f.reload
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// logEvents is a slog handler that keeps every message the agent logs, so
// a test can wait for the agent to reach a point: a pass is over, with its
// metrics recorded, once the agent logs "reconciled" (or "reconcile
// failed"), after the Reconciler returned.
type logEvents struct {
	mu     sync.Mutex
	msgs   []string
	notify chan struct{}
	// slow makes the agent take this long over logging a message: a test
	// widens a race window with it, to show it waits for the right event.
	slow map[string]time.Duration
}

func newLogEvents() *logEvents { return &logEvents{notify: make(chan struct{}, 1)} }

func (e *logEvents) Enabled(context.Context, slog.Level) bool { return true }
func (e *logEvents) WithAttrs([]slog.Attr) slog.Handler       { return e }
func (e *logEvents) WithGroup(string) slog.Handler            { return e }
func (e *logEvents) Handle(_ context.Context, r slog.Record) error {
	time.Sleep(e.slow[r.Message])
	e.mu.Lock()
	e.msgs = append(e.msgs, r.Message)
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
	return nil
}

// count returns how many messages were msg.
func (e *logEvents) count(msg string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, m := range e.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// wait blocks until the agent has logged msg n times in all.
func (e *logEvents) wait(t *testing.T, msg string, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for e.count(msg) < n {
		select {
		case <-e.notify:
		case <-timeout:
			t.Fatalf("timed out waiting for the agent to log %q %d times; it logged %q", msg, n, e.msgs)
		}
	}
}

func mapping(addr string, lease uint32, expires time.Time) planner.Managed {
	return planner.Managed{Address: addr, Kind: planner.KindMapping, Expires: expires,
		Mapping: &planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.0.2.10"), InternalPort: 4242, LeaseSeconds: lease}}
}

func TestNextWake(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   planner.Prior
		want time.Duration
	}{
		{"nothing managed", planner.Prior{}, time.Minute},
		{"long lease", planner.Prior{Resources: []planner.Managed{mapping("a", 7200, now.Add(2*time.Hour))}}, time.Minute},
		// 60 s lease made now: half-life in 30 s, wake 1 s after.
		{"short lease", planner.Prior{Resources: []planner.Managed{mapping("a", 60, now.Add(time.Minute))}}, 31 * time.Second},
		{"half-life passed", planner.Prior{Resources: []planner.Managed{mapping("a", 60, now.Add(10*time.Second))}}, time.Second},
		{"permanent", planner.Prior{Resources: []planner.Managed{mapping("a", 0, time.Time{})}}, time.Minute},
		{"earliest wins", planner.Prior{Resources: []planner.Managed{mapping("a", 600, now.Add(10*time.Minute)), mapping("b", 120, now.Add(100*time.Second))}}, 41 * time.Second},
		// A pinhole's lease wakes the agent like a mapping's.
		{"pinhole", planner.Prior{Resources: []planner.Managed{mapping("a", 7200, now.Add(2*time.Hour)),
			{Address: "p", Kind: planner.KindPinhole, Pinhole: &planner.Pinhole{LeaseSeconds: 120}, Expires: now.Add(100 * time.Second)}}}, 41 * time.Second},
	} {
		if got := nextWake(tc.st, now, time.Minute); got != tc.want {
			t.Errorf("%s: nextWake = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	f := &fake{failReconcile: &Error{Kind: KindRouter, Err: errors.New("no answer")}}
	a := New(Config{Interval: time.Minute, BackoffMin: 5 * time.Second, BackoffMax: 30 * time.Second, Logger: quiet}, f)
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, a.pass(context.Background()))
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits after errors = %v, want %v", got, want)
		}
	}
	f.failReconcile = nil
	if w := a.pass(context.Background()); w != time.Minute {
		t.Errorf("after a success the wait is %s, want the interval", w)
	}
	f.failReconcile = &Error{Kind: KindRouter, Err: errors.New("again")}
	if w := a.pass(context.Background()); w != 5*time.Second {
		t.Errorf("backoff did not restart after a success: %s", w)
	}
	// A lease due for renewal in 12 s caps the backoff.
	a.pass(context.Background()) // 10 s
	f.report = Report{State: planner.Prior{Resources: []planner.Managed{mapping("a", 60, time.Now().Add(41*time.Second))}}}
	if w := a.pass(context.Background()); w < 11*time.Second || w > 13*time.Second {
		t.Errorf("wait %s with a lease due for renewal in 12 s", w)
	}
	if v := counterValue(t, a, "netplan42_errors_total", "kind", "router"); v != 8 {
		t.Errorf("router errors = %v, want 8", v)
	}
}

// runAgent starts a.Run and returns a stop function that waits for it.
func runAgent(t *testing.T, a *Agent, hup chan os.Signal) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, hup) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("agent did not stop")
			return nil
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestReleaseOnExit(t *testing.T) {
	for _, release := range []bool{false, true} {
		f := &fake{passed: make(chan struct{}, 1)}
		a := New(Config{Interval: time.Hour, ReleaseOnExit: release, Logger: quiet}, f)
		stop := runAgent(t, a, nil)
		<-f.passed
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		n, rel, _ := f.count()
		if n != 1 {
			t.Errorf("release=%v: %d reconciles before stop, want the one at start", release, n)
		}
		if want := map[bool]int{false: 0, true: 1}[release]; rel != want {
			t.Errorf("release=%v: %d releases, want %d", release, rel, want)
		}
	}
}

func TestReloadKeepsLastGood(t *testing.T) {
	f := &fake{passed: make(chan struct{}, 1), failReload: errors.New("main.hcl:3: Unknown network")}
	a := New(Config{Interval: time.Hour, Logger: quiet}, f)
	hup := make(chan os.Signal, 1)
	stop := runAgent(t, a, hup)
	defer stop()
	<-f.passed
	hup <- os.Interrupt
	waitFor(t, "the reload", func() bool { _, _, r := f.count(); return r == 1 })
	<-f.passed // a failed reload still reconciles, with the last good config
	if v := counterValue(t, a, "netplan42_errors_total", "kind", "config"); v != 1 {
		t.Errorf("config errors = %v, want 1", v)
	}
	f.mu.Lock()
	f.failReload = nil
	f.mu.Unlock()
	hup <- os.Interrupt
	waitFor(t, "the second reload", func() bool { _, _, r := f.count(); return r == 2 })
	waitFor(t, "the reloads counter", func() bool { return counterValue(t, a, "netplan42_config_reloads_total", "", "") == 1 })
}

func TestConfigWatch(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.hcl")
	os.WriteFile(cfg, []byte("network \"a\" {}\n"), 0o644)
	f := &fake{passed: make(chan struct{}, 1)}
	a := New(Config{Interval: time.Hour, ConfigPath: dir, Logger: quiet}, f)
	stop := runAgent(t, a, nil)
	defer stop()
	<-f.passed
	os.WriteFile(cfg, []byte("network \"a\" {}\nnetwork \"b\" {}\n"), 0o644)
	waitFor(t, "a reload after the file changed", func() bool { _, _, r := f.count(); return r >= 1 })
}

func TestMetricsAndHealth(t *testing.T) {
	now := time.Now()
	m := mapping(`router_mapping.crashplan["tcp"]`, 3600, now.Add(50*time.Minute))
	rule := planner.Rule{Protocol: planner.TCP, Port: 4242, Sources: planner.AnySource, Comment: "netplan42:nas/crashplan"}
	f := &fake{passed: make(chan struct{}, 1), report: Report{
		Plan: &planner.Plan{RouterRestarted: "router restarted (NAT-PMP epoch 3, expected at least 900)",
			Drift: []planner.Drift{{Address: m.Address, Kind: planner.KindMapping}}},
		Applied: []planner.Change{
			{Address: m.Address, Kind: planner.KindMapping, Action: planner.Create},
			{Address: `router_mapping.ui["tcp"]`, Kind: planner.KindMapping, Action: planner.Renew},
		},
		State: planner.Prior{Resources: []planner.Managed{m, {Address: `firewall_rule.crashplan["tcp"]`, Kind: planner.KindRule, Rule: &rule}}},
	}}
	events := newLogEvents()
	// The agent logs the router restart in the middle of recording the
	// pass: slowing it down there made reading /metrics as soon as the
	// Reconciler returned fail every time (renewals 0, no managed
	// mappings), where it used to fail 2 times in 600 under load.
	events.slow = map[string]time.Duration{"router restart detected": 100 * time.Millisecond}
	a := New(Config{Interval: time.Hour, Listen: "127.0.0.1:0", Logger: slog.New(events)}, f)
	stop := runAgent(t, a, nil)
	defer stop()
	// Reconcile has returned when f.passed fires, but the agent has not
	// recorded the pass yet: wait for the pass to end.
	events.wait(t, "reconciled", 1)
	if a.Addr() == nil {
		t.Fatal("no listener after the first pass") // Run listens before it
	}
	resp, err := http.Get("http://" + a.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	for name, want := range map[string]float64{
		"netplan42_managed_mappings": 1, "netplan42_managed_rules": 1, "netplan42_router_reboots_total": 1,
		"netplan42_renewals_total": 1, "netplan42_last_reconcile_success": 1,
	} {
		fam := fams[name]
		if fam == nil || len(fam.Metric) != 1 {
			t.Errorf("%s missing", name)
			continue
		}
		mm := fam.Metric[0]
		got := mm.GetGauge().GetValue() + mm.GetCounter().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if fam := fams["netplan42_drift_repairs_total"]; fam == nil || fam.Metric[0].GetCounter().GetValue() != 1 {
		t.Errorf("drift repairs: %v", fam)
	}
	if fam := fams["netplan42_lease_remaining_seconds"]; fam == nil || fam.Metric[0].GetGauge().GetValue() < 2900 {
		t.Errorf("lease remaining: %v", fam)
	}
	if fams["process_resident_memory_bytes"] == nil {
		t.Error("no process metrics")
	}
	h, err := http.Get("http://" + a.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(h.Body)
	h.Body.Close()
	if h.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Errorf("/healthz = %d %q", h.StatusCode, b)
	}
}

func TestHealthzStalled(t *testing.T) {
	clock := time.Now()
	a := New(Config{Interval: time.Minute, BackoffMax: time.Minute, Logger: quiet, Now: func() time.Time { return clock }}, &fake{})
	a.beat.Store(clock.Add(-10 * time.Minute).UnixNano())
	rec := &recorder{header: http.Header{}}
	a.healthz(rec, nil)
	if rec.code != http.StatusServiceUnavailable {
		t.Errorf("a loop silent for 10m is healthy (%d)", rec.code)
	}
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

// counterValue reads a counter from the agent's registry.
func counterValue(t *testing.T, a *Agent, name, label, value string) float64 {
	t.Helper()
	fams, err := a.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}
