//go:build linux

package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Spec describes a lab network: a router running miniupnpd, LAN hosts on a
// bridge in the router, and an "internet" host on the router's WAN.
type Spec struct {
	// Hosts is the number of LAN hosts (192.0.2.10, .11, …); 0 means 1.
	Hosts int
	// NoUPnP and NoNATPMP switch miniupnpd's protocols off.
	NoUPnP   bool
	NoNATPMP bool
	// IGDv1 makes miniupnpd announce IGD v1 only (its -1 flag).
	IGDv1 bool
	// WAN is the router's WAN address; zero means 11.0.0.1/24. miniupnpd
	// refuses every mapping when it is reserved (100.64.0.1/10: CGNAT).
	WAN netip.Prefix
	// CleanInterval is miniupnpd's clean_ruleset_interval in seconds; 0
	// means 600.
	CleanInterval int
	// NoDaemon leaves miniupnpd off: a router that forwards but answers
	// neither UPnP nor NAT-PMP (miniupnpd refuses to run with both off).
	NoDaemon bool
	// HTTPPort is miniupnpd's HTTP port; 0 lets it choose.
	HTTPPort int
	// SecureModeOff runs miniupnpd with secure_mode=no, as many consumer
	// routers do: any LAN host may map a port to another host's address.
	SecureModeOff bool
	// Name, when set, makes a persistent lab with fixed namespace names
	// Name+"-router", Name+"-internet", Name+"-host1", …, which Sweep leaves
	// alone (use PersistentPrefix). Empty: namespaces from NewNamespace,
	// swept when this process is gone.
	Name string
	// Dir holds the lab's config, log, pid and lease files; empty means a
	// new temporary directory, removed by Close.
	Dir string
	// IPv6 makes the lab dual-stack (see ipv6.go): LAN 2001:db8:1::/64,
	// WAN 2001:db8:ff::/64, miniupnpd serving IPv6 (pinholes, PCP over
	// IPv6) and a router that forwards inbound IPv6 only through pinholes.
	IPv6 bool
}

// tempPrefix names the temporary directories of labs (config, log, pid
// and lease files); Require sweeps those of dead processes.
const tempPrefix = "netplan42-lab"

// PersistentPrefix starts the names of labs meant to outlive the process
// that made them (cmd/netplan42-lab). It differs from Prefix, so Sweep never
// deletes them.
const PersistentPrefix = "np42lab-"

// Fixed addresses of the lab.
var (
	RouterLAN  = netip.MustParseAddr("192.0.2.1")
	LANPrefix  = netip.MustParsePrefix("192.0.2.0/24")
	DefaultWAN = netip.MustParsePrefix("11.0.0.1/24")
	// CGNATWAN is a WAN address in RFC 6598 shared space, for the CGNAT
	// scenario: miniupnpd answers but refuses every mapping.
	CGNATWAN = netip.MustParsePrefix("100.64.0.1/10")
)

// HostAddr returns the address of LAN host i (1-based): 192.0.2.(9+i).
func HostAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{192, 0, 2, byte(9 + i)})
}

// Lab is a running lab network.
type Lab struct {
	Spec Spec

	router   *Namespace
	internet *Namespace
	hosts    []*Namespace

	dir     string
	tempDir bool
	wan     netip.Prefix
	inet    netip.Addr

	mu      sync.Mutex
	cmd     *exec.Cmd // miniupnpd, when this process started it
	pid     int
	logPath string
	closed  bool
}

// record is what a persistent lab writes to Dir/lab.json so another process
// (`netplan42-lab down`) can find and remove everything.
type record struct {
	Spec       Spec     `json:"spec"`
	Namespaces []string `json:"namespaces"`
	PID        int      `json:"miniupnpd_pid"`
	Dir        string   `json:"dir"`
}

