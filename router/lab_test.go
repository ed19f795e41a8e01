//go:build linux

package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
)

func TestMain(m *testing.M) {
	children := lab.Children()
	maps.Copy(children, map[string]lab.ChildFunc{
		"router-do": childDo,
		"bulk-add":  childBulkAdd,
	})
	lab.ChildMain(m, children)
}

// doRequest is what the router-do child runs inside a LAN host: Open, then
// each op in turn.
type doRequest struct {
	Protocols  []schema.Via
	Remembered string            // Config.Remembered
	Pinholes   []planner.Pinhole // Config.Pinholes
	Ops        []doOp
}

type doOp struct {
	Op      string // observe, add, delete, addpinhole, deletepinhole
	Want    []planner.MappingKey
	Mapping planner.Mapping
	Pinhole planner.Pinhole
}

type doResult struct {
	Err        string
	NotOurs    bool
	Conflict   bool
	NoExternal bool
	Manual     bool
	View       planner.RouterView
	Grant      planner.Grant
	Pinhole    planner.Pinhole
}

type doReply struct {
	Protocol schema.Via
	OpenTime time.Duration
	Results  []doResult
}

func childDo(ctx context.Context, args []string) error {
	var req doRequest
	if err := json.Unmarshal([]byte(args[0]), &req); err != nil {
		return err
	}
	start := time.Now()
	r, err := Open(ctx, Config{Protocols: req.Protocols, Remembered: req.Remembered, Pinholes: req.Pinholes})
	if err != nil {
		return err
	}
	rep := doReply{Protocol: r.Protocol(), OpenTime: time.Since(start)}
	for _, op := range req.Ops {
		var res doResult
		var err error
		switch op.Op {
		case "observe":
			res.View, err = r.Observe(ctx, op.Want)
		case "add":
			res.Grant, err = r.Add(ctx, op.Mapping)
		case "delete":
			err = r.Delete(ctx, op.Mapping)
		case "addpinhole":
			res.Pinhole, err = r.AddPinhole(ctx, op.Pinhole)
		case "deletepinhole":
			err = r.DeletePinhole(ctx, op.Pinhole)
		}
		if err != nil {
			res.Err = err.Error()
			res.NotOurs = errors.Is(err, planner.ErrNotOurs)
			res.Conflict = errors.Is(err, ErrConflict)
			res.NoExternal = errors.Is(err, ErrNoExternalAddress)
			res.Manual = errors.Is(err, ErrManual)
		}
		rep.Results = append(rep.Results, res)
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// do runs req in LAN host i of l.
func do(t *testing.T, l *lab.Lab, i int, req doRequest) doReply {
	t.Helper()
	b, _ := json.Marshal(req)
	out, err := l.Host(i).Child(context.Background(), "router-do", string(b))
	if err != nil {
		t.Fatalf("router-do in host%d: %v", i, err)
	}
	var rep doReply
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("router-do output %q: %v", out, err)
	}
	return rep
}

// childBulkAdd maps args[1] TCP ports from args[0] upward to this host
// with AddPortMapping alone, fast, to fill the router's table.
func childBulkAdd(ctx context.Context, args []string) error {
	base, _ := strconv.Atoi(args[0])
	n, _ := strconv.Atoi(args[1])
	r, err := Open(ctx, Config{Protocols: []schema.Via{"upnp"}})
	if err != nil || r.Protocol() != schema.ViaUPnP {
		return fmt.Errorf("open: %v %v", err, r.notes)
	}
	for i := 0; i < n; i++ {
		m := planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(base + i), InternalAddress: r.e.local,
			InternalPort: uint16(base + i), Description: fmt.Sprintf("bulk %d", i), LeaseSeconds: 3600}
		if err := r.sess.(*upnpSession).d.addOnce(ctx, m, 3600, r.e.timeout); err != nil {
			return err
		}
	}
	return nil
}

