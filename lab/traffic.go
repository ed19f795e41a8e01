//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ChildEnv is the environment variable naming the child function a
// re-executed binary runs (see ChildMain); ServeChild reads it too.
const ChildEnv = childEnv

// Children returns the lab's own child functions, for ChildMain or
// ServeChild: "lab-listen" and "lab-dial", used by ProveForward,
// "lab-serve" (Serve), "lab-rogue-ssdp" (RogueSSDP) and "lab-pcp"
// (PCPExchange).
func Children() map[string]ChildFunc {
	return map[string]ChildFunc{
		"lab-listen":     func(ctx context.Context, args []string) error { return ListenOnce(ctx, args, os.Stdout) },
		"lab-dial":       func(ctx context.Context, args []string) error { return DialOnce(ctx, args, os.Stdout) },
		"lab-serve":      func(ctx context.Context, args []string) error { return Serve(ctx, args, os.Stdout) },
		"lab-rogue-ssdp": RogueSSDP,
		"lab-pcp":        PCPExchangeChild,
	}
}

// ServingLine is what Serve writes once it listens on a port:
// ServingLine+"4242/tcp".
const ServingLine = "listening on "

// Serve listens on TCP port args[i] for every i, on every address, until
// ctx ends or the process is killed: a stand-in for the program a service
// runs (CrashPlan on 4242), for status and check. Each connection may send
// one line, which is echoed back (so DialOnce works against it); Serve
// writes "from=ADDR:PORT got=LINE" for each to out.
func Serve(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: serve PORT...")
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, p := range args {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Errorf("serve: port %q: %v", p, err)
		}
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		say("%s%s/tcp", ServingLine, p)
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					line, _ := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
					// Logged before the echo: once a client has its
					// echo, the log names it.
					say("from=%s got=%s", c.RemoteAddr(), strings.TrimSpace(line))
					if line != "" {
						fmt.Fprint(c, line)
					}
				}()
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// ListenOnce accepts one TCP connection on port args[0] within args[1]
// seconds, reads a line, echoes it back and reports "from=ADDR:PORT
// got=LINE". It listens on IPv4 unless args[2] is "tcp6".
func ListenOnce(ctx context.Context, args []string, out *os.File) error {
	if len(args) != 2 && (len(args) != 3 || args[2] != "tcp6") {
		return errors.New("usage: listen PORT SECONDS [tcp6]")
	}
	secs, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	network := "tcp4"
	if len(args) == 3 {
		network = "tcp6"
	}
	ln, err := net.Listen(network, ":"+args[0])
	if err != nil {
		return err
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Duration(secs) * time.Second))
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("listen :%s: %w", args[0], err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read from %s: %w", c.RemoteAddr(), err)
	}
	fmt.Fprintf(c, "%s", line)
	fmt.Fprintf(out, "from=%s got=%s\n", c.RemoteAddr(), strings.TrimSpace(line))
	return nil
}

// DialOnce connects to args[0] (ADDR:PORT, or [ADDR]:PORT for IPv6),
// retrying for args[2] seconds while nothing listens yet, sends args[1]
// and checks the echo.
func DialOnce(ctx context.Context, args []string, out *os.File) error {
	if len(args) != 3 {
		return errors.New("usage: dial ADDR:PORT PAYLOAD SECONDS")
	}
	secs, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	network := "tcp4"
	if ap, err := netip.ParseAddrPort(args[0]); err == nil && ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network = "tcp6"
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	var c net.Conn
	for {
		d := net.Dialer{Timeout: time.Second}
		c, err = d.DialContext(ctx, network, args[0])
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", args[0], err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\n", args[1])
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read echo from %s: %w", args[0], err)
	}
	if strings.TrimSpace(line) != args[1] {
		return fmt.Errorf("echo from %s: got %q, want %q", args[0], line, args[1])
	}
	fmt.Fprintf(out, "ok local=%s\n", c.LocalAddr())
	return nil
}

