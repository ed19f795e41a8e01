package firewall

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	goldenfile "github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/planner"
)

// Helpers shared by the portable tests and the Linux-only ones.

// golden compares got with testdata/golden/name (-update rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), got)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeRun answers commands from a table; unknown commands fail.
type fakeRun struct {
	mu    sync.Mutex // prefetched listings run concurrently
	out   map[string]string
	calls []string
	stdin []string
}

func (f *fakeRun) run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := commandLine(name, args)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, cmd)
	f.stdin = append(f.stdin, string(stdin))
	out, ok := f.out[cmd]
	if !ok {
		return nil, &cmdError{cmd: cmd, err: errors.New("exit status 1"), stderr: "not in fake"}
	}
	return []byte(out), nil
}

func readFile(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }

var crashplan = planner.Rule{Protocol: planner.TCP, Port: 4242, Sources: planner.AnySource, Comment: "netplan42:nas/crashplan"}

// Rules the captures are synced with: one open to all, one LAN-only.
var captureRules = []planner.Rule{
	crashplan,
	{Protocol: planner.UDP, Port: 4243, Comment: "netplan42:nas/crashplan-lan",
		Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}},
}

// sameRules reports whether observed equals want as a planner would see
// it: same rules, sources in any order.
func sameRules(got, want []planner.Rule) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Equal(w) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// hasWarning reports whether one of ws contains all of parts.
func hasWarning(ws []string, parts ...string) bool {
	for _, w := range ws {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}