// upnpcList returns the mapping lines of `upnpc -l` run in host i, with
// the remaining lease (the last field, which counts down) cut off.
func upnpcList(t *testing.T, l *lab.Lab, i int) []string {
	t.Helper()
	out := l.Host(i).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-l")
	var lines []string
	re := regexp.MustCompile(`^\s*\d+\s+(TCP|UDP)\s`)
	for _, line := range strings.Split(out, "\n") {
		if re.MatchString(line) {
			if j := strings.LastIndexByte(strings.TrimRight(line, " "), ' '); j > 0 {
				line = line[:j]
			}
			lines = append(lines, line)
		}
	}
	return lines
}

func mustOK(t *testing.T, what string, r doResult) {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("%s: %s", what, r.Err)
	}
}

func TestLabUPnPv2(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	url := l.RootDescURL()
	// Foreign mappings: one from another host, one from this host with a
	// description that is not ours.
	l.Host(2).MustRun(t, "upnpc", "-u", url, "-e", "game console", "-a", "192.0.2.11", "5001", "5001", "TCP", "0")
	l.Host(1).MustRun(t, "upnpc", "-u", url, "-e", "other app", "-a", "192.0.2.10", "5002", "5002", "UDP", "3600")
	before := upnpcList(t, l, 1)
	if len(before) != 2 {
		t.Fatalf("upnpc -l before: %q", before)
	}

	m := ours(4242, 3600)
	rep := do(t, l, 1, doRequest{Ops: []doOp{
		{Op: "observe", Want: []planner.MappingKey{m.Key()}},
		{Op: "add", Mapping: m},
		{Op: "observe"},
	}})
	t.Logf("open took %v; protocol %s", rep.OpenTime, rep.Protocol)
	if rep.Protocol != schema.ViaUPnP {
		t.Fatalf("protocol %q; notes %q", rep.Protocol, rep.Results[0].View.Notes)
	}
	if rep.OpenTime > time.Second {
		t.Errorf("discovery took %v, want well under a second", rep.OpenTime)
	}
	for _, r := range rep.Results {
		mustOK(t, "op", r)
	}
	v := rep.Results[0].View
	t.Logf("view: detail=%q identity=%q external=%s internal=%s listed=%v mappings=%d notes=%q",
		v.Detail, v.Identity, v.ExternalAddress, v.InternalAddress, v.Listed, len(v.Mappings), v.Notes)
	if v.Detail != "UPnP IGD v2 (WANIPConnection:2) at "+url {
		t.Errorf("Detail = %q", v.Detail)
	}
	if !strings.Contains(v.Identity, url) || !strings.Contains(v.Identity, "bootid=") {
		t.Errorf("Identity = %q", v.Identity)
	}
	if v.ExternalAddress != l.RouterWAN() || v.InternalAddress != l.HostAddr(1) || v.Gateway != l.RouterLAN() {
		t.Errorf("addresses: external %s internal %s gateway %s", v.ExternalAddress, v.InternalAddress, v.Gateway)
	}
	if !v.Listed || len(v.Mappings) != 2 {
		t.Fatalf("first view: listed=%v mappings=%+v", v.Listed, v.Mappings)
	}
	g := rep.Results[1].Grant
	t.Logf("grant: %+v", g)
	if g.Mapping.InternalAddress != l.HostAddr(1) || g.Mapping.LeaseSeconds == 0 || g.Mapping.LeaseSeconds > 3600 || g.PermanentOnly {
		t.Errorf("grant %+v", g)
	}
	got, ok := findMapping(rep.Results[2].View, m.Key())
	if !ok || got.Description != "netplan42:nas/crashplan" || got.InternalAddress != l.HostAddr(1) {
		t.Fatalf("after add, view has %+v (%v)", got, ok)
	}

	// Independent client: upnpc lists ours with our tag; real traffic flows.
	during := upnpcList(t, l, 2)
	if len(during) != 3 || !strings.Contains(during[2], "4242->192.0.2.10:4242") || !strings.Contains(during[2], "'netplan42:nas/crashplan'") {
		t.Fatalf("upnpc -l after add: %q", during)
	}
	t.Logf("upnpc -l: %s", during[2])
	from, err := l.ProveForward(context.Background(), 1, 4242, 4242)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("connection to %s:4242 arrived at host1 from %s", l.RouterWAN(), from)
	if from.Addr() != l.InternetAddr() {
		t.Errorf("connection came from %s, want %s", from, l.InternetAddr())
	}

	rep = do(t, l, 1, doRequest{Ops: []doOp{{Op: "delete", Mapping: g.Mapping}, {Op: "delete", Mapping: g.Mapping}, {Op: "observe"}}})
	for _, r := range rep.Results {
		mustOK(t, "delete/observe", r)
	}
	if _, ok := findMapping(rep.Results[2].View, m.Key()); ok || len(rep.Results[2].View.Mappings) != 2 {
		t.Fatalf("after delete: %+v", rep.Results[2].View.Mappings)
	}
	after := upnpcList(t, l, 1)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("foreign mappings changed:\nbefore %q\nafter  %q", before, after)
	}
}

