package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
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

// A Stager is a Reconciler that can read a config without taking it into
// use. With one, the agent takes a config into use only when its files held
// still while they were read, and a config that drops services only once it
// has read the same files twice; see Run.
type Stager interface {
	Reconciler
	// Stage reads the config. It must not change what is in use: the
	// agent may abandon a Stage that is still running when it stops.
	Stage() (*Staged, error)
	// InUse names the services of the config in use.
	InUse() []string
}

// Staged is a config read by Stage, not yet in use.
type Staged struct {
	// Services names the services the config manages on this computer.
	Services []string
	// Use takes the config into use. It returns ErrUnsettled when it had
	// to read the files again and found them changed.
	Use func() error
}

// ErrUnsettled means the config files changed while they were read, so what
// was read may be half of an edit; the agent reads them again once they
// have settled.
var ErrUnsettled = errors.New("the config files changed while they were read")

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
	// Abort, when it delivers, cuts short the release on exit: a second
	// SIGINT or SIGTERM from an admin who will not wait.
	Abort <-chan os.Signal
	// ConfigPath is polled for changes (a file, or a directory of *.hcl);
	// empty disables the watch.
	ConfigPath string
	// Files lists every file the config is read from: config, var and
	// lock files. Default: ConfigPath, or the *.hcl files in it.
	Files func() []string
	// Settle is how long the files must stay unchanged (names, sizes,
	// times and contents) before a change is read; default 1s.
	Settle time.Duration
	Logger *slog.Logger
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
	stamp   string       // config files' fingerprint when last polled
	loaded  bool         // Load set stamp to the fingerprint it read
	backoff time.Duration
	addr    atomic.Value // net.Addr the HTTP server listens on

	// settleFP is the files' fingerprint when the settle timer was set;
	// dropFP that of a config that drops services, read once and held.
	settleFP, dropFP string

	// Tests replace the poll ticker and the settle timer.
	poll  <-chan time.Time
	after func(time.Duration) <-chan time.Time
}

// pollEvery is how often the config files are checked for changes.
const pollEvery = 2 * time.Second

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
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	if cfg.Files == nil {
		path := cfg.ConfigPath
		cfg.Files = func() []string { return configFiles(path) }
	}
	return &Agent{cfg: cfg, r: r, log: cfg.Logger, metrics: newMetrics(), after: time.After}
}

// Addr returns the address the HTTP server listens on, once it does.
func (a *Agent) Addr() net.Addr {
	v, _ := a.addr.Load().(net.Addr)
	return v
}

// Run reconciles until ctx ends; hup delivers reload requests (SIGHUP).
// With ReleaseOnExit it then removes what it made, with its own deadline.
//
// A change to the config files is read once they have held still for
// Settle. With a Stager, the files' fingerprint is taken again after the
// read, and a config read while they changed is thrown away and read again
// once they settle: an editor or a git checkout half way through is never
// applied. A config that drops services from the one in use is taken into
// use only when the same files give it twice, a Settle apart, and one that
// drops many is logged as a warning naming them.
func (a *Agent) Run(ctx context.Context, hup <-chan os.Signal) error {
	if a.cfg.Listen != "" {
		srv, err := a.serve()
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if !a.loaded {
		a.stamp = a.fingerprint()
	} // else a change since Load's read is still to be seen
	poll := a.poll
	if poll == nil {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		poll = t.C
	}
	var settle <-chan time.Time // set while waiting for the files to hold still
	timer := time.NewTimer(0)
	defer timer.Stop()
	a.log.Info("agent started", "interval", a.cfg.Interval.String(), "listen", a.cfg.Listen, "release_on_exit", a.cfg.ReleaseOnExit)
	for {
		a.beat.Store(a.cfg.Now().UnixNano())
		// A signal during a pass or a read ends the loop here, before
		// anything else that is ready runs.
		if ctx.Err() != nil {
			return a.stop()
		}
		select {
		case <-ctx.Done():
			return a.stop()
		case <-hup:
			a.log.Info("reloading the config", "cause", "SIGHUP")
			settle = a.reload(ctx)
			timer.Reset(0)
		case <-poll:
			if s := a.fingerprint(); s != a.stamp {
				a.stamp = s
				if settle == nil {
					a.log.Debug("config files changed; waiting for them to settle", "settle", a.cfg.Settle.String())
					settle = a.waitSettle(s)
				}
			}
		case <-settle:
			settle = nil
			if s := a.fingerprint(); s != a.settleFP {
				a.stamp = s
				settle = a.waitSettle(s)
				continue
			}
			a.log.Info("reloading the config", "cause", "files changed")
			settle = a.reload(ctx)
			timer.Reset(0)
		case <-timer.C:
			timer.Reset(a.pass(ctx))
		}
	}
}

// waitSettle starts the settle timer for files whose fingerprint is fp.
func (a *Agent) waitSettle(fp string) <-chan time.Time {
	a.settleFP = fp
	return a.after(a.cfg.Settle)
}

// Load reads the first config and takes it into use, checked as a reload
// is; while the files change it waits for them to settle. Unlike a reload it
// returns the config's errors: there is no last good config to keep. A
// Reconciler that is not a Stager is loaded with Reload.
func (a *Agent) Load(ctx context.Context) error {
	s, ok := a.r.(Stager)
	if !ok {
		return a.r.Reload()
	}
	for {
		st, fp, err := a.read(ctx, s)
		if err == nil {
			if err = st.Use(); err == nil {
				a.stamp, a.loaded = fp, true
				return nil
			}
		}
		if !errors.Is(err, ErrUnsettled) {
			return err
		}
		a.log.Info("config files changed while they were read; reading them again once they settle", "settle", a.cfg.Settle.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.after(a.cfg.Settle):
		}
	}
}

// read stages the config between two fingerprints of its files, and returns
// it with the fingerprint; ErrUnsettled when the two differ, whatever Stage
// said (a half-written file is often a syntax error). A Stage still running
// when ctx ends is abandoned.
func (a *Agent) read(ctx context.Context, s Stager) (*Staged, string, error) {
	before := a.fingerprint()
	type staged struct {
		st  *Staged
		err error
	}
	c := make(chan staged, 1)
	go func() {
		st, err := s.Stage()
		c <- staged{st, err}
	}()
	var r staged
	select {
	case r = <-c:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	if after := a.fingerprint(); after != before {
		return nil, after, ErrUnsettled
	}
	return r.st, before, r.err
}

// reload reads the config again and takes it into use when it is whole; on
// errors the last good one stays. It returns a settle timer when the files
// must be read again once they hold still, else nil.
func (a *Agent) reload(ctx context.Context) <-chan time.Time {
	s, ok := a.r.(Stager)
	if !ok {
		before := a.fingerprint()
		err := a.r.Reload()
		if after := a.fingerprint(); after != before {
			a.log.Info("config files changed while they were read; reading them again once they settle", "settle", a.cfg.Settle.String())
			return a.waitSettle(after)
		}
		a.reloaded(err)
		return nil
	}
	st, fp, err := a.read(ctx, s)
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, ErrUnsettled):
		a.log.Info("config files changed while they were read; reading them again once they settle", "settle", a.cfg.Settle.String())
		return a.waitSettle(fp)
	case err != nil:
		a.reloaded(err)
		return nil
	}
	inUse := s.InUse()
	dropped := missing(inUse, st.Services)
	if len(dropped) > 0 && fp != a.dropFP {
		// Dropping services removes their mappings and rules: act only
		// on a config read twice from the same files.
		a.dropFP = fp
		a.log.Info("the new config drops services; reading it again before acting on it",
			"dropped", len(dropped), "services", strings.Join(dropped, ", "), "settle", a.cfg.Settle.String())
		return a.waitSettle(fp)
	}
	a.dropFP = ""
	if len(dropped) > 0 && (len(dropped) >= manyDropped || 2*len(dropped) > len(inUse)) {
		a.log.Warn("the new config drops many services at once; their mappings and rules will be removed",
			"dropped", len(dropped), "before", len(inUse), "after", len(st.Services), "services", strings.Join(dropped, ", "))
	}
	err = st.Use()
	if errors.Is(err, ErrUnsettled) {
		a.log.Info("config files changed while they were read; reading them again once they settle", "settle", a.cfg.Settle.String())
		return a.waitSettle(a.fingerprint())
	}
	a.reloaded(err)
	return nil
}

