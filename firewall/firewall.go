package firewall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"

	"github.com/netplan42/netplan42/planner"
)

// Config selects a backend.
type Config struct {
	// Backend is "iptables", "nftables", "pf", "windows", "none" or "auto"
	// (also "").
	Backend string
	// WindowsProfiles are the Windows firewall profiles our rules apply
	// to (domain, private, public); nil means all three.
	WindowsProfiles []string
}

// Firewall is the host firewall as netplan42 sees it: one backend, chosen
// by Open.
type Firewall struct {
	name  string
	kind  string // the config's name for the backend: iptables, nftables, pf, none
	b     backend
	notes []string  // said with every observation
	pre   *prefetch // listings started at open, for the first observation
}

// backend is what each firewall tool implements.
type backend interface {
	observe(ctx context.Context) (planner.FirewallView, error)
	sync(ctx context.Context, rules []planner.Rule) error
}

// ErrUnknownBackend is returned by Open for a backend name it does not know.
var ErrUnknownBackend = errors.New("unknown firewall backend")

// Open finds the tools of the configured backend. With "auto" it picks
// nftables when native nftables tables filter input (or nothing filters
// and nft is installed), iptables when only iptables rules exist, pf on
// macOS and FreeBSD, Windows Defender Firewall on Windows, and none when no
// tool is installed; Backend says which.
func Open(ctx context.Context, cfg Config) (*Firewall, error) {
	return open(ctx, cfg, machineRun, exec.LookPath, runtime.GOOS)
}

func open(ctx context.Context, cfg Config, run runFunc, lookPath func(string) (string, error), goos string) (*Firewall, error) {
	has := func(tool string) bool { _, err := lookPath(tool); return err == nil }
	switch cfg.Backend {
	case "none":
		return &Firewall{name: "none", kind: "none", b: noneBackend{}}, nil
	case "iptables", "nftables":
		if goos != "linux" {
			return nil, fmt.Errorf("%s backend: not available on %s", cfg.Backend, goos)
		}
		return openLinux(ctx, cfg.Backend, run, lookPath)
	case "pf":
		if !has("pfctl") {
			return nil, fmt.Errorf("pf backend: pfctl not found (pf is the firewall of macOS and FreeBSD)")
		}
		return &Firewall{name: "pf", kind: "pf", b: &pfBackend{run: run}}, nil
	case "windows":
		return openWindows(run, lookPath, cfg.WindowsProfiles)
	case "auto", "":
		return openAuto(ctx, cfg, run, lookPath, goos)
	}
	return nil, fmt.Errorf("firewall backend %q: %w (want iptables, nftables, pf, windows, none or auto)", cfg.Backend, ErrUnknownBackend)
}

// openAuto picks the backend that fits what the machine has and holds.
func openAuto(ctx context.Context, cfg Config, run runFunc, lookPath func(string) (string, error), goos string) (*Firewall, error) {
	has := func(tool string) bool { _, err := lookPath(tool); return err == nil }
	if goos == "linux" {
		return openAutoLinux(ctx, run, lookPath)
	}
	if goos == "windows" {
		if f, err := openWindows(run, lookPath, cfg.WindowsProfiles); err == nil {
			return f, nil
		}
		return &Firewall{name: "none", kind: "none", b: noneBackend{}, notes: []string{"auto: no PowerShell found; netplan42 manages no firewall here"}}, nil
	}
	if has("pfctl") {
		return open(ctx, Config{Backend: "pf"}, run, lookPath, goos)
	}
	return &Firewall{name: "none", kind: "none", b: noneBackend{}, notes: []string{"auto: no pfctl found; netplan42 manages no firewall here"}}, nil
}

// Backend names the backend in use: "iptables (nf_tables)", "iptables
// (legacy)", "nftables", "pf" or "none".
func (f *Firewall) Backend() string { return f.name }

// Kind names the backend as a config does: "iptables", "nftables", "pf" or
// "none". State records it with every rule, so that a later change of
// backend (or of what "auto" picks) removes the rules from the old one.
func (f *Firewall) Kind() string { return f.kind }

// Observe reads our rules back from our own chain, table or anchor, reports
// whether they are hooked into the input path, and warns about foreign
// rules that decide our traffic first.
func (f *Firewall) Observe(ctx context.Context) (planner.FirewallView, error) {
	v, err := f.b.observe(ctx)
	f.pre.stop()
	v.Backend, v.Kind = f.name, f.kind
	if err != nil {
		return v, err
	}
	v.LocalPrefixes, err = LocalPrefixes()
	if err != nil {
		return v, err
	}
	v.Warnings = append(slices.Clone(f.notes), v.Warnings...)
	return v, nil
}

// Sync makes our chain, table or anchor hold exactly rules, atomically,
// hooked into the input path; with no rules it removes all our objects and
// hooks. It never changes a rule, chain or policy netplan42 does not own.
func (f *Firewall) Sync(ctx context.Context, rules []planner.Rule) error {
	f.pre.stop()
	return f.b.sync(ctx, rules)
}

// noneBackend manages nothing: a host without a firewall, or one the user
// manages by hand.
type noneBackend struct{}

func (noneBackend) observe(context.Context) (planner.FirewallView, error) {
	// Nothing is needed to reach our (absent) rules: hooked.
	return planner.FirewallView{Backend: "none", Hooked: true}, nil
}

func (noneBackend) sync(context.Context, []planner.Rule) error { return nil }

// LocalPrefixes returns the prefixes of this host's up, non-loopback
// interfaces, masked (192.0.2.10/24 gives 192.0.2.0/24): the sources of an
// expose = "lan" rule.
func LocalPrefixes() ([]netip.Prefix, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var addrs []net.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		a, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		addrs = append(addrs, a...)
	}
	return localPrefixes(addrs), nil
}

func localPrefixes(addrs []net.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok || ip.Unmap().IsLoopback() {
			continue
		}
		ip = ip.Unmap()
		ones, _ := ipn.Mask.Size()
		if ip.Is4() && ones > 32 {
			ones -= 96
		}
		p := netip.PrefixFrom(ip, ones).Masked()
		if p.IsValid() && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	return out
}