func TestLabConflict(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	l.Host(2).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-e", "nas2 crashplan", "-a", "192.0.2.11", "4242", "4242", "TCP", "0")
	before := upnpcList(t, l, 1)
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "add", Mapping: ours(4242, 3600)}}})
	r := rep.Results[0]
	t.Logf("add error: %s", r.Err)
	if !r.Conflict || !strings.Contains(r.Err, "192.0.2.11:4242") || !strings.Contains(r.Err, "nas2 crashplan") || !strings.Contains(r.Err, "718") {
		t.Fatalf("want a conflict naming the holder, got %+v", r)
	}
	if after := upnpcList(t, l, 1); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("holder's mapping changed: %q -> %q", before, after)
	}
}

// TestLabDeleteNotOurs deletes by what state remembers (as destroy
// --refresh=false does) after another host took the port: host1 mapped
// 4242, its mapping went away, host2 mapped 4242 for itself. host1's
// Delete must leave host2's mapping alone and say whose it is. miniupnpd
// runs with secure_mode=yes and would refuse another host's delete with
// 606 anyway; the check has to stop it earlier, before any
// DeletePortMapping, as it must on routers without secure mode
// (TestFakeDeleteChecksOwner).
func TestLabDeleteNotOurs(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	url := l.RootDescURL()
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "add", Mapping: ours(4242, 3600)}}})
	mustOK(t, "add", rep.Results[0])
	remembered := rep.Results[0].Grant.Mapping
	t.Logf("host1 mapped %s %q", remembered, remembered.Description)

	logStart := len(l.Log())
	l.Host(1).MustRun(t, "upnpc", "-u", url, "-d", "4242", "TCP")
	if log := l.Log()[logStart:]; !strings.Contains(log, "DeletePortMapping") {
		t.Fatalf("miniupnpd does not log DeletePortMapping: the check below would prove nothing; log:\n%s", log)
	}
	l.Host(2).MustRun(t, "upnpc", "-u", url, "-e", "CrashPlan on h2", "-a", "192.0.2.11", "4242", "4242", "TCP", "0")
	// upnpcList cuts off only the remaining lease, which counts down
	// (IGD v2 turns a permanent 0 into 604800 s).
	before := upnpcList(t, l, 2)
	if len(before) != 1 || !strings.Contains(before[0], "4242->192.0.2.11:4242") || !strings.Contains(before[0], "'CrashPlan on h2'") {
		t.Fatalf("upnpc -l before: %q", before)
	}
	t.Logf("upnpc -l: %s", before[0])
	logStart = len(l.Log())

	rep = do(t, l, 1, doRequest{Ops: []doOp{{Op: "delete", Mapping: remembered}}})
	r := rep.Results[0]
	t.Logf("delete error: %s", r.Err)
	if !r.NotOurs || !strings.Contains(r.Err, `is now held by 192.0.2.11:4242 "CrashPlan on h2"; not deleting it`) {
		t.Errorf("want ErrNotOurs naming the holder, got %+v", r)
	}
	if log := l.Log()[logStart:]; strings.Contains(log, "DeletePortMapping") {
		t.Errorf("a DeletePortMapping reached the router:\n%s", log)
	}
	if after := upnpcList(t, l, 2); !slices.Equal(after, before) {
		t.Fatalf("holder's mapping changed: %q -> %q", before, after)
	}
}

