package firewall

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestOpenLinux(t *testing.T) {
	ctx := context.Background()
	none := func(string) (string, error) { return "", errors.New("not found") }
	fr := &fakeRun{out: map[string]string{}}
	f, err := open(ctx, Config{Backend: "auto"}, fr.run, none, "linux")
	if err != nil || f.Backend() != "none" {
		t.Errorf("auto with no tools: %v %v", f, err)
	}
	// iptables variant from the version line, commands of that variant.
	fr = &fakeRun{out: map[string]string{"iptables --version": "iptables v1.8.9 (legacy)\n", "ip6tables-save": ""}}
	all := func(s string) (string, error) {
		if strings.Contains(s, "-nft-") || strings.Contains(s, "-legacy-") {
			return "", errors.New("not found")
		}
		return "/usr/sbin/" + s, nil
	}
	f, err = open(ctx, Config{Backend: "iptables"}, fr.run, all, "linux")
	if err != nil || f.Backend() != "iptables (legacy)" {
		t.Fatalf("iptables: %v %v", f, err)
	}
	if b := f.b.(*iptablesBackend); len(b.fams) != 2 || b.fams[0].restore != "iptables-restore" {
		t.Errorf("families %+v", b.fams)
	}
}
