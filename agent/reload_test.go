package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stager is a Stager over one file that lists a service per line. Stage
// reports itself on staged, then waits for block to close if it is set, then
// reads the file and calls midRead, which may write the file as an editor
// finishing its save would.
type stager struct {
	path    string
	staged  chan struct{}
	block   chan struct{}
	midRead func()
	passes  chan struct{}
	cancel  func() // called by Reconcile, as a signal arriving mid-pass

	mu     sync.Mutex
	inUse  []string
	stages int
	uses   int
}

func (s *stager) Reconcile(ctx context.Context) (Report, error) {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	if s.passes != nil {
		select {
		case s.passes <- struct{}{}:
		default:
		}
	}
	return Report{}, ctx.Err()
}

func (s *stager) Release(context.Context) (Report, error) { return Report{}, nil }

func (s *stager) Reload() error {
	st, err := s.Stage()
	if err != nil {
		return err
	}
	return st.Use()
}

func (s *stager) Stage() (*Staged, error) {
	s.mu.Lock()
	s.stages++
	s.mu.Unlock()
	if s.staged != nil {
		s.staged <- struct{}{}
	}
	if s.block != nil {
		<-s.block
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	midRead := s.midRead
	s.mu.Unlock()
	if midRead != nil {
		midRead()
	}
	names := strings.Fields(string(b))
	return &Staged{Services: names, Use: func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.uses++
		s.inUse = names
		return nil
	}}, nil
}

func (s *stager) InUse() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.inUse)
}

func (s *stager) counts() (stages, uses int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stages, s.uses
}

// newStager writes services to a config file and returns a stager with
// them in use, and an agent over it whose log goes to the returned buffer.
func newStager(t *testing.T, services ...string) (*stager, *Agent, *bytes.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "main.hcl")
	write(t, path, services...)
	s := &stager{path: path, inUse: services}
	var log bytes.Buffer
	a := New(Config{Interval: time.Hour, ConfigPath: path, Logger: slog.New(slog.NewTextHandler(&log, nil))}, s)
	return s, a, &log
}

func write(t *testing.T, path string, services ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(services, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadDiscardsTornRead reads a config while the editor is still
// writing it: what was read half-way must not be used, and the full file is
// read once it has settled.
func TestReloadDiscardsTornRead(t *testing.T) {
	s, a, log := newStager(t, "a", "b", "c")
	write(t, s.path, "a")                                       // the editor has truncated the file ...
	s.midRead = func() { write(t, s.path, "a", "b", "c", "d") } // ... and finishes meanwhile
	if settle := a.reload(context.Background()); settle == nil {
		t.Error("a torn read asks for no second read")
	}
	if _, uses := s.counts(); uses != 0 || !slices.Equal(s.InUse(), []string{"a", "b", "c"}) {
		t.Fatalf("a torn read was used: %d uses, in use %v", uses, s.InUse())
	}
	if !strings.Contains(log.String(), "changed while they were read") {
		t.Errorf("log does not say why the read was thrown away:\n%s", log)
	}
	s.midRead = nil
	if settle := a.reload(context.Background()); settle != nil {
		t.Error("a settled read asks for another")
	}
	if got := s.InUse(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("in use after the settled read: %v", got)
	}
}

// TestDropNeedsTwoReads drops services: nothing changes until the same
// files give the same config twice; a transient read is never used.
func TestDropNeedsTwoReads(t *testing.T) {
	s, a, log := newStager(t, "a", "b", "c")
	ctx := context.Background()
	write(t, s.path, "a", "b")
	if a.reload(ctx) == nil {
		t.Fatal("a config that drops a service was used at the first read")
	}
	if _, uses := s.counts(); uses != 0 {
		t.Fatalf("a config that drops a service was used at the first read")
	}
	// Transient: the file is whole again at the second read.
	write(t, s.path, "a", "b", "c", "e")
	if a.reload(ctx) != nil || !slices.Equal(s.InUse(), []string{"a", "b", "c", "e"}) {
		t.Fatalf("the whole config was not used: %v", s.InUse())
	}
	// A real drop, read twice, is used, and dropping more than half is a
	// warning naming them.
	write(t, s.path, "a")
	if a.reload(ctx) == nil {
		t.Fatal("a new drop was used at its first read")
	}
	if strings.Contains(log.String(), "level=WARN") {
		t.Errorf("warned before acting:\n%s", log)
	}
	if a.reload(ctx) != nil || !slices.Equal(s.InUse(), []string{"a"}) {
		t.Fatalf("a drop read twice was not used: %v", s.InUse())
	}
	if !strings.Contains(log.String(), `level=WARN msg="the new config drops many services at once; their mappings and rules will be removed" dropped=3 before=4 after=1 services="b, c, e"`) {
		t.Errorf("no warning naming the dropped services:\n%s", log)
	}
}

func TestDropWarnings(t *testing.T) {
	many := func(n int, prefix string) []string {
		var out []string
		for i := range n {
			out = append(out, prefix+string(rune('a'+i%26))+strings.Repeat("x", i/26))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		old, new  []string
		wantWarn  bool
		wantDrops int
	}{
		{"one of four", []string{"a", "b", "c", "d"}, []string{"a", "b", "c"}, false, 1},
		{"half", []string{"a", "b", "c", "d"}, []string{"a", "b"}, false, 2},
		{"more than half", []string{"a", "b", "c", "d"}, []string{"a"}, true, 3},
		{"ten of forty", many(40, "s"), many(40, "s")[10:], true, 10},
		{"nine of forty", many(40, "s"), many(40, "s")[9:], false, 9},
		{"added only", []string{"a"}, []string{"a", "b"}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, a, log := newStager(t, tc.old...)
			write(t, s.path, tc.new...)
			a.reload(context.Background())
			a.reload(context.Background())
			if got := s.InUse(); !slices.Equal(got, tc.new) {
				t.Fatalf("in use %v, want %v", got, tc.new)
			}
			if warned := strings.Contains(log.String(), "level=WARN"); warned != tc.wantWarn {
				t.Errorf("warned = %v, want %v:\n%s", warned, tc.wantWarn, log)
			}
			if got := len(missing(tc.old, tc.new)); got != tc.wantDrops {
				t.Errorf("%d dropped, want %d", got, tc.wantDrops)
			}
		})
	}
}

// clock hands the agent's poll ticks and settle timers to the test.
type clock struct {
	poll  chan time.Time
	armed chan chan time.Time // a settle timer the agent set
}

func (c *clock) install(a *Agent) {
	c.poll = make(chan time.Time, 1)
	c.armed = make(chan chan time.Time, 1)
	a.poll = c.poll
	a.after = func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		c.armed <- ch
		return ch
	}
}

// recv returns the next value from c. The deadline is no timing
// assertion: it turns an event that never comes into a failure instead of
// a hang.
func recv[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never came", what)
		panic("unreachable")
	}
}

