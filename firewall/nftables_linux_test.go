package firewall

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
	"sigs.k8s.io/knftables"
)

func parseCapture(t testing.TB, name string) *nftRuleset {
	t.Helper()
	rs, err := parseNftJSON(readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if txt := strings.TrimSuffix(name, ".json") + ".txt"; txt != name {
		if b, err := readFile(txt); err == nil {
			rs.attachText(b)
		}
	}
	return rs
}

// Observe on captures of nft -j list ruleset after a Sync of captureRules
// (capture_test.go): a native inet filter at policy drop beside
// iptables-nft tables and a fail2ban-like table; firewalld's table; ufw's
// chains in iptables-nft's ip filter.
func TestObserveNftCaptures(t *testing.T) {
	for _, tc := range []struct {
		file   string
		rules  []planner.Rule
		hooked bool
		warns  [][]string
	}{
		{"nft-native-before.json", nil, false, nil},
		{"nft-native.json", captureRules, true, nil},
		{"nft-firewalld.json", captureRules, true, [][]string{{"table inet firewalld chain filter_INPUT", "belongs to firewalld",
			"firewall-cmd --permanent --add-port=4242/tcp && firewall-cmd --permanent --add-port=4243/udp && firewall-cmd --reload"}}},
		{"nft-ufw.json", captureRules, true, [][]string{{"table ip filter is managed by ufw", "ufw allow 4242/tcp, 4243/udp"}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rs := parseCapture(t, tc.file)
			rules, hooked, warns := observeNft(rs)
			if !sameRules(rules, tc.rules) || hooked != tc.hooked {
				t.Errorf("rules %+v hooked %v; want %+v hooked %v", rules, hooked, tc.rules, tc.hooked)
			}
			if len(warns) != len(tc.warns) {
				t.Errorf("warnings %q, want %d", warns, len(tc.warns))
			}
			for _, w := range tc.warns {
				if !hasWarning(warns, w...) {
					t.Errorf("no warning with %q in %q", w, warns)
				}
			}
		})
	}
}

// Which tables get our chain: those whose input chain drops our traffic,
// not fail2ban's (policy accept, rejects only banned SSH sources), not
// firewalld's (a manager's).
func TestNftTargets(t *testing.T) {
	keys := []key{{planner.TCP, 4242}}
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"nft-native-before.json", []string{"table inet filter/input", "table ip filter/INPUT"}},
		{"nft-firewalld.json", nil},
		{"nft-ufw.json", []string{"table ip filter/INPUT"}},
	} {
		var got []string
		targets, _ := parseCapture(t, tc.file).targets(keys, notOwn)
		for _, h := range targets {
			for _, c := range h.chains {
				got = append(got, h.t.String()+"/"+c.name)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: targets %q, want %q", tc.file, got, tc.want)
		}
	}
}

// The nft transaction text Sync sends, for a first sync, an update, and a
// removal.
func TestNftTransactionGolden(t *testing.T) {
	for _, tc := range []struct {
		golden, capture string
		rules           []planner.Rule
	}{
		{"nft-first.golden", "nft-native-before.json", captureRules},
		{"nft-update.golden", "nft-native.json", []planner.Rule{crashplan}},
		{"nft-remove.golden", "nft-native.json", nil},
		{"nft-firewalld.golden", "nft-firewalld.json", captureRules},
		{"nft-ufw-remove.golden", "nft-ufw.json", nil},
	} {
		tx := knftables.NewFake("", "").NewTransaction()
		buildNftTx(tx, parseCapture(t, tc.capture), expand(tc.rules))
		golden(t, tc.golden, []byte(tx.String()))
	}
}

// Everything the transaction touches is ours: our table, chains named
// netplan42, and rules that are our jumps (by handle) or in our chains;
// also for the iptables backend's transactions on native tables.
func TestNftTransactionTouchesOnlyOurs(t *testing.T) {
	builds := map[string]func(*knftables.Transaction, *nftRuleset, []entry){
		"nftables": buildNftTx,
		"iptables (nf_tables)": func(tx *knftables.Transaction, rs *nftRuleset, es []entry) {
			hookTx(tx, rs, es, (&iptablesBackend{variant: "nf_tables"}).hookable)
		},
		"iptables (legacy)": func(tx *knftables.Transaction, rs *nftRuleset, es []entry) {
			hookTx(tx, rs, es, (&iptablesBackend{variant: "legacy"}).hookable)
		},
	}
	for backend, build := range builds {
		for _, capture := range []string{"nft-native-before.json", "nft-native.json", "nft-ufw.json", "nft-firewalld.json", "nft-ipt-inet-filter.json"} {
			rs := parseCapture(t, capture)
			for _, rules := range [][]planner.Rule{captureRules, nil, {crashplan}} {
				tx := knftables.NewFake("", "").NewTransaction()
				build(tx, rs, expand(rules))
				for _, line := range strings.Split(strings.TrimSpace(tx.String()), "\n") {
					if line == "" {
						continue
					}
					if !ours(rs, line) {
						t.Errorf("%s, %s: transaction line touches a foreign object: %s", backend, capture, line)
					}
				}
			}
		}
	}
}