// Start builds the lab described by spec and starts miniupnpd; it returns
// when miniupnpd is ready. On error everything made so far is removed.
func Start(ctx context.Context, spec Spec) (l *Lab, err error) {
	if spec.Hosts <= 0 {
		spec.Hosts = 1
	}
	if spec.Hosts > 200 {
		return nil, fmt.Errorf("lab: %d hosts is too many", spec.Hosts)
	}
	if !spec.WAN.IsValid() {
		spec.WAN = DefaultWAN
	}
	if spec.CleanInterval == 0 {
		spec.CleanInterval = 600
	}
	l = &Lab{Spec: spec, wan: spec.WAN}
	l.inet = internetAddr(spec.WAN)
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if spec.Dir == "" {
		if l.dir, err = MkdirTemp(tempPrefix); err != nil {
			return l, err
		}
		l.tempDir = true
	} else {
		l.dir = spec.Dir
		if err = os.MkdirAll(l.dir, 0o755); err != nil {
			return l, err
		}
	}
	newNS := func(role string) (*Namespace, error) {
		if spec.Name == "" {
			return newNamespace(ctx, role)
		}
		return namedNamespace(ctx, spec.Name+"-"+role)
	}
	if l.router, err = newNS("router"); err != nil {
		return l, err
	}
	if l.internet, err = newNS("internet"); err != nil {
		return l, err
	}
	for i := 1; i <= spec.Hosts; i++ {
		h, err := newNS(fmt.Sprintf("host%d", i))
		if err != nil {
			return l, err
		}
		l.hosts = append(l.hosts, h)
	}
	if spec.Name != "" {
		if err = l.writeRecord(); err != nil {
			return l, err
		}
	}
	if err = l.wire(ctx); err != nil {
		return l, err
	}
	if !spec.NoDaemon {
		if err = l.startRouter(ctx); err != nil {
			return l, err
		}
	}
	if spec.Name != "" {
		err = l.writeRecord()
	}
	return l, err
}

// Attempts and AttemptTimeout bound StartRetry: a lab that is not up
// within AttemptTimeout is removed and built again, at most Attempts times.
// A busy 2-core machine builds a lab in 1 to 5 seconds; a stuck step
// (StepTimeout) or a miniupnpd that never gets ready fails an attempt.
var (
	Attempts       = 3
	AttemptTimeout = 60 * time.Second
)

// StartRetry is Start, tried again when an attempt fails or takes longer
// than AttemptTimeout, at most Attempts times; logf hears about each
// failed attempt. Every failed attempt removes what it made.
func StartRetry(ctx context.Context, spec Spec, logf func(format string, args ...any)) (*Lab, error) {
	for i := 1; ; i++ {
		actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
		start := time.Now()
		l, err := Start(actx, spec)
		cancel()
		if err == nil {
			return l, nil
		}
		if i >= Attempts || ctx.Err() != nil {
			return nil, fmt.Errorf("lab: set-up failed %d time(s), last after %s: %w", i, time.Since(start).Round(time.Millisecond), err)
		}
		logf("lab: set-up attempt %d failed after %s, trying again: %v", i, time.Since(start).Round(time.Millisecond), err)
	}
}