// TestReloadWaitsForSettle changes the config file while the agent runs:
// the change is read only once the file has held still for a whole settle
// period.
func TestReloadWaitsForSettle(t *testing.T) {
	s, a, _ := newStager(t, "a")
	s.passes = make(chan struct{}, 1)
	s.staged = make(chan struct{}, 1)
	var c clock
	c.install(a)
	stop := runAgent(t, a, nil)
	defer stop()
	recv(t, "the first pass", s.passes)

	write(t, s.path, "a", "b")
	c.poll <- time.Time{}
	settle := recv(t, "the settle timer", c.armed)
	if stages, _ := s.counts(); stages != 0 {
		t.Fatal("the config was read as soon as it changed")
	}
	write(t, s.path, "a", "b", "c") // still being written
	settle <- time.Time{}
	settle = recv(t, "a second settle timer", c.armed) // the agent waits again
	if stages, _ := s.counts(); stages != 0 {
		t.Fatal("the config was read while it was still changing")
	}
	settle <- time.Time{}
	recv(t, "the read", s.staged)
	recv(t, "the pass after the reload", s.passes)
	if got := s.InUse(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("in use after the settle: %v", got)
	}
}

// TestStopDuringReload stops the agent while it reads the config: Run must
// return without waiting for the read.
func TestStopDuringReload(t *testing.T) {
	s, a, _ := newStager(t, "a")
	s.passes = make(chan struct{}, 1)
	s.staged = make(chan struct{}, 1)
	s.block = make(chan struct{})
	defer close(s.block)
	hup := make(chan os.Signal, 1)
	stop := runAgent(t, a, hup)
	recv(t, "the first pass", s.passes)
	hup <- syscall.SIGHUP
	recv(t, "the read", s.staged)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStopDuringPass gets a signal during a pass, with a SIGHUP arriving
// at the same time: the agent stops and reads nothing more.
func TestStopDuringPass(t *testing.T) {
	for range 20 { // the loop used to pick at random among ready events
		s, a, _ := newStager(t, "a")
		ctx, cancel := context.WithCancel(context.Background())
		hup := make(chan os.Signal, 1)
		s.cancel = func() {
			hup <- syscall.SIGHUP
			cancel()
		}
		if err := a.Run(ctx, hup); err != nil {
			t.Fatal(err)
		}
		if stages, _ := s.counts(); stages != 0 {
			t.Fatalf("the config was read after a signal in the pass")
		}
	}
}

// TestLoadWaitsForSettle loads the first config while it is being written.
func TestLoadWaitsForSettle(t *testing.T) {
	s, a, _ := newStager(t)
	write(t, s.path, "a")
	s.midRead = func() { write(t, s.path, "a", "b") }
	var c clock
	c.install(a)
	done := make(chan error, 1)
	go func() { done <- a.Load(context.Background()) }()
	settle := recv(t, "the settle timer", c.armed)
	if _, uses := s.counts(); uses != 0 {
		t.Fatal("a torn first read was used")
	}
	s.mu.Lock()
	s.midRead = nil
	s.mu.Unlock()
	settle <- time.Time{}
	if err := recv(t, "the end of Load", done); err != nil {
		t.Fatal(err)
	}
	if got := s.InUse(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("in use after Load: %v", got)
	}
}

// releaser is a Reconciler whose Release lasts until its context ends.
type releaser struct {
	fake
	releasing chan struct{}
}

func (r *releaser) Release(ctx context.Context) (Report, error) {
	r.releasing <- struct{}{}
	<-ctx.Done()
	return Report{}, ctx.Err()
}

// TestAbortCutsReleaseShort sends a second signal while the agent releases
// on exit: it stops at once instead of waiting out the release.
func TestAbortCutsReleaseShort(t *testing.T) {
	abort := make(chan os.Signal, 1)
	r := &releaser{fake: fake{passed: make(chan struct{}, 1)}, releasing: make(chan struct{}, 1)}
	a := New(Config{Interval: time.Hour, ReleaseOnExit: true, Abort: abort, Logger: quiet}, r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	recv(t, "the first pass", r.passed)
	cancel()
	recv(t, "the release", r.releasing)
	abort <- os.Interrupt
	if err := recv(t, "the end of Run", done); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after a cut-short release = %v; want it to say so", err)
	}
}