func ours(rs *nftRuleset, line string) bool {
	f := strings.Fields(line)
	if len(f) < 4 {
		return false
	}
	verb, obj, family, table := f[0], f[1], f[2], f[3]
	if family == "inet" && table == TableNft {
		return true
	}
	switch obj {
	case "chain":
		return f[4] == ChainNft
	case "rule":
		chain := f[4]
		if chain == ChainNft {
			return true
		}
		if verb == "insert" {
			return strings.Join(f[5:], " ") == `jump netplan42 comment "netplan42"`
		}
		if verb == "delete" && f[5] == "handle" {
			t := rs.table(family, table)
			for _, r := range t.chains[chain].rules {
				if r.f.ourJump && strings.Join(f[5:], " ") == "handle "+itoa(r.handle) {
					return true
				}
			}
		}
	}
	return false
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// What a foreign nft rule does to new incoming 4242/tcp.
func TestNftRuleEffect(t *testing.T) {
	k := key{planner.TCP, 4242}
	for _, tc := range []struct {
		expr string
		want effect
		verd string
	}{
		{`[{"drop":null}]`, allEffect, "drop"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":4242}},{"drop":null}]`, allEffect, "drop"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":{"set":[22,80,{"range":[4000,5000]}]}}},{"reject":{"type":"icmpx","expr":"admin-prohibited"}}]`, allEffect, "reject"},
		{`[{"match":{"op":"!=","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":4242}},{"drop":null}]`, noEffect, "drop"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":4242}},{"drop":null}]`, noEffect, "drop"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":4242}},{"drop":null}]`, allEffect, "drop"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":"@blocked_ports"}},{"drop":null}]`, someEffect, "drop"},
		{`[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"lo"}},{"accept":null}]`, noEffect, "accept"},
		{`[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]`, noEffect, "accept"},
		{`[{"match":{"op":"==","left":{"ct":{"key":"state"}},"right":"invalid"}},{"drop":null}]`, noEffect, "drop"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@addr-set-sshd"}},{"reject":null}]`, someEffect, "reject"},
		{`[{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":{"set":["icmp","ipv6-icmp"]}}},{"accept":null}]`, noEffect, "accept"},
		{`[{"match":{"op":"==","left":{"payload":{"protocol":"icmp","field":"type"}},"right":"echo-request"}},{"accept":null}]`, noEffect, "accept"},
		{`[{"vmap":{"key":{"ct":{"key":"state"}},"data":{"set":[["invalid",{"drop":null}],["established",{"accept":null}]]}}}]`, noEffect, ""},
		{`[{"vmap":{"key":{"ct":{"key":"state"}},"data":{"set":[["new",{"jump":{"target":"zones"}}]]}}}]`, allEffect, "jump"},
		{`[{"xt":{"type":"match","name":"multiport"}},{"jump":{"target":"f2b-sshd"}}]`, someEffect, "jump"},
		{`[{"limit":{"rate":3,"per":"minute"}},{"drop":null}]`, someEffect, "drop"},
	} {
		var exprs []json.RawMessage
		if err := json.Unmarshal([]byte(tc.expr), &exprs); err != nil {
			t.Fatal(err)
		}
		f := nftFrule(exprs, "")
		if got := f.effect(k); got != tc.want || f.verdict != tc.verd {
			t.Errorf("%s: effect %d verdict %q, want %d %q (%+v)", tc.expr, got, f.verdict, tc.want, tc.verd, f)
		}
	}
}

func TestOwnEntryNft(t *testing.T) {
	rs := parseCapture(t, "nft-native.json")
	var got []entry
	for _, r := range rs.table("ip", "filter").chains[ChainNft].rules {
		e, ok := ownEntryNft(r, "ip")
		if !ok {
			t.Fatalf("our rule %q not parsed", r.f.text)
		}
		got = append(got, e)
	}
	if want := familyEntries(expand(captureRules), "ip"); !sameEntries(got, want) {
		t.Errorf("ip filter netplan42: %+v, want %+v", got, want)
	}
	// A foreign rule in our chain is not ours.
	var exprs []json.RawMessage
	json.Unmarshal([]byte(`[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":22}},{"drop":null}]`), &exprs)
	if _, ok := ownEntryNft(&nftRule{comment: "netplan42:a/b", exprs: exprs}, "inet"); ok {
		t.Error("a drop rule parsed as ours")
	}
}

