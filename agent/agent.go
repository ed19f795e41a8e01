package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// Reconciler makes one computer match its config. The CLI implements it
// with the real drivers; tests with a fake.
type Reconciler interface {
	// Reconcile observes, plans and applies what changed.
	Reconcile(ctx context.Context) (Report, error)
	// Release removes everything netplan42 made (destroy).
	Release(ctx context.Context) (Report, error)
	// Reload reads the config again; on error the last good one stays.
	Reload() error
}

// Report is what one pass found and did.
type Report struct {
	Plan *planner.Plan // nil when planning failed early
	// Applied lists the changes carried out (no no-ops).
	Applied []planner.Change
	// State is the state after the pass: what is managed now.
	State planner.Prior
}

// Error kinds, for the errors metric and backoff.
const (
	KindConfig   = "config"
	KindRouter   = "router"
	KindFirewall = "firewall"
	KindState    = "state"
	KindLock     = "lock"
	KindPlan     = "plan"
	KindApply    = "apply"
)

// Error is a failed pass, with its kind.
type Error struct {
	Kind string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a pass error ("apply" when unknown).
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindApply
}

// Config tunes the loop.
type Config struct {
	Interval      time.Duration // between passes; default 60s
	Listen        string        // metrics and healthz address; "" serves nothing
	ReleaseOnExit bool
	// ConfigPath is polled for changes (a file, or a directory of *.hcl);
	// empty disables the watch.
	ConfigPath string
	Logger     *slog.Logger
	// BackoffMin and BackoffMax bound the retry delay after errors;
	// defaults 5s and 5m (never more than... the cap).
	BackoffMin, BackoffMax time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Agent runs the loop.
type Agent struct {
	cfg     Config
	r       Reconciler
	log     *slog.Logger
	metrics *metrics
	beat    atomic.Int64 // unix nanos of the loop's last wake, for /healthz
	stamp   string       // config files' fingerprint
	backoff time.Duration
	addr    atomic.Value // net.Addr the HTTP server listens on
}

// New makes an agent; Run starts it.
func New(cfg Config, r Reconciler) *Agent {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 5 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Agent{cfg: cfg, r: r, log: cfg.Logger, metrics: newMetrics()}
}

// Addr returns the address the HTTP server listens on, once it does.
func (a *Agent) Addr() net.Addr {
	v, _ := a.addr.Load().(net.Addr)
	return v
}

// Run reconciles until ctx ends; hup delivers reload requests (SIGHUP).
// With ReleaseOnExit it then removes what it made, with its own deadline.
func (a *Agent) Run(ctx context.Context, hup <-chan os.Signal) error {
	if a.cfg.Listen != "" {
		srv, err := a.serve()
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	a.stamp = configStamp(a.cfg.ConfigPath)
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	a.log.Info("agent started", "interval", a.cfg.Interval.String(), "listen", a.cfg.Listen, "release_on_exit", a.cfg.ReleaseOnExit)
	for {
		a.beat.Store(a.cfg.Now().UnixNano())
		select {
		case <-ctx.Done():
			return a.stop()
		case <-hup:
			a.log.Info("reloading the config", "cause", "SIGHUP")
			a.reload()
			timer.Reset(0)
		case <-poll.C:
			if s := configStamp(a.cfg.ConfigPath); s != a.stamp {
				a.stamp = s
				a.log.Info("reloading the config", "cause", "files changed")
				a.reload()
				timer.Reset(0)
			}
		case <-timer.C:
			timer.Reset(a.pass(ctx))
		}
	}
}

func (a *Agent) reload() {
	if err := a.r.Reload(); err != nil {
		a.metrics.errors.WithLabelValues(KindConfig).Inc()
		a.log.Error("config has errors; keeping the last good config", "diagnostics", err.Error())
		return
	}
	a.metrics.reloads.Inc()
	a.log.Info("config reloaded")
}

// pass runs one reconcile and returns how long to wait for the next.
func (a *Agent) pass(ctx context.Context) time.Duration {
	start := a.cfg.Now()
	rep, err := a.r.Reconcile(ctx)
	a.record(rep, err, start)
	if err != nil {
		if ctx.Err() != nil {
			return a.cfg.Interval
		}
		a.backoff = min(max(a.backoff*2, a.cfg.BackoffMin), a.cfg.BackoffMax)
		// Never sleep past a lease's renewal point: a short lease must
		// not lapse because an unrelated error backed the loop off.
		wait := min(a.backoff, max(nextWake(rep.State, a.cfg.Now(), a.cfg.Interval), a.cfg.BackoffMin))
		a.log.Error("reconcile failed", "kind", KindOf(err), "error", err.Error(), "retry_in", wait.String())
		return wait
	}
	a.backoff = 0
	wait := nextWake(rep.State, a.cfg.Now(), a.cfg.Interval)
	a.log.Debug("reconciled", "changes", len(rep.Applied), "next_in", wait.String())
	return wait
}

// nextWake is the interval, or less when a lease reaches half its lifetime
// sooner: the planner renews once less than half is left, so waking just
// after that point renews it with half the lease still to spare.
func nextWake(st planner.Prior, now time.Time, interval time.Duration) time.Duration {
	wait := interval
	for _, r := range st.Resources {
		if r.Mapping == nil || r.Mapping.LeaseSeconds == 0 || r.Expires.IsZero() {
			continue
		}
		half := r.Expires.Add(-time.Duration(r.Mapping.LeaseSeconds) * time.Second / 2)
		if d := half.Sub(now) + time.Second; d < wait {
			wait = max(d, time.Second)
		}
	}
	return wait
}

func (a *Agent) stop() error {
	if !a.cfg.ReleaseOnExit {
		a.log.Info("agent stopped; mappings and rules stay in place")
		return nil
	}
	a.log.Info("agent stopping; releasing mappings and rules")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := a.r.Release(ctx)
	a.record(rep, err, a.cfg.Now())
	if err != nil {
		a.log.Error("release failed", "kind", KindOf(err), "error", err.Error())
		return fmt.Errorf("releasing on exit: %w", err)
	}
	a.log.Info("released", "changes", len(rep.Applied))
	return nil
}

// configStamp fingerprints the config files by name, size and mtime:
// cheap to poll, and editors that replace files are seen too.
func configStamp(path string) string {
	if path == "" {
		return ""
	}
	files := []string{path}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.hcl"))
	}
	slices.Sort(files)
	var b strings.Builder
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (a *Agent) serve() (*http.Server, error) {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("agent: listening on %s for /metrics: %w", a.cfg.Listen, err)
	}
	a.addr.Store(ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.metrics.handler())
	mux.HandleFunc("/healthz", a.healthz)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// healthz is liveness: the loop woke recently. A failing router is not a
// dead agent (that is what the error metrics are for).
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	last := time.Unix(0, a.beat.Load())
	limit := 3*a.cfg.Interval + a.cfg.BackoffMax
	if age := a.cfg.Now().Sub(last); age > limit {
		http.Error(w, fmt.Sprintf("loop stalled: last woke %s ago", age.Round(time.Second)), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}
