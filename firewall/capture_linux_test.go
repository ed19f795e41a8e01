package firewall

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
)

// The parsers are tested on captures of real tool output, made by
// TestCaptureRulesets from rulesets built in lab namespaces on this
// project's machine (Debian bookworm: iptables 1.8.9, nftables 1.0.6), then
// synced by this package. Regenerate with
//
//	go test ./firewall -run TestCaptureRulesets -capture
var capture = flag.Bool("capture", false, "rewrite testdata captures from lab namespaces")

// foreignUFW is modelled on what ufw 0.36 (Debian bookworm) loads for
// "default deny incoming" plus "ufw allow 22/tcp": its chain layout from
// /etc/ufw/before.rules and user.rules, cut to the input path.
const foreignUFW = `
iptables-nft-restore <<'UFWRULES'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-after-input - [0:0]
:ufw-after-logging-input - [0:0]
:ufw-before-input - [0:0]
:ufw-before-logging-input - [0:0]
:ufw-logging-deny - [0:0]
:ufw-not-local - [0:0]
:ufw-reject-input - [0:0]
:ufw-skip-to-policy-input - [0:0]
:ufw-track-input - [0:0]
:ufw-user-input - [0:0]
-A INPUT -j ufw-before-logging-input
-A INPUT -j ufw-before-input
-A INPUT -j ufw-after-input
-A INPUT -j ufw-after-logging-input
-A INPUT -j ufw-reject-input
-A INPUT -j ufw-track-input
-A ufw-after-input -p udp -m udp --dport 137 -j ufw-skip-to-policy-input
-A ufw-after-input -p tcp -m tcp --dport 139 -j ufw-skip-to-policy-input
-A ufw-after-input -m addrtype --dst-type BROADCAST -j ufw-skip-to-policy-input
-A ufw-after-logging-input -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW BLOCK] "
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-input -m conntrack --ctstate INVALID -j ufw-logging-deny
-A ufw-before-input -m conntrack --ctstate INVALID -j DROP
-A ufw-before-input -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A ufw-before-input -p udp -m udp --sport 67 --dport 68 -j ACCEPT
-A ufw-before-input -j ufw-not-local
-A ufw-before-input -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT
-A ufw-before-input -j ufw-user-input
-A ufw-logging-deny -m conntrack --ctstate INVALID -m limit --limit 3/min --limit-burst 10 -j RETURN
-A ufw-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW BLOCK] "
-A ufw-not-local -m addrtype --dst-type LOCAL -j RETURN
-A ufw-not-local -m addrtype --dst-type MULTICAST -j RETURN
-A ufw-not-local -m addrtype --dst-type BROADCAST -j RETURN
-A ufw-not-local -m limit --limit 3/min --limit-burst 10 -j ufw-logging-deny
-A ufw-not-local -j DROP
-A ufw-skip-to-policy-input -j DROP
-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
UFWRULES
`

type captureStep struct {
	file string
	cmd  []string
}

func TestCaptureRulesets(t *testing.T) {
	if !*capture {
		t.Skip("captures are rewritten only with -capture")
	}
	lab.Require(t)
	scenarios := []struct {
		name, setup, backend string
		before, after        []captureStep
	}{
		{"iptables-nft", foreignIptables("iptables-nft"), "iptables", nil, []captureStep{
			{"iptables-save-nft.txt", []string{"iptables-nft-save"}},
			{"ip6tables-save-nft.txt", []string{"ip6tables-nft-save"}},
		}},
		{"iptables-legacy", foreignIptables("iptables-legacy"), "iptables", nil, []captureStep{
			{"iptables-save-legacy.txt", []string{"iptables-legacy-save", "-c"}},
			{"ip6tables-save-legacy.txt", []string{"ip6tables-legacy-save"}},
		}},
		{"ufw-iptables", foreignUFW, "iptables", nil, []captureStep{
			{"iptables-save-ufw.txt", []string{"iptables-nft-save"}},
		}},
		{"native", foreignNft, "nftables", []captureStep{
			{"nft-native-before.json", []string{"nft", "-j", "list", "ruleset"}},
		}, []captureStep{
			{"nft-native.json", []string{"nft", "-j", "list", "ruleset"}},
			{"nft-native.txt", []string{"nft", "-a", "list", "ruleset"}},
		}},
		// The iptables backend reads nft tables chains first, then each
		// table that filters input (iptables-nft's are read by
		// iptables-save).
		{"iptables-native", foreignIptables("iptables-nft") + nativeNft, "iptables", []captureStep{
			{"nft-ipt-chains-before.json", []string{"nft", "-j", "list", "chains"}},
			{"nft-ipt-inet-filter-before.json", []string{"nft", "-j", "list", "table", "inet", "filter"}},
			{"nft-ipt-f2b-before.json", []string{"nft", "-j", "list", "table", "inet", "f2b-table"}},
		}, []captureStep{
			{"nft-ipt-chains.json", []string{"nft", "-j", "list", "chains"}},
			{"nft-ipt-inet-filter.json", []string{"nft", "-j", "list", "table", "inet", "filter"}},
			{"nft-ipt-inet-filter.txt", []string{"nft", "-a", "list", "table", "inet", "filter"}},
			{"nft-ipt-f2b.json", []string{"nft", "-j", "list", "table", "inet", "f2b-table"}},
			{"iptables-save-native.txt", []string{"iptables-nft-save"}},
			{"ip6tables-save-native.txt", []string{"ip6tables-nft-save"}},
		}},
		{"firewalld", foreignFirewalld, "nftables", nil, []captureStep{
			{"nft-firewalld.json", []string{"nft", "-j", "list", "ruleset"}},
			{"nft-firewalld.txt", []string{"nft", "-a", "list", "ruleset"}},
		}},
		{"ufw-nft", foreignUFW, "nftables", nil, []captureStep{
			{"nft-ufw.json", []string{"nft", "-j", "list", "ruleset"}},
			{"nft-ufw.txt", []string{"nft", "-a", "list", "ruleset"}},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			ns, err := lab.NewNamespace("cap")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ns.Close() })
			sh(t, ns, sc.setup)
			write := func(steps []captureStep) {
				for _, s := range steps {
					out := ns.MustRun(t, s.cmd[0], s.cmd[1:]...)
					if filepath.Ext(s.file) == ".txt" && s.cmd[0] != "nft" {
						out = fmt.Sprintf("# capture: %v in a lab namespace (%s scenario, capture_test.go), %s\n%s", s.cmd, sc.name, time.Now().UTC().Format("2006-01-02"), out)
					}
					if err := os.WriteFile(filepath.Join("testdata", s.file), []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			write(sc.before)
			syncOK(t, ns, sc.backend, captureRules)
			write(sc.after)
		})
	}
}