func TestLabNATPMPOnly(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{NoUPnP: true})
	m := ours(4243, 600)
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: m}}})
	t.Logf("open took %v; protocol %s", rep.OpenTime, rep.Protocol)
	if rep.Protocol != schema.ViaNATPMP {
		t.Fatalf("protocol %q", rep.Protocol)
	}
	if rep.OpenTime > 1500*time.Millisecond {
		t.Errorf("discovery took %v", rep.OpenTime)
	}
	for _, r := range rep.Results {
		mustOK(t, "op", r)
	}
	v, g := rep.Results[0].View, rep.Results[1].Grant
	t.Logf("view: %+v", v)
	t.Logf("grant: %+v", g)
	if v.Listed || len(v.Mappings) != 0 || !v.HasEpoch || v.ExternalAddress != l.RouterWAN() || v.Detail != "NAT-PMP at 192.0.2.1:5351" {
		t.Errorf("view %+v", v)
	}
	if g.Mapping.ExternalPort != 4243 || g.Mapping.LeaseSeconds == 0 || g.Mapping.LeaseSeconds > 600 || !g.HasEpoch {
		t.Errorf("grant %+v", g)
	}
	// Independent evidence: miniupnpd's DNAT rule and real traffic.
	rules := l.Router().MustRun(t, "iptables-legacy", "-t", "nat", "-S", "MINIUPNPD")
	if !strings.Contains(rules, "--dport 4243 -j DNAT") {
		t.Fatalf("router's rules:\n%s", rules)
	}
	from, err := l.ProveForward(context.Background(), 1, 4243, 4243)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("connection arrived from %s", from)
	// natpmpc, another client, asks for the same mapping and is given it.
	out := l.Host(1).MustRun(t, "natpmpc", "-g", "192.0.2.1", "-a", "4243", "4243", "tcp", "600")
	if !strings.Contains(out, "Mapped public port 4243 protocol TCP to local port 4243") {
		t.Errorf("natpmpc:\n%s", out)
	}
	rep = do(t, l, 1, doRequest{Ops: []doOp{{Op: "delete", Mapping: g.Mapping}}})
	mustOK(t, "delete", rep.Results[0])
	if rules := l.Router().MustRun(t, "iptables-legacy", "-t", "nat", "-S", "MINIUPNPD"); strings.Contains(rules, "4243") {
		t.Fatalf("rule left after delete:\n%s", rules)
	}
}

func TestLabIGDv1(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, IGDv1: true, NoNATPMP: true})
	l.Host(2).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-e", "foreign", "-a", "192.0.2.11", "6000", "6000", "UDP", "0")
	m := ours(4242, 0)
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "add", Mapping: m}, {Op: "observe"}}})
	for _, r := range rep.Results {
		mustOK(t, "op", r)
	}
	v := rep.Results[1].View
	t.Logf("view: detail=%q listed=%v mappings=%+v notes=%q", v.Detail, v.Listed, v.Mappings, v.Notes)
	t.Logf("grant: %+v", rep.Results[0].Grant)
	if !strings.HasPrefix(v.Detail, "UPnP IGD v1 (WANIPConnection:1) at ") || !v.Listed || len(v.Mappings) != 2 {
		t.Fatalf("view %+v", v)
	}
	if list := upnpcList(t, l, 1); len(list) != 2 || !strings.Contains(list[1], "'netplan42:nas/crashplan'") {
		t.Fatalf("upnpc -l: %q", list)
	}
	rep = do(t, l, 1, doRequest{Ops: []doOp{{Op: "delete", Mapping: m}, {Op: "observe"}}})
	if v := rep.Results[1].View; len(v.Mappings) != 1 || v.Mappings[0].ExternalPort != 6000 {
		t.Fatalf("after delete: %+v", v.Mappings)
	}
}