// StartT is StartRetry for tests: it fails t when every attempt failed,
// and closes the lab when the test ends, also when it fails.
func StartT(t testing.TB, spec Spec) *Lab {
	t.Helper()
	l, err := StartRetry(context.Background(), spec, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// internetAddr returns the internet host's address: the router's WAN
// address with its last byte set to 254.
func internetAddr(wan netip.Prefix) netip.Addr {
	a := wan.Addr().As4()
	a[3] = 254
	return netip.AddrFrom4(a)
}

// wire creates links, addresses, routes and miniupnpd's chains. Every
// command runs inside a lab namespace; veths are created directly in them.
func (l *Lab) wire(ctx context.Context) error {
	r := l.router
	if l.Spec.IPv6 {
		// Before any link exists, so every interface inherits it.
		if err := l.noDAD(ctx); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "link", "set", "br0", "up"},
		{"ip", "addr", "add", netip.PrefixFrom(RouterLAN, 24).String(), "dev", "br0"},
	}
	if err := runAll(ctx, r, steps); err != nil {
		return err
	}
	if err := veth(ctx, r, "wan0", l.internet, "eth0"); err != nil {
		return err
	}
	for i, h := range l.hosts {
		lan := fmt.Sprintf("lan%d", i+1)
		if err := veth(ctx, r, lan, h, "eth0"); err != nil {
			return err
		}
		if err := runAll(ctx, r, [][]string{{"ip", "link", "set", lan, "master", "br0"}}); err != nil {
			return err
		}
		if err := runAll(ctx, h, [][]string{
			{"ip", "addr", "add", netip.PrefixFrom(HostAddr(i+1), 24).String(), "dev", "eth0"},
			{"ip", "route", "add", "default", "via", RouterLAN.String()},
		}); err != nil {
			return err
		}
	}
	if err := runAll(ctx, l.internet, [][]string{
		{"ip", "addr", "add", netip.PrefixFrom(l.inet, l.wan.Bits()).String(), "dev", "eth0"},
	}); err != nil {
		return err
	}
	if err := runAll(ctx, r, [][]string{
		{"ip", "addr", "add", l.wan.String(), "dev", "wan0"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}); err != nil {
		return err
	}
	if l.Spec.IPv6 {
		if err := l.wire6(ctx); err != nil {
			return err
		}
	}
	return l.createChains(ctx)
}

// createChains makes the iptables-legacy chains miniupnpd (libiptc) needs,
// in the router namespace; it tolerates chains that exist.
func (l *Lab) createChains(ctx context.Context) error {
	for _, c := range [][3]string{
		{"nat", "MINIUPNPD", "PREROUTING -i wan0"},
		{"nat", "MINIUPNPD-POSTROUTING", "POSTROUTING -o wan0"},
		{"filter", "MINIUPNPD", "FORWARD -i wan0 ! -o wan0"},
		{"mangle", "MINIUPNPD", "PREROUTING -i wan0"},
	} {
		if err := runAll(ctx, l.router, [][]string{{"iptables-legacy", "-t", c[0], "-N", c[1]}}); err != nil && !strings.Contains(err.Error(), "exists") {
			return err
		}
		hook := strings.Fields(c[2])
		check := append([]string{"iptables-legacy", "-t", c[0], "-C"}, append(hook, "-j", c[1])...)
		if err := runAll(ctx, l.router, [][]string{check}); err == nil {
			continue
		}
		ins := append([]string{"iptables-legacy", "-t", c[0], "-I"}, append(hook, "-j", c[1])...)
		if err := runAll(ctx, l.router, [][]string{ins}); err != nil {
			return err
		}
	}
	if l.Spec.IPv6 {
		return l.createChains6(ctx)
	}
	return nil
}

// flushChains empties miniupnpd's chains: the mappings are gone.
func (l *Lab) flushChains(ctx context.Context) error {
	if l.Spec.IPv6 {
		if err := runAll(ctx, l.router, [][]string{{"ip6tables-legacy", "-F", "MINIUPNPD"}}); err != nil {
			return err
		}
	}
	for _, c := range [][2]string{{"nat", "MINIUPNPD"}, {"nat", "MINIUPNPD-POSTROUTING"}, {"filter", "MINIUPNPD"}, {"mangle", "MINIUPNPD"}} {
		if err := runAll(ctx, l.router, [][]string{{"iptables-legacy", "-t", c[0], "-F", c[1]}}); err != nil {
			return err
		}
	}
	return nil
}

// runAll runs set-up steps in ns, each bounded by StepTimeout.
func runAll(ctx context.Context, ns *Namespace, steps [][]string) error {
	for _, s := range steps {
		sctx, cancel := context.WithTimeout(ctx, StepTimeout)
		_, err := ns.Run(sctx, s[0], s[1:]...)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) config() string {
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by netplan42's lab\n")
	fmt.Fprintf(&b, "ext_ifname=wan0\nlistening_ip=br0\n")
	if l.Spec.IPv6 {
		fmt.Fprintf(&b, "ext_ifname6=wan0\n")
	}
	fmt.Fprintf(&b, "port=%d\n", l.Spec.HTTPPort)
	fmt.Fprintf(&b, "enable_upnp=%s\nenable_natpmp=%s\n", yn(!l.Spec.NoUPnP), yn(!l.Spec.NoNATPMP))
	fmt.Fprintf(&b, "secure_mode=%s\nsystem_uptime=no\nnotify_interval=60\n", yn(!l.Spec.SecureModeOff))
	fmt.Fprintf(&b, "clean_ruleset_interval=%d\n", l.Spec.CleanInterval)
	fmt.Fprintf(&b, "lease_file=%s\n", filepath.Join(l.dir, "upnp.leases"))
	fmt.Fprintf(&b, "uuid=3e5a1b2c-4d6e-4f70-8a9b-0c1d2e3f4a5b\n")
	fmt.Fprintf(&b, "allow 1024-65535 %s 1024-65535\n", LANPrefix)
	fmt.Fprintf(&b, "deny 0-65535 0.0.0.0/0 0-65535\n")
	return b.String()
}

// readyNATPMP is what miniupnpd 2.3.1 logs when it serves NAT-PMP, the last
// line of its start-up; with NAT-PMP off, the HTTP line is the last one.
// Dual-stack, the HTTP line is followed by the one naming the IPv6 URL.
const (
	readyNATPMP = "Listening for NAT-PMP/PCP traffic on port 5351"
	readyHTTP   = "HTTP listening on port"
	readyHTTP6  = "HTTP IPv6 address given to control points"
)

// quietSyslog, run by sh in the router's mount namespace before miniupnpd,
// keeps miniupnpd's syslog off the host: a failed mount leaves the host's
// console or journal as it was, and miniupnpd starts all the same.
const quietSyslog = `for f in /dev/console /dev/log; do [ -e "$f" ] && mount --bind /dev/null "$f" 2>/dev/null; done; `

// routerNice is miniupnpd's scheduling priority (nice value).
const routerNice = -10

// startRouter writes the config and starts miniupnpd in the foreground in
// the router namespace, in a session of its own so a persistent lab outlives
// the command that started it.
func (l *Lab) startRouter(ctx context.Context) error {
	conf := filepath.Join(l.dir, "miniupnpd.conf")
	if err := os.WriteFile(conf, []byte(l.config()), 0o644); err != nil {
		return err
	}
	l.logPath = filepath.Join(l.dir, "miniupnpd.log")
	logf, err := os.OpenFile(l.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	start, _ := logf.Seek(0, 2)
	args := []string{"-f", conf, "-d", "-P", filepath.Join(l.dir, "miniupnpd.pid")}
	if !l.Spec.IPv6 {
		args = append(args, "-4")
	}
	if l.Spec.IGDv1 {
		args = append(args, "-1")
	}
	// miniupnpd logs through syslog(3) with LOG_CONS: without a /dev/log
	// every line went to the machine's console (about 1.3 ms each, which
	// made the lab's router several times slower than miniupnpd is), and
	// with one to the machine's journal. Both are the host's. `ip netns
	// exec` runs it in a mount namespace of its own, where /dev/null is
	// bound over both: each line goes only to stderr (-d), the lab's log.
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.router.Name, "sh", "-c", quietSyslog + `exec miniupnpd "$@"`, "miniupnpd"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("lab: start miniupnpd: %v", err)
	}
	// The lab's router stands for a device of its own, which a busy
	// computer does not slow down: on a loaded machine miniupnpd at normal
	// priority missed netplan42's 700 ms SSDP window. `ip netns exec`
	// execs miniupnpd in place, so this is its pid. Best effort.
	syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, routerNice)
	l.mu.Lock()
	l.cmd, l.pid = cmd, cmd.Process.Pid
	l.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	want := readyNATPMP
	if l.Spec.NoNATPMP {
		want = readyHTTP
		if l.Spec.IPv6 {
			want = readyHTTP6
		}
	}
	deadline := time.NewTimer(StepTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		log := l.logSince(start)
		if strings.Contains(log, want) {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("lab: miniupnpd exited before it was ready (%v); log:\n%s", err, l.logSince(start))
		case <-deadline.C:
			return fmt.Errorf("lab: miniupnpd not ready after %s (no %q in its log); log:\n%s", StepTimeout, want, log)
		case <-ctx.Done():
			return fmt.Errorf("lab: waiting for miniupnpd: %w; log:\n%s", ctx.Err(), log)
		case <-tick.C:
		}
	}
}

func (l *Lab) logSince(off int64) string {
	b, _ := os.ReadFile(l.logPath)
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}

// stopRouter stops miniupnpd: SIGTERM, then SIGKILL after a second.
func (l *Lab) stopRouter() {
	l.mu.Lock()
	pid := l.pid
	l.cmd, l.pid = nil, 0
	l.mu.Unlock()
	if pid == 0 {
		return
	}
	// `ip netns exec` execs miniupnpd in place: the pid is miniupnpd's. When
	// this process started it, startRouter's Wait reaps it; kill(pid, 0)
	// fails from then on.
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// RestartRouter simulates a router reboot: it stops miniupnpd, with flush
// empties its chains and lease file so every mapping is gone, and starts it
// again. NAT-PMP's epoch starts again from zero (the config sets
// system_uptime=no, so the epoch is the daemon's uptime).
func (l *Lab) RestartRouter(ctx context.Context, flush bool) error {
	l.stopRouter()
	if flush {
		if err := l.flushChains(ctx); err != nil {
			return err
		}
		os.Remove(filepath.Join(l.dir, "upnp.leases"))
	}
	if err := l.startRouter(ctx); err != nil {
		return err
	}
	if l.Spec.Name != "" {
		return l.writeRecord()
	}
	return nil
}

// RestartRouterLosingLeases restarts miniupnpd without its lease file but
// with its rules in place, as a router whose daemon restarts without
// lease_file: miniupnpd reads the IPv4 rules back described "miniupnpd"
// with lease 0, and forgets every pinhole (whose rules stay).
func (l *Lab) RestartRouterLosingLeases(ctx context.Context) error {
	l.stopRouter()
	os.Remove(filepath.Join(l.dir, "upnp.leases"))
	if err := l.startRouter(ctx); err != nil {
		return err
	}
	if l.Spec.Name != "" {
		return l.writeRecord()
	}
	return nil
}

// Close stops miniupnpd and deletes the lab's namespaces and temporary
// directory. It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.stopRouter()
	var errs []error
	for _, ns := range append([]*Namespace{l.router, l.internet}, l.hosts...) {
		if ns != nil {
			if err := ns.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if l.tempDir {
		os.RemoveAll(l.dir)
	} else if l.dir != "" {
		os.Remove(filepath.Join(l.dir, "lab.json"))
	}
	return errors.Join(errs...)
}

func (l *Lab) writeRecord() error {
	rec := record{Spec: l.Spec, Dir: l.dir}
	for _, ns := range append([]*Namespace{l.router, l.internet}, l.hosts...) {
		if ns != nil {
			rec.Namespaces = append(rec.Namespaces, ns.Name)
		}
	}
	l.mu.Lock()
	rec.PID = l.pid
	l.mu.Unlock()
	b, _ := json.MarshalIndent(rec, "", "  ")
	return os.WriteFile(filepath.Join(l.dir, "lab.json"), append(b, '\n'), 0o644)
}

// Attach returns the persistent lab recorded in dir by Start, for another
// process to inspect, restart or close it.
func Attach(dir string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "lab.json"), err)
	}
	if len(rec.Namespaces) < 2 {
		return nil, fmt.Errorf("%s: no namespaces recorded", dir)
	}
	l := &Lab{Spec: rec.Spec, dir: rec.Dir, wan: rec.Spec.WAN, pid: rec.PID}
	l.inet = internetAddr(l.wan)
	l.logPath = filepath.Join(l.dir, "miniupnpd.log")
	l.router = &Namespace{Name: rec.Namespaces[0]}
	l.internet = &Namespace{Name: rec.Namespaces[1]}
	for _, n := range rec.Namespaces[2:] {
		l.hosts = append(l.hosts, &Namespace{Name: n})
	}
	if l.pid != 0 && !processAlive(l.pid) {
		l.pid = 0
	}
	return l, nil
}

// Router returns the router's namespace.
func (l *Lab) Router() *Namespace { return l.router }

// Internet returns the internet host's namespace.
func (l *Lab) Internet() *Namespace { return l.internet }

// Host returns LAN host i (1-based).
func (l *Lab) Host(i int) *Namespace { return l.hosts[i-1] }

// Hosts returns the LAN hosts' namespaces.
func (l *Lab) Hosts() []*Namespace { return l.hosts }

// Namespace returns the namespace called role: "router", "internet",
// "host1", …; nil when there is none.
func (l *Lab) Namespace(role string) *Namespace {
	switch role {
	case "router":
		return l.router
	case "internet":
		return l.internet
	}
	if n, ok := strings.CutPrefix(role, "host"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= len(l.hosts) {
			return l.hosts[i-1]
		}
	}
	return nil
}

// RouterLAN returns the router's LAN address, the hosts' gateway.
func (l *Lab) RouterLAN() netip.Addr { return RouterLAN }

// RouterWAN returns the router's WAN address: what mappings are reached at.
func (l *Lab) RouterWAN() netip.Addr { return l.wan.Addr() }

// InternetAddr returns the internet host's address.
func (l *Lab) InternetAddr() netip.Addr { return l.inet }

// HostAddr returns LAN host i's address (1-based).
func (l *Lab) HostAddr(i int) netip.Addr { return HostAddr(i) }

// Dir returns the directory holding the lab's config and log.
func (l *Lab) Dir() string { return l.dir }

// PID returns miniupnpd's process id, 0 when it is not running.
func (l *Lab) PID() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// Log returns miniupnpd's log so far, across restarts.
func (l *Lab) Log() string { return l.logSince(0) }

var httpPortRE = regexp.MustCompile(`HTTP listening on port (\d+)`)

// RootDescURL returns the URL of miniupnpd's device description, read from
// its log: "http://192.0.2.1:PORT/rootDesc.xml". It is "" when UPnP is off.
func (l *Lab) RootDescURL() string {
	m := httpPortRE.FindAllStringSubmatch(l.Log(), -1)
	if len(m) == 0 || l.Spec.NoUPnP {
		return ""
	}
	return fmt.Sprintf("http://%s:%s/rootDesc.xml", RouterLAN, m[len(m)-1][1])
}