// ProveForward proves that a TCP connection from the internet host to
// RouterWAN:extPort arrives at LAN host i's port intPort, and returns the
// address it arrived from (the internet host's, when the router forwards
// without masquerading). The running binary must serve Children (ChildMain
// or ServeChild).
func (l *Lab) ProveForward(ctx context.Context, i int, intPort, extPort uint16) (netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	type result struct {
		out string
		err error
	}
	lres := make(chan result, 1)
	go func() {
		out, err := l.Host(i).Child(ctx, "lab-listen", strconv.Itoa(int(intPort)), "8")
		lres <- result{out, err}
	}()
	target := netip.AddrPortFrom(l.RouterWAN(), extPort).String()
	payload := fmt.Sprintf("netplan42-lab-%d", time.Now().UnixNano())
	_, derr := l.Internet().Child(ctx, "lab-dial", target, payload, "6")
	r := <-lres
	if derr != nil {
		return netip.AddrPort{}, fmt.Errorf("internet -> %s: %v (listener: %v)", target, derr, r.err)
	}
	if r.err != nil {
		return netip.AddrPort{}, r.err
	}
	f := strings.Fields(r.out)
	if len(f) < 2 || !strings.HasPrefix(f[0], "from=") || f[1] != "got="+payload {
		return netip.AddrPort{}, fmt.Errorf("listener said %q", r.out)
	}
	return netip.ParseAddrPort(strings.TrimPrefix(f[0], "from="))
}

// ProveReach6 proves that a TCP connection from the internet host to LAN
// host i's global address [HostAddr6(i)]:port arrives at host i's
// listener, and returns the address it arrived from (Internet6: IPv6 is
// routed, not translated). In a dual-stack lab only a pinhole lets it
// through. The running binary must serve Children.
func (l *Lab) ProveReach6(ctx context.Context, i int, port uint16) (netip.AddrPort, error) {
	if !l.Spec.IPv6 {
		return netip.AddrPort{}, errors.New("lab: not dual-stack (Spec.IPv6)")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	type result struct {
		out string
		err error
	}
	lres := make(chan result, 1)
	go func() {
		out, err := l.Host(i).Child(ctx, "lab-listen", strconv.Itoa(int(port)), "8", "tcp6")
		lres <- result{out, err}
	}()
	target := netip.AddrPortFrom(HostAddr6(i), port).String()
	payload := fmt.Sprintf("netplan42-lab6-%d", time.Now().UnixNano())
	_, derr := l.Internet().Child(ctx, "lab-dial", target, payload, "6")
	r := <-lres
	if derr != nil {
		return netip.AddrPort{}, fmt.Errorf("internet [%s] -> %s: %v (listener: %v)", Internet6, target, derr, r.err)
	}
	if r.err != nil {
		return netip.AddrPort{}, r.err
	}
	f := strings.Fields(r.out)
	if len(f) < 2 || !strings.HasPrefix(f[0], "from=") || f[1] != "got="+payload {
		return netip.AddrPort{}, fmt.Errorf("listener said %q", r.out)
	}
	return netip.ParseAddrPort(strings.TrimPrefix(f[0], "from="))
}

// ProveClosed6 proves that the router drops inbound IPv6 TCP to LAN host
// i's port: with a listener on host i, the internet host's connection to
// [HostAddr6(i)]:port times out within wait (rounded up to whole
// seconds). It returns nil when dropped, and an error saying what
// happened otherwise (connected: a pinhole or a hole in the firewall;
// refused: something answered for the host).
func (l *Lab) ProveClosed6(ctx context.Context, i int, port uint16, wait time.Duration) error {
	if !l.Spec.IPv6 {
		return errors.New("lab: not dual-stack (Spec.IPv6)")
	}
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	lerr := make(chan error, 1)
	go func() {
		_, err := l.Host(i).Child(lctx, "lab-listen", strconv.Itoa(int(port)), strconv.Itoa(secs+5), "tcp6")
		lerr <- err
	}()
	// The listener is up before the dial starts, so a timeout means
	// dropped, not "nothing listened yet".
	if err := l.waitListening6(ctx, i, port); err != nil {
		lcancel()
		return fmt.Errorf("listener on host%d [%s]:%d: %v (%v)", i, HostAddr6(i), port, err, <-lerr)
	}
	target := netip.AddrPortFrom(HostAddr6(i), port).String()
	dctx, dcancel := context.WithTimeout(ctx, time.Duration(secs+10)*time.Second)
	defer dcancel()
	out, derr := l.Internet().Child(dctx, "lab-dial", target, "netplan42-lab6-closed", strconv.Itoa(secs))
	lcancel()
	<-lerr
	switch {
	case derr == nil:
		return fmt.Errorf("internet [%s] -> %s connected (%s): inbound IPv6 is not dropped", Internet6, target, strings.TrimSpace(out))
	case strings.Contains(derr.Error(), "i/o timeout"):
		return nil
	}
	return fmt.Errorf("internet [%s] -> %s: %v: not a drop", Internet6, target, derr)
}

// waitListening6 waits until host i has a TCP socket listening on port
// (ss in its namespace).
func (l *Lab) waitListening6(ctx context.Context, i int, port uint16) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := l.Host(i).Run(ctx, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not listening after 10s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