func TestLabRogueSSDP(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	type res struct {
		out string
		err error
	}
	rogue := make(chan res, 1)
	go func() {
		out, err := l.Host(2).Child(context.Background(), "lab-rogue-ssdp", "3", l.HostAddr(2).String())
		rogue <- res{out, err}
	}()
	time.Sleep(500 * time.Millisecond) // let the rogue join the group
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}}})
	mustOK(t, "observe", rep.Results[0])
	r := <-rogue
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("rogue: %s; router: %s", strings.TrimSpace(r.out), rep.Results[0].View.Detail)
	var searches, hits int
	fmt.Sscanf(r.out, "msearch=%d http=%d", &searches, &hits)
	if searches == 0 {
		t.Fatalf("the rogue heard no M-SEARCH: the test proves nothing")
	}
	if hits != 0 {
		t.Fatalf("the rogue's HTTP server was contacted %d times", hits)
	}
	if rep.Protocol != schema.ViaUPnP || !strings.Contains(rep.Results[0].View.Detail, "http://192.0.2.1:") {
		t.Fatalf("discovery did not find the real router: %+v", rep)
	}
}

func TestLab1000Foreign(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	start := time.Now()
	if _, err := l.Host(2).Child(context.Background(), "bulk-add", "20000", "1000"); err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 foreign mappings made in %v", time.Since(start))
	start = time.Now()
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}}})
	mustOK(t, "observe", rep.Results[0])
	v := rep.Results[0].View
	t.Logf("observe (with open) took %v: listed=%v mappings=%d notes=%q", time.Since(start), v.Listed, len(v.Mappings), v.Notes)
	seen := map[uint16]bool{}
	for _, m := range v.Mappings {
		if m.InternalAddress == l.HostAddr(2) && strings.HasPrefix(m.Description, "bulk ") {
			seen[m.ExternalPort] = true
		}
	}
	if !v.Listed || len(seen) != 1000 || len(v.Mappings) != 1000 {
		t.Fatalf("listed %v, %d mappings, %d distinct foreign", v.Listed, len(v.Mappings), len(seen))
	}
	out := l.Host(1).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-L")
	if n := strings.Count(out, "192.0.2.11"); n != 1000 {
		t.Errorf("upnpc -L shows %d mappings", n)
	}
}

func TestLabCGNAT(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{WAN: lab.CGNATWAN})
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: ours(4242, 3600)}}})
	v, r := rep.Results[0].View, rep.Results[1]
	mustOK(t, "observe", rep.Results[0])
	t.Logf("view: protocol=%s external=%v notes=%q", v.Protocol, v.ExternalAddress, v.Notes)
	t.Logf("add error: %s", r.Err)
	if v.Protocol != schema.ViaUPnP || v.ExternalAddress.IsValid() || !strings.Contains(strings.Join(v.Notes, " "), "no external address") {
		t.Errorf("view %+v", v)
	}
	if !r.NoExternal || !strings.Contains(r.Err, "no public") || !strings.Contains(r.Err, "CGNAT") {
		t.Errorf("add: want a clear no-public-address error, got %q", r.Err)
	}
	rep = do(t, l, 1, doRequest{Protocols: []schema.Via{"natpmp"}, Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: ours(4242, 3600)}}})
	v, r = rep.Results[0].View, rep.Results[1]
	t.Logf("natpmp view: protocol=%s external=%v notes=%q", v.Protocol, v.ExternalAddress, v.Notes)
	t.Logf("natpmp add error: %s", r.Err)
	if v.Protocol != schema.ViaNATPMP || !r.NoExternal {
		t.Errorf("natpmp: view %+v, add %+v", v, r)
	}
}