// manyDropped is how many dropped services make a warning whatever the
// config had; dropping more than half of them does too.
const manyDropped = 10

// reloaded logs and counts the outcome of a reload.
func (a *Agent) reloaded(err error) {
	if err != nil {
		a.metrics.errors.WithLabelValues(KindConfig).Inc()
		a.log.Error("config has errors; keeping the last good config", "diagnostics", err.Error())
		return
	}
	a.metrics.reloads.Inc()
	a.log.Info("config reloaded")
}

// missing returns the names in old that are not in new, sorted.
func missing(old, new []string) []string {
	var out []string
	for _, n := range old {
		if !slices.Contains(new, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
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
		var lease uint32
		switch {
		case r.Mapping != nil:
			lease = r.Mapping.LeaseSeconds
		case r.Pinhole != nil:
			lease = r.Pinhole.LeaseSeconds
		}
		if lease == 0 || r.Expires.IsZero() {
			continue
		}
		half := r.Expires.Add(-time.Duration(lease) * time.Second / 2)
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
	if a.cfg.Abort != nil {
		go func() {
			select {
			case <-a.cfg.Abort:
				a.log.Warn("stopping at once: the release is cut short, and what it did not remove stays")
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	rep, err := a.r.Release(ctx)
	a.record(rep, err, a.cfg.Now())
	if err != nil {
		a.log.Error("release failed", "kind", KindOf(err), "error", err.Error())
		return fmt.Errorf("releasing on exit: %w", err)
	}
	a.log.Info("released", "changes", len(rep.Applied))
	return nil
}

// maxFingerprinted bounds how much of one file the fingerprint reads: the
// configuration loader refuses larger files anyway.
const maxFingerprinted = 64 << 20

// fingerprint identifies the contents of the config files, for noticing
// changes: each file's name, size, modification time and SHA-256. Files
// that are not regular (a FIFO, a device) are named with their type and not
// read, so the fingerprint never blocks; the loader reports them.
func (a *Agent) fingerprint() string {
	files := a.cfg.Files()
	if len(files) == 0 {
		return ""
	}
	files = slices.Clone(files)
	slices.Sort(files)
	files = slices.Compact(files)
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s %s\n", f, fileFingerprint(f))
	}
	return b.String()
}

func fileFingerprint(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "absent"
	}
	if !fi.Mode().IsRegular() {
		return fi.Mode().Type().String()
	}
	// O_NONBLOCK: the file may have become a FIFO since the Stat.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "unreadable"
	}
	defer fh.Close()
	if fi, err = fh.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "changing"
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(fh, maxFingerprinted))
	if err != nil {
		return "unreadable"
	}
	return fmt.Sprintf("%d %d %d %x", fi.Size(), fi.ModTime().UnixNano(), n, h.Sum(nil))
}

// configFiles is the default Config.Files: path, or the *.hcl files in it.
func configFiles(path string) []string {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		files, _ := filepath.Glob(filepath.Join(path, "*.hcl"))
		return files
	}
	return []string{path}
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