func TestAttachText(t *testing.T) {
	rs := parseCapture(t, "nft-native.json")
	input := rs.table("inet", "filter").chains["input"]
	var texts []string
	for _, r := range input.rules {
		texts = append(texts, r.f.text)
	}
	want := `jump netplan42 comment "netplan42"|iif "lo" accept|ct state established,related accept|ct state invalid drop|meta l4proto { icmp, ipv6-icmp } accept|tcp dport 22 accept comment "admin: ssh"`
	if got := strings.Join(texts, "|"); got != want {
		t.Errorf("texts %q\nwant %q", got, want)
	}
}

// Sync sends one transaction; a failure is reported with the operation
// count and nft's message, and a permission failure says what to do.
func TestSyncNft(t *testing.T) {
	fr := &fakeRun{out: map[string]string{"nft -j list ruleset": string(readTestdata(t, "nft-native-before.json"))}}
	runner := &recordingNft{}
	b := &nftBackend{run: fr.run, nft: runner}
	if err := b.sync(context.Background(), captureRules); err != nil {
		t.Fatal(err)
	}
	if len(runner.txs) != 1 {
		t.Fatalf("%d transactions, want 1", len(runner.txs))
	}
	runner.err = errors.New("Error: Could not process rule: Operation not permitted\n")
	err := b.sync(context.Background(), captureRules)
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "one transaction, nothing applied") {
		t.Errorf("error %v", err)
	}
	if err := b.sync(context.Background(), []planner.Rule{{Protocol: "sctp", Port: 1, Sources: planner.AnySource, Comment: "netplan42:a/b"}}); err == nil {
		t.Error("sctp accepted")
	}
}

type recordingNft struct {
	txs []string
	err error
}

func (r *recordingNft) NewTransaction() *knftables.Transaction {
	return knftables.NewFake("", "").NewTransaction()
}

func (r *recordingNft) Run(ctx context.Context, tx *knftables.Transaction) error {
	r.txs = append(r.txs, tx.String())
	return r.err
}

func TestAutoChoice(t *testing.T) {
	for _, tc := range []struct {
		file        string
		iptables    bool
		legacyRules bool
		want        string
	}{
		{"nft-native.json", true, false, "nftables"},
		{"nft-firewalld.json", true, false, "nftables"},
		{"nft-ufw.json", true, false, "nftables"}, // our table is there: keep using nftables
	} {
		if got := autoChoice(parseCapture(t, tc.file), tc.iptables, tc.legacyRules); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.file, got, tc.want)
		}
	}
	ipt, _ := parseNftJSON([]byte(`{"nftables":[{"metainfo":{"json_schema_version":1}},{"table":{"family":"ip","name":"filter"}},{"chain":{"family":"ip","table":"filter","name":"INPUT","type":"filter","hook":"input","prio":0,"policy":"drop"}}]}`))
	empty, _ := parseNftJSON([]byte(`{"nftables":[{"metainfo":{"json_schema_version":1}}]}`))
	for _, tc := range []struct {
		rs          *nftRuleset
		legacyRules bool
		want        string
	}{
		{ipt, false, "iptables"},
		{empty, true, "iptables"},
		{empty, false, "nftables"},
	} {
		if got := autoChoice(tc.rs, true, tc.legacyRules); got != tc.want {
			t.Errorf("autoChoice: %q, want %q", got, tc.want)
		}
	}
}

func FuzzParseNftJSON(f *testing.F) {
	for _, name := range []string{"nft-native.json", "nft-firewalld.json", "nft-ufw.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"nftables":[{"rule":{"family":"inet","table":"x","chain":"y","expr":[{"match":{"left":7,"right":{"set":[{"range":[1]}]}}},{"vmap":{"key":1,"data":{"set":[[1]]}}}]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseNftJSON(b)
		if err != nil {
			return
		}
		observeNft(rs)
		buildNftTx(knftables.NewFake("", "").NewTransaction(), rs, expand(captureRules))
		observeHooks(rs, expand(captureRules), (&iptablesBackend{variant: "legacy"}).hookable, "fuzz")
		hookTx(knftables.NewFake("", "").NewTransaction(), rs, expand(captureRules), (&iptablesBackend{variant: "nf_tables"}).hookable)
		rs.attachText(b)
	})
}