func TestLabRestartFlush(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{})
	m := ours(4244, 3600)
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "add", Mapping: m}, {Op: "observe"}}})
	mustOK(t, "add", rep.Results[0])
	id1 := rep.Results[1].View.Identity
	if _, ok := findMapping(rep.Results[1].View, m.Key()); !ok {
		t.Fatal("mapping not there after add")
	}
	time.Sleep(2100 * time.Millisecond) // let the NAT-PMP epoch grow
	pm := do(t, l, 1, doRequest{Protocols: []schema.Via{"natpmp"}, Ops: []doOp{{Op: "observe"}}})
	e1 := pm.Results[0].View.Epoch
	if err := l.RestartRouter(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	rep = do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}}})
	pm = do(t, l, 1, doRequest{Protocols: []schema.Via{"natpmp"}, Ops: []doOp{{Op: "observe"}}})
	e2 := pm.Results[0].View.Epoch
	v := rep.Results[0].View
	t.Logf("epoch %d -> %d; identity %q -> %q; mappings after %d", e1, e2, id1, v.Identity, len(v.Mappings))
	if _, ok := findMapping(v, m.Key()); ok || !v.Listed {
		t.Errorf("mapping survived a flushing restart: %+v", v)
	}
	if e2 >= e1 || e1 < 2 {
		t.Errorf("epoch did not go back: %d -> %d", e1, e2)
	}
	if v.Identity == id1 {
		t.Errorf("identity unchanged across a restart: %q", v.Identity)
	}
	if list := upnpcList(t, l, 1); len(list) != 0 {
		t.Errorf("upnpc -l after restart: %q", list)
	}
}

func TestLabManual(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{NoDaemon: true})
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: ours(4242, 0)}}})
	v := rep.Results[0].View
	t.Logf("open took %v; view %+v; add error %s", rep.OpenTime, v, rep.Results[1].Err)
	if rep.Protocol != schema.ViaManual || v.Protocol != schema.ViaManual || len(v.Notes) < 2 || !rep.Results[1].Manual {
		t.Fatalf("%+v", rep)
	}
	if rep.OpenTime > 2*time.Second {
		t.Errorf("discovery took %v", rep.OpenTime)
	}
}

// TestLabDiscovery opens each kind of router with each protocol order and
// logs how long discovery took: the first protocol in the order that
// answers wins, and one that answers does so well under a second. A
// router refuses a closed port with ICMP port unreachable, which ends
// that probe at once, but it rate-limits those errors (Linux: 6 at once
// per peer, then 1 a second), so a discovery right after another may
// wait a probe's whole window.
func TestLabDiscovery(t *testing.T) {
	lab.Require(t)
	upnpFirst := []schema.Via{schema.ViaUPnP, schema.ViaNATPMP, schema.ViaManual}
	natpmpFirst := []schema.Via{schema.ViaNATPMP, schema.ViaUPnP, schema.ViaManual}
	for _, tc := range []struct {
		name  string
		spec  lab.Spec
		order []schema.Via
		want  schema.Via
		max   time.Duration
	}{
		{"both", lab.Spec{}, upnpFirst, schema.ViaUPnP, time.Second},
		{"both natpmp first", lab.Spec{}, natpmpFirst, schema.ViaNATPMP, time.Second},
		{"upnp only", lab.Spec{NoNATPMP: true}, upnpFirst, schema.ViaUPnP, time.Second},
		{"upnp only natpmp first", lab.Spec{NoNATPMP: true}, natpmpFirst, schema.ViaUPnP, time.Second},
		{"natpmp only", lab.Spec{NoUPnP: true}, upnpFirst, schema.ViaNATPMP, time.Second},
		{"natpmp only natpmp first", lab.Spec{NoUPnP: true}, natpmpFirst, schema.ViaNATPMP, time.Second},
		{"neither", lab.Spec{NoDaemon: true}, upnpFirst, schema.ViaManual, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lab.StartT(t, tc.spec)
			var times []string
			for i := range 3 {
				rep := do(t, l, 1, doRequest{Protocols: tc.order, Ops: []doOp{{Op: "observe"}}})
				times = append(times, rep.OpenTime.Round(time.Millisecond).String())
				notes := rep.Results[0].View.Notes
				if rep.Protocol != tc.want {
					t.Errorf("protocol %s, want %s; notes %q", rep.Protocol, tc.want, notes)
				}
				if i == 0 && tc.spec.NoDaemon && !strings.Contains(strings.Join(notes, " "), "192.0.2.1:1900: nothing listens there") {
					t.Errorf("the first search of a router without UPnP did not end on its refusal: %q", notes)
				}
				if rep.OpenTime > tc.max {
					t.Errorf("discovery took %v, want under %v", rep.OpenTime, tc.max)
				}
			}
			t.Logf("%s with order %v: %s in %s", tc.name, tc.order, tc.want, strings.Join(times, ", "))
		})
	}
}

