package firewall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenLinux(t *testing.T) {
	ctx := context.Background()
	none := func(string) (string, error) { return "", errors.New("not found") }
	fr := &fakeRun{out: map[string]string{}}
	f, err := open(ctx, Config{Backend: "auto"}, fr.run, none, "linux")
	if err != nil || f.Backend() != "none" {
		t.Errorf("auto with no tools: %v %v", f, err)
	}
	// iptables variant from the version line (the tool is no link that
	// names one), commands of that variant.
	fr = &fakeRun{out: map[string]string{"iptables --version": "iptables v1.8.9 (legacy)\n", "ip6tables-save": ""}}
	all := func(s string) (string, error) {
		if strings.Contains(s, "-nft-") || strings.Contains(s, "-legacy-") {
			return "", errors.New("not found")
		}
		return "/nonexistent/sbin/" + s, nil
	}
	f, err = open(ctx, Config{Backend: "iptables"}, fr.run, all, "linux")
	if err != nil || f.Backend() != "iptables (legacy)" {
		t.Fatalf("iptables: %v %v", f, err)
	}
	if b := f.b.(*iptablesBackend); len(b.fams) != 2 || b.fams[0].restore != "iptables-restore" {
		t.Errorf("families %+v", b.fams)
	}
}

// The variant comes from what the iptables link resolves to, as Debian's
// alternatives set it up, without running iptables --version.
func TestVariantOfTool(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ target, want string }{
		{"xtables-nft-multi", "nf_tables"},
		{"xtables-legacy-multi", "legacy"},
		{"iptables-wrapper", ""},
	} {
		sub := filepath.Join(dir, tc.target)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, tc.target), nil, 0o755); err != nil {
			t.Fatal(err)
		}
		// iptables -> alternatives link -> the multi-call binary.
		if err := os.Symlink(filepath.Join(sub, tc.target), filepath.Join(sub, "alt")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(sub, "alt"), filepath.Join(sub, "iptables")); err != nil {
			t.Fatal(err)
		}
		look := func(s string) (string, error) { return filepath.Join(sub, s), nil }
		got, ok := variantOfTool(look)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("iptables -> %s: %q %v, want %q", tc.target, got, ok, tc.want)
		}
	}
	if _, ok := variantOfTool(func(string) (string, error) { return "", errors.New("not found") }); ok {
		t.Error("no iptables: a variant")
	}
}

// Open starts the listings an observation needs together; the first
// Observe reads each of them once, from open; Sync and later observations
// read afresh.
func TestPrefetchOnce(t *testing.T) {
	ctx := context.Background()
	fr := &fakeRun{out: map[string]string{
		"iptables --version":   "iptables v1.8.9 (nf_tables)\n",
		"iptables-nft-save":    string(readTestdata(t, "iptables-save-nft.txt")),
		"ip6tables-nft-save":   string(readTestdata(t, "ip6tables-save-nft.txt")),
		"iptables-legacy-save": "",
		// No native table to hook: Sync runs no nft transaction.
		"nft -j list chains":                     `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}`,
		"iptables-nft-restore --noflush --wait":  "",
		"ip6tables-nft-restore --noflush --wait": "",
	}}
	look := func(s string) (string, error) { return "/nonexistent/sbin/" + s, nil }
	f, err := open(ctx, Config{Backend: "iptables"}, fr.run, look, "linux")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(cmd string) int {
		fr.mu.Lock()
		defer fr.mu.Unlock()
		n := 0
		for _, c := range fr.calls {
			if c == cmd {
				n++
			}
		}
		return n
	}
	for _, cmd := range []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "nft -j list chains"} {
		if n := count(cmd); n != 1 {
			t.Errorf("open and observe ran %q %d times, want once", cmd, n)
		}
	}
	if err := f.Sync(ctx, captureRules); err != nil {
		t.Fatal(err)
	}
	if n := count("iptables-nft-save"); n != 2 {
		t.Errorf("sync did not read iptables-nft-save afresh: %d runs", n)
	}
	if _, err := f.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count("ip6tables-nft-save"); n != 3 {
		t.Errorf("a second observe did not read ip6tables-nft-save afresh: %d runs", n)
	}
}

// stop ends a listing nobody read: an open that failed leaves no tool
// running behind it.
func TestPrefetchStopEndsListings(t *testing.T) {
	ended := make(chan error, 1)
	pre := newPrefetch(context.Background(), func(ctx context.Context, _ []byte, _ string, _ ...string) ([]byte, error) {
		<-ctx.Done() // a tool that would hang
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	pre.start("iptables-legacy-save")
	pre.stop()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("listing ended with %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the listing still runs after stop")
	}
}
