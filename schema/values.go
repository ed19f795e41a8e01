package schema

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Defaults of the config language.
var (
	// DefaultListenPorts is the pool port = "auto" draws from: above the
	// privileged ports, below the ranges other software tends to claim.
	DefaultListenPorts = PortRange{First: 1024, Last: 5999}
	// DefaultReservedPorts are CrashPlan's own ports, which "auto" never
	// hands out: 4242 is its default listen port and 4243 its local UI.
	DefaultReservedPorts = []uint16{4242, 4243}
	// DefaultProtocols are the router protocols tried when a network sets
	// none.
	DefaultProtocols = []Via{ViaUPnP, ViaNATPMP}
)

// DefaultLease is the lease asked of the router when a network sets none:
// long enough to survive a short outage, short enough that a mapping of a
// computer that left does not linger for days.
const DefaultLease = 2 * time.Hour

// Lease limits. Router lease fields are uint32 seconds; NAT-PMP clients are
// told to renew at half the lease, so very short leases mean constant
// traffic, and beyond a week a forgotten mapping outlives its purpose.
const (
	MinLease = time.Minute
	MaxLease = 7 * 24 * time.Hour
)

var (
	protocolValues = []string{TCP, UDP, Both}
	exposeValues   = []string{ExposeInternet, ExposeLAN, ExposeLocalhost}
	firewallValues = []string{FirewallAuto, FirewallIPTables, FirewallNFTables, FirewallPF, FirewallWindows, FirewallNone}
	routerValues   = []string{string(ViaUPnP), string(ViaNATPMP), string(ViaPCP), string(ViaSSH), string(ViaManual)}
)

// portFromNumber returns the port a number value names, or an error saying
// why it names none, worded to follow the number: "is outside 1-65535".
func portFromNumber(v cty.Value) (uint16, error) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, errors.New("is not a whole number")
	}
	if bf.Sign() <= 0 || bf.Cmp(big.NewFloat(65535)) > 0 {
		return 0, errors.New("is outside 1-65535")
	}
	i, _ := bf.Int64()
	return uint16(i), nil
}

// ParsePortRange parses listen_ports: "1024-5999", or one port "5000".
func ParsePortRange(s string) (PortRange, error) {
	first, last, found := strings.Cut(s, "-")
	if !found {
		last = first
	}
	a, err := parsePort(strings.TrimSpace(first))
	if err != nil {
		return PortRange{}, err
	}
	b, err := parsePort(strings.TrimSpace(last))
	if err != nil {
		return PortRange{}, err
	}
	if a > b {
		return PortRange{}, fmt.Errorf("the range %d-%d runs backwards", a, b)
	}
	return PortRange{First: a, Last: b}, nil
}

// parsePort parses a decimal port number, 1-65535.
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		if s == "" {
			return 0, errors.New("a port number is missing")
		}
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// ParseLease parses a lease: a Go duration ("2h", "90m") that may also use
// "d" for days ("1d12h"), or "0" or "permanent" for a permanent mapping.
// It checks the limits: 0, or MinLease to MaxLease in whole seconds.
func ParseLease(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "permanent" {
		return 0, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	switch {
	case d%time.Second != 0:
		return 0, fmt.Errorf("%s is not a whole number of seconds", d)
	case d < MinLease:
		return 0, fmt.Errorf("%s is shorter than the minimum of 1 minute", d)
	case d > MaxLease:
		return 0, fmt.Errorf("%s is longer than the maximum of 7 days", d)
	}
	return d, nil
}

// parseDuration is time.ParseDuration with "d" for 24 hours.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("the duration is empty")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		// One number and its unit: digits, an optional fraction, letters.
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		f, numErr := strconv.ParseFloat(num, 64)
		var d time.Duration
		switch {
		case unit == "d" && numErr == nil:
			if f > float64(1000*MaxLease/(24*time.Hour)) {
				return 0, fmt.Errorf("%q is longer than the maximum of 7 days", s)
			}
			d = time.Duration(f * float64(24*time.Hour))
		default:
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				if numErr == nil && slices.Contains([]string{"h", "m", "s", "ms", "us", "µs", "ns"}, unit) {
					return 0, fmt.Errorf("%q is longer than the maximum of 7 days", s) // overflow
				}
				return 0, fmt.Errorf("%q is not a duration like 2h, 90m or 1d", s)
			}
		}
		if d > 1000*MaxLease {
			return 0, fmt.Errorf("%q is longer than the maximum of 7 days", s)
		}
		if total += d; total > 1000*MaxLease {
			return 0, fmt.Errorf("%q is longer than the maximum of 7 days", s)
		}
	}
	return total, nil
}

// parseSource parses an allow_from entry: a CIDR prefix, or one address,
// which admits just that host. A prefix with host bits set is refused with
// the masked form as a hint, since it usually means a typo in the length.
func parseSource(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or a CIDR prefix like 192.168.1.0/24", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix like 192.168.1.0/24", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has bits set past its prefix length; the network is %q", s, m.String())
	}
	return p, nil
}

// validHostname reports whether s can be a machine's host name: what
// os.Hostname returns on the platforms netplan42 runs on.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}

// validDNSName reports whether s is a DNS name: dot-separated labels of
// letters, digits and inner dashes, 63 bytes each, 253 in all.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// validKey reports whether s can be a for_each key. Keys appear in
// addresses (computer.desk["alice"]), router descriptions and firewall
// comments (desk[alice]) and default the hostname, so characters that
// would break those are refused.
func validKey(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"'\/[]{}$%`, r) {
			return false
		}
	}
	return true
}
