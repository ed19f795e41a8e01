//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netplan42/netplan42/lab"
)

// Dir records the persistent lab.
var Dir = envOr("NETPLAN42_LAB_DIR", "/run/netplan42-lab")

// name is the fixed namespace prefix; lab.Sweep never deletes it.
var name = envOr("NETPLAN42_LAB_NAME", "np42lab")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	lab.ServeChild(lab.Children())
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: netplan42-lab up [--hosts N] [--no-upnp] [--no-natpmp] [--igd1] [--wan CIDR] [--ipv6]
       netplan42-lab status
       netplan42-lab exec HOST -- CMD...   (HOST: router, internet, host1, …)
       netplan42-lab restart-router [--flush]
       netplan42-lab listen HOST PORT...   (start a program listening on HOST's PORTs, echoing lines; down stops it)
       netplan42-lab prove HOST PORT       (connect from the internet host to the router's WAN PORT; say where it arrives)
       netplan42-lab prove6 HOST PORT      (dual-stack lab: connect from the internet host to HOST's global IPv6 address)
       netplan42-lab down
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err := dispatch(ctx, args[0], args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "netplan42-lab %s: %v\n", args[0], err)
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

func dispatch(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	switch cmd {
	case "up":
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		fs.SetOutput(stderr)
		hosts := fs.Int("hosts", 2, "number of LAN hosts")
		noUPnP := fs.Bool("no-upnp", false, "switch miniupnpd's UPnP IGD off")
		noPMP := fs.Bool("no-natpmp", false, "switch miniupnpd's NAT-PMP off")
		igd1 := fs.Bool("igd1", false, "announce IGD v1 only (miniupnpd -1)")
		wan := fs.String("wan", lab.DefaultWAN.String(), "router WAN address (100.64.0.1/10: CGNAT)")
		ipv6 := fs.Bool("ipv6", false, "dual-stack: LAN 2001:db8:1::/64, inbound IPv6 only through pinholes")
		if err := fs.Parse(args); err != nil {
			return err
		}
		p, err := netip.ParsePrefix(*wan)
		if err != nil {
			return err
		}
		if _, err := lab.Attach(Dir); err == nil {
			return fmt.Errorf("a lab is up (%s/lab.json): run down first", Dir)
		}
		if why := lab.Available(); why != "" {
			return fmt.Errorf("%s", why)
		}
		l, err := lab.StartRetry(ctx, lab.Spec{Hosts: *hosts, NoUPnP: *noUPnP, NoNATPMP: *noPMP, IGDv1: *igd1, WAN: p,
			IPv6: *ipv6, Name: name, Dir: Dir, NoDaemon: *noUPnP && *noPMP}, func(format string, a ...any) {
			fmt.Fprintf(stderr, format+"\n", a...)
		})
		if err != nil {
			return err
		}
		status(l, stdout)
		return nil
	case "status":
		l, err := lab.Attach(Dir)
		if err != nil {
			return fmt.Errorf("no lab is up: %v", err)
		}
		status(l, stdout)
		return nil
	case "exec":
		if len(args) < 3 || args[1] != "--" {
			return fmt.Errorf("usage: exec HOST -- CMD...")
		}
		l, err := lab.Attach(Dir)
		if err != nil {
			return fmt.Errorf("no lab is up: %v", err)
		}
		ns := l.Namespace(args[0])
		if ns == nil {
			return fmt.Errorf("no host %q (router, internet, host1…host%d)", args[0], len(l.Hosts()))
		}
		c := ns.Command(ctx, args[2], args[3:]...)
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, stdout, stderr
		return c.Run()
	case "restart-router":
		fs := flag.NewFlagSet("restart-router", flag.ContinueOnError)
		fs.SetOutput(stderr)
		flush := fs.Bool("flush", false, "flush miniupnpd's chains and leases: every mapping is gone")
		if err := fs.Parse(args); err != nil {
			return err
		}
		l, err := lab.Attach(Dir)
		if err != nil {
			return fmt.Errorf("no lab is up: %v", err)
		}
		if err := l.RestartRouter(ctx, *flush); err != nil {
			return err
		}
		status(l, stdout)
		return nil
	case "down":
		defer os.RemoveAll(Dir)
		l, err := lab.Attach(Dir)
		if err == nil {
			return l.Close()
		}
		// No record: remove whatever carries the lab's fixed names.
		out, _ := exec.Command("ip", "netns", "list").Output()
		for _, line := range strings.Split(string(out), "\n") {
			n, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			if strings.HasPrefix(n, name+"-") {
				(&lab.Namespace{Name: n}).Close()
			}
		}
		return nil
	case "prove":
		if len(args) != 2 || !strings.HasPrefix(args[0], "host") {
			return fmt.Errorf("usage: prove HOST PORT (HOST: host1, host2, …)")
		}
		var i int
		var port uint16
		if _, err := fmt.Sscanf(args[0], "host%d", &i); err != nil {
			return fmt.Errorf("usage: prove HOST PORT: %v", err)
		}
		if _, err := fmt.Sscanf(args[1], "%d", &port); err != nil {
			return fmt.Errorf("usage: prove HOST PORT: %v", err)
		}
		l, err := lab.Attach(Dir)
		if err != nil {
			return fmt.Errorf("no lab is up: %v", err)
		}
		if i < 1 || i > len(l.Hosts()) {
			return fmt.Errorf("no host %q", args[0])
		}
		from, err := l.ProveForward(ctx, i, port, port)
		if err != nil && strings.Contains(err.Error(), "address already in use") {
			// listen holds the port: prove through it.
			from, err = proveThroughListener(ctx, l, args[0], netip.AddrPortFrom(l.RouterWAN(), port))
		}
		if err != nil {
			why := "no connection"
			switch msg := err.Error(); {
			case strings.Contains(msg, "connection refused"):
				why = "connection refused"
			case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline"):
				why = "timed out"
			}
			return fmt.Errorf("internet host %s -> router %s:%d does not reach %s %s:%d: %s", l.InternetAddr(), l.RouterWAN(), port, args[0], l.HostAddr(i), port, why)
		}
		fmt.Fprintf(stdout, "internet host %s -> router %s:%d -> %s %s:%d: connected (arrived from %s)\n",
			l.InternetAddr(), l.RouterWAN(), port, args[0], l.HostAddr(i), port, from)
		return nil
	case "prove6":
		var i int
		var port uint16
		if len(args) != 2 {
			return fmt.Errorf("usage: prove6 HOST PORT (HOST: host1, host2, …)")
		}
		if _, err := fmt.Sscanf(args[0], "host%d", &i); err != nil {
			return fmt.Errorf("usage: prove6 HOST PORT: %v", err)
		}
		if _, err := fmt.Sscanf(args[1], "%d", &port); err != nil {
			return fmt.Errorf("usage: prove6 HOST PORT: %v", err)
		}
		l, err := lab.Attach(Dir)
		if err != nil {
			return fmt.Errorf("no lab is up: %v", err)
		}
		if !l.Spec.IPv6 {
			return fmt.Errorf("the lab is not dual-stack: up --ipv6")
		}
		if i < 1 || i > len(l.Hosts()) {
			return fmt.Errorf("no host %q", args[0])
		}
		target := netip.AddrPortFrom(l.HostAddr6(i), port)
		from, err := l.ProveReach6(ctx, i, port)
		if err != nil && strings.Contains(err.Error(), "address already in use") {
			from, err = proveThroughListener(ctx, l, args[0], target)
		}
		if err != nil {
			return fmt.Errorf("internet host %s -> %s %s does not connect: %v", l.InternetAddr6(), args[0], target, err)
		}
		fmt.Fprintf(stdout, "internet host %s -> %s %s: connected (arrived from %s)\n", l.InternetAddr6(), args[0], target, from)
		return nil
	case "listen":
		if len(args) < 2 {
			return fmt.Errorf("usage: listen HOST PORT...")
		}
		l, err := lab.Attach(Dir)
		if err != nil {
			return fmt.Errorf("no lab is up: %v", err)
		}
		return listen(l, args[0], args[1:], stdout)
	case "_listen":
		return lab.ListenOnce(ctx, args, os.Stdout)
	case "_dial":
		return lab.DialOnce(ctx, args, os.Stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command\n%s", usage)
}

// listenLog is the log of the listen program on host.
func listenLog(host string) string { return filepath.Join(Dir, "listen-"+host+".log") }

// listen starts lab.Serve on host's ports, in the background, and returns
// once it listens on every one.
func listen(l *lab.Lab, host string, ports []string, stdout io.Writer) error {
	ns := l.Namespace(host)
	if ns == nil {
		return fmt.Errorf("no host %q (router, internet, host1…host%d)", host, len(l.Hosts()))
	}
	for _, p := range ports {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("port %q: want 1-65535", p)
		}
	}
	logPath := listenLog(host)
	var start int64
	if fi, err := os.Stat(logPath); err == nil {
		start = fi.Size()
	}
	proc, err := ns.StartChild("lab-serve", logPath, ports...)
	if err != nil {
		return err
	}
	since := func() string {
		b, _ := os.ReadFile(logPath)
		if int64(len(b)) < start {
			return string(b)
		}
		return string(b[start:])
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		log := since()
		ready := true
		for _, p := range ports {
			ready = ready && strings.Contains(log, lab.ServingLine+p+"/tcp")
		}
		if ready {
			break
		}
		if syscall.Kill(proc.Pid, 0) != nil || time.Now().After(deadline) {
			proc.Kill()
			return fmt.Errorf("%s: not listening on %s: %s", host, strings.Join(ports, ", "), strings.TrimSpace(log))
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := "address of " + host
	if n := l.Namespace(host); n == l.Router() {
		addr = l.RouterLAN().String()
	} else if n == l.Internet() {
		addr = l.InternetAddr().String()
	} else {
		for i, h := range l.Hosts() {
			if h == n {
				addr = l.HostAddr(i + 1).String()
			}
		}
	}
	fmt.Fprintf(stdout, "%s %s: listening on %s/tcp (pid %d, log %s); it echoes a line sent to it; netplan42-lab down stops it\n",
		host, addr, strings.Join(ports, "/tcp, "), proc.Pid, logPath)
	return nil
}

// proveThroughListener proves that the internet host's connection to
// `to` (the router's WAN port, or host's global IPv6 address) arrives at
// host where listen holds the port: the listener's log says where the
// connection came from.
func proveThroughListener(ctx context.Context, l *lab.Lab, host string, to netip.AddrPort) (netip.AddrPort, error) {
	target := to.String()
	payload := fmt.Sprintf("netplan42-lab-%d", time.Now().UnixNano())
	if _, err := l.Internet().Child(ctx, "lab-dial", target, payload, "6"); err != nil {
		return netip.AddrPort{}, err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(listenLog(host))
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] == "got="+payload {
				return netip.ParseAddrPort(strings.TrimPrefix(f[0], "from="))
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("connected to %s, but %s's listener did not see it (%s)", target, host, listenLog(host))
}

func status(l *lab.Lab, w io.Writer) {
	fmt.Fprintf(w, "router    %-20s LAN %s  WAN %s  miniupnpd pid %d\n", l.Router().Name, l.RouterLAN(), l.RouterWAN(), l.PID())
	fmt.Fprintf(w, "internet  %-20s %s\n", l.Internet().Name, l.InternetAddr())
	for i, h := range l.Hosts() {
		fmt.Fprintf(w, "host%-5d %-20s %s\n", i+1, h.Name, l.HostAddr(i+1))
	}
	if l.Spec.IPv6 {
		fmt.Fprintf(w, "ipv6      router LAN %s  WAN %s  internet %s\n", l.RouterLAN6(), l.RouterWAN6(), l.InternetAddr6())
		for i := range l.Hosts() {
			fmt.Fprintf(w, "host%-5d %s\n", i+1, l.HostAddr6(i+1))
		}
	}
	if u := l.RootDescURL(); u != "" {
		fmt.Fprintf(w, "rootDesc  %s\n", u)
	}
	if u := l.RootDescURL6(); u != "" {
		fmt.Fprintf(w, "rootDesc6 %s\n", u)
	}
	fmt.Fprintf(w, "log       %s/miniupnpd.log\n", l.Dir())
}
