package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ErrPermission is wrapped by errors from firewall tools that were refused
// for want of privilege.
var ErrPermission = errors.New("permission denied: run as root or with CAP_NET_ADMIN")

// runFunc runs a command with stdin (nil for none) and returns its standard
// output. It is a field of each backend so tests can replace the machine.
type runFunc func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)

const (
	// cmdTimeout bounds one firewall command when ctx has no deadline: a
	// hung xtables lock must not hang an apply forever.
	cmdTimeout = 30 * time.Second
	// maxOutput bounds what we read from a listing command.
	maxOutput = 64 << 20
)

// machineRun is execRun, except for two listings every plan with the
// iptables backend makes, answered as their tools would without starting
// them (each start costs milliseconds of CPU, taken from the router's
// listing when the lab's router shares the machine):
//   - iptables-legacy-save and ip6tables-legacy-save answer empty when
//     the kernel holds no legacy table of their family in this network
//     namespace: they list the tables named in the same /proc file and
//     print nothing then. Most machines with both variants never use
//     legacy.
//   - `nft -j list chains` is answered over netlink (inProcess).
func machineRun(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if stdin == nil && len(args) == 0 && noLegacyTables(os.ReadFile, name) {
		return nil, nil
	}
	if stdin == nil {
		if out, ok := inProcess(name, args); ok {
			return out, nil
		}
	}
	return execRun(ctx, stdin, name, args...)
}

// noLegacyTables reports whether name is a legacy save tool whose tables
// file (read with readFile) is missing or names no table; any other
// answer, a refused read too, leaves it to the tool.
func noLegacyTables(readFile func(string) ([]byte, error), name string) bool {
	file := map[string]string{
		"iptables-legacy-save":  "/proc/net/ip_tables_names",
		"ip6tables-legacy-save": "/proc/net/ip6_tables_names",
	}[name]
	if file == "" {
		return false
	}
	b, err := readFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return true // the module is not loaded: the tool prints nothing
	}
	return err == nil && len(bytes.TrimSpace(b)) == 0
}

// execRun runs the command on this machine.
func execRun(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	stdout := &limitedBuffer{max: maxOutput}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	err := cmd.Run()
	if err == nil && stdout.over {
		err = fmt.Errorf("output larger than %d bytes", maxOutput)
	}
	if err != nil {
		return stdout.Bytes(), &cmdError{cmd: commandLine(name, args), stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.Bytes(), nil
}

func commandLine(name string, args []string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

// cmdError is a failed firewall command with its standard error.
type cmdError struct {
	cmd    string
	stderr string
	err    error
}

func (e *cmdError) Error() string {
	msg := e.cmd + ": " + e.err.Error()
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	if e.permission() {
		msg += " (run as root or with CAP_NET_ADMIN)"
	}
	return msg
}

func (e *cmdError) Unwrap() []error {
	if e.permission() {
		return []error{e.err, ErrPermission}
	}
	return []error{e.err}
}

func (e *cmdError) permission() bool {
	s := strings.ToLower(e.stderr)
	return strings.Contains(s, "permission denied") || strings.Contains(s, "operation not permitted") ||
		strings.Contains(s, "must be root")
}

type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// prefetch runs listings together at open that an observe right after
// would otherwise run one after another (iptables-save for each family
// and variant, nft's listings): a plan then waits for the slowest tool,
// not for their sum. A listing started here answers every read of it until
// stop, which Observe and Sync call: a later read (apply's, after the user
// confirmed) runs afresh.
type prefetch struct {
	run     runFunc
	ctx     context.Context // the listings', ended by stop
	cancel  context.CancelFunc
	mu      sync.Mutex
	fetches map[string]*fetch // by command line
}

type fetch struct {
	done chan struct{}
	out  []byte
	err  error
}

func newPrefetch(ctx context.Context, run runFunc) *prefetch {
	ctx, cancel := context.WithCancel(ctx)
	return &prefetch{run: run, ctx: ctx, cancel: cancel, fetches: map[string]*fetch{}}
}

// start runs the listing in the background, unless it runs already.
func (p *prefetch) start(name string, args ...string) {
	cmd := commandLine(name, args)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fetches == nil || p.fetches[cmd] != nil {
		return
	}
	f := &fetch{done: make(chan struct{})}
	p.fetches[cmd] = f
	go func() {
		defer close(f.done)
		f.out, f.err = p.run(p.ctx, nil, name, args...)
	}()
}

// runFunc reads through the prefetched listings: a command started (and
// not stopped) answers from its result; anything else, and anything with
// input, runs.
func (p *prefetch) runFunc(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if stdin == nil {
		p.mu.Lock()
		f := p.fetches[commandLine(name, args)]
		p.mu.Unlock()
		if f != nil {
			select {
			case <-f.done:
				return f.out, f.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return p.run(ctx, stdin, name, args...)
}

// stop makes every later read run afresh, and ends listings still in
// flight that nobody read (an open that failed, a variant not taken).
func (p *prefetch) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.fetches = nil
	p.mu.Unlock()
	p.cancel()
}