// TestLabGrantDiffers reads back what miniupnpd granted when it is not
// what was asked, and says so: NAT-PMP gives another external port when
// another host holds the one asked for, and IGD v2 caps a lease at
// 604800 s.
func TestLabGrantDiffers(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	l.Host(2).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-e", "CrashPlan on h2", "-a", "192.0.2.11", "4242", "4242", "TCP", "0")
	rep := do(t, l, 1, doRequest{Protocols: []schema.Via{"natpmp"}, Ops: []doOp{{Op: "add", Mapping: ours(4242, 600)}}})
	mustOK(t, "natpmp add", rep.Results[0])
	g := rep.Results[0].Grant
	t.Logf("natpmp grant: %s, note %q", g.Mapping, g.Note)
	if g.Mapping.ExternalPort == 4242 || !strings.Contains(g.Note, fmt.Sprintf("router granted external port %d instead of 4242", g.Mapping.ExternalPort)) {
		t.Errorf("natpmp grant %+v", g)
	}
	if list := upnpcList(t, l, 1); !slices.ContainsFunc(list, func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("%d->192.0.2.10:4242", g.Mapping.ExternalPort))
	}) {
		t.Errorf("upnpc -l does not show the port granted: %q", list)
	}

	rep = do(t, l, 1, doRequest{Protocols: []schema.Via{"upnp"}, Ops: []doOp{{Op: "add", Mapping: ours(4300, 700000)}}})
	mustOK(t, "upnp add", rep.Results[0])
	g = rep.Results[0].Grant
	t.Logf("upnp grant: %s lease %d, note %q", g.Mapping, g.Mapping.LeaseSeconds, g.Note)
	if g.Mapping.LeaseSeconds > 604800 || !strings.Contains(g.Note, "(asked 700000 s)") {
		t.Errorf("upnp grant %+v", g)
	}
}

// TestLabRemembered opens miniupnpd from the identity an earlier view
// returned, as plan does with state: the view is the one discovery gives,
// and after a restart (a new BOOTID and HTTP port) it is the new
// router's, not the remembered one's.
func TestLabRemembered(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	if _, err := l.Host(2).Child(context.Background(), "bulk-add", "20000", "5"); err != nil {
		t.Fatal(err)
	}
	m := ours(4245, 0)
	rep := do(t, l, 1, doRequest{Ops: []doOp{{Op: "add", Mapping: m}, {Op: "observe"}}})
	mustOK(t, "add", rep.Results[0])
	want := rep.Results[1].View
	// Leases count down between two views; the rest must not differ.
	same := func(v planner.RouterView) string {
		v.Mappings = slices.Clone(v.Mappings)
		for i := range v.Mappings {
			v.Mappings[i].LeaseSeconds = 0
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for range 3 {
		rep = do(t, l, 1, doRequest{Remembered: want.Identity, Ops: []doOp{{Op: "observe"}}})
		mustOK(t, "observe", rep.Results[0])
		if got := rep.Results[0].View; same(got) != same(want) {
			t.Fatalf("view opened from %q:\n%s\nwant (discovery):\n%s", want.Identity, same(got), same(want))
		}
		t.Logf("opened from memory in %v", rep.OpenTime)
	}
	if err := l.RestartRouter(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	plain := do(t, l, 1, doRequest{Ops: []doOp{{Op: "observe"}}}).Results[0].View
	rep = do(t, l, 1, doRequest{Remembered: want.Identity, Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: ours(4246, 0)}}})
	mustOK(t, "observe after restart", rep.Results[0])
	mustOK(t, "add after restart", rep.Results[1])
	got := rep.Results[0].View
	t.Logf("identity %q -> %q", want.Identity, got.Identity)
	if got.Identity == want.Identity || got.Identity != plain.Identity || same(got) != same(plain) {
		t.Fatalf("after a restart, view opened from memory:\n%s\nwant (discovery):\n%s", same(got), same(plain))
	}
}
