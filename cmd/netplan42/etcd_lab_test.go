//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/lab"
)

// TestLabEtcdBackend: a real apply against miniupnpd with the state, its
// lock and the report in etcd. etcd runs on the loopback of the LAN host
// h1, inside the lab, and netplan42 runs there too: a second apply while
// the first waits at its prompt is refused naming it; show reads the state
// from etcd; fleet status shows the report; destroy empties the state.
func TestLabEtcdBackend(t *testing.T) {
	lab.Require(t)
	etcdtest.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 1, NoNATPMP: true})
	h := l.Host(1)
	cl := etcdtest.StartWith(t, 1, etcdtest.Options{Command: h.Command, DialContext: h.DialContext})
	block := fmt.Sprintf("backend \"etcd\" {\n  endpoints = [%q]\n  prefix    = \"/lab\"\n}\n", cl.Members[0].ClientURL)
	dir := writeConfig(t, block+labConfig(`["upnp"]`, "none", computerBlock("h1", `"auto"`)))
	np := func(stdin string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := h.Command(ctx, binary, append(args, "--config", dir)...)
		return runCmd(t, cmd, stdin)
	}
	r := np("", "plan", "--computer", "h1")
	r.want(t, 0, "etcd at "+cl.Members[0].ClientURL+": assigned port 1024 to computer.h1 service \"crashplan\"", `+ router_mapping.crashplan["tcp"]`)

	// The first apply holds the lock in etcd while it asks for "yes".
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := h.Command(ctx, binary, "apply", "--config", dir, "--computer", "h1")
	stdin, _ := first.StdinPipe()
	stdout, _ := first.StdoutPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	buf := make([]byte, 64*1024)
	seen := ""
	for !strings.Contains(seen, "Enter a value") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("first apply ended before its prompt: %v\n%s", err, seen)
		}
		seen += string(buf[:n])
	}
	start := time.Now()
	second := np("", "apply", "--computer", "h1", "--auto-approve")
	second.want(t, 1, "state /lab/computers/h1/state is locked by apply", fmt.Sprintf("pid %d", first.Process.Pid), "etcd lease")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the second apply took %s to fail; it must fail at once", d)
	}
	t.Log(strings.TrimSpace(second.stderr))
	first.Process.Signal(syscall.SIGINT)
	stdin.Close()
	io.Copy(io.Discard, stdout)
	first.Wait()

	np("", "apply", "--computer", "h1", "--auto-approve").want(t, 0, "Apply complete! Resources: 1 added")
	if got := grepLines(upnpcLines(t, l, 1), "netplan42:h1/crashplan"); len(got) != 1 || !strings.Contains(got[0], "1024->192.0.2.10:1024") {
		t.Fatalf("upnpc -l shows %q, want our mapping of port 1024", got)
	}
	r = np("", "show", "--computer", "h1")
	r.want(t, 0, "/lab/computers/h1/state", `router_mapping.crashplan["tcp"]`)
	t.Log("\n" + r.stdout)
	r = np("", "fleet", "status")
	r.want(t, 0, "computer.h1  reporting", "mappings 1 of 1 open", "external address 11.0.0.1")
	t.Log("\n" + r.stdout)
	// status and output read the state from etcd too.
	np("", "status", "--computer", "h1", "--json").want(t, 0, `"/lab/computers/h1/state"`)
	np("", "output", "--computer", "h1").want(t, 0, "11.0.0.1")
	np("", "plan", "--computer", "h1", "--detailed-exitcode").want(t, 0, "No changes.")
	np("", "destroy", "--computer", "h1", "--auto-approve").want(t, 0, "Destroy complete!", "1 destroyed")
	if got := grepLines(upnpcLines(t, l, 1), "netplan42"); len(got) != 0 {
		t.Errorf("mappings left after destroy: %q", got)
	}
}

// upnpcLines is labRun.upnpcLines for a lab without a labRun.
func upnpcLines(t *testing.T, l *lab.Lab, i int) []string {
	r := &labRun{t: t, l: l}
	return r.upnpcLines(i)
}

// TestLabEtcdAgent: the agent maps the port with its state in etcd and
// reports each pass; with etcd stopped it keeps the mapping and keeps
// running, and once etcd is back its reports resume, the claim unchanged.
func TestLabEtcdAgent(t *testing.T) {
	lab.Require(t)
	etcdtest.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 1, NoNATPMP: true})
	h := l.Host(1)
	cl := etcdtest.StartWith(t, 1, etcdtest.Options{Command: h.Command, DialContext: h.DialContext})
	member := cl.Members[0]
	block := fmt.Sprintf("backend \"etcd\" {\n  endpoints  = [%q]\n  prefix     = \"/lab\"\n  report_ttl = \"10s\"\n}\n", member.ClientURL)
	r := &labRun{t: t, l: l, dir: writeConfig(t, block+labConfig(`["upnp"]`, "none", computerBlock("h1", `"auto"`))), state: t.TempDir()}
	np := func(args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return runCmd(t, h.Command(ctx, binary, append(args, "--config", r.dir)...), "")
	}
	// The agent, with its state in etcd (no --state).
	cmd := h.Command(context.Background(), binary, "agent", "--config", r.dir, "--computer", "h1", "--interval", "2s")
	a := &runningAgent{cmd: cmd, logs: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs.String())
		}
	})
	eventually(t, 30*time.Second, "the agent maps port 1024", func() bool { return r.ours(t) == 1 })
	eventually(t, 20*time.Second, "fleet status shows the agent's report", func() bool {
		out := np("fleet", "status")
		return out.code == 0 && strings.Contains(out.stdout, "by agent") && strings.Contains(out.stdout, "mappings 1 of 1 open")
	})

	member.Stop()
	stopped := time.Now()
	// A pass fails within one request's time-out (10 s), says why, and
	// the agent retries with backoff.
	eventually(t, 30*time.Second, "the agent logs a failed pass naming etcd", func() bool {
		return strings.Contains(a.logs.String(), "reconcile failed") && strings.Contains(a.logs.String(), "etcd at "+member.ClientURL)
	})
	t.Logf("first failed pass logged %s after etcd stopped", time.Since(stopped).Round(100*time.Millisecond))
	select {
	case err := <-a.done:
		t.Fatalf("the agent exited with etcd down: %v\n%s", err, a.logs.String())
	default:
	}
	if n := r.ours(t); n != 1 {
		t.Errorf("with etcd down the router holds %d of our mappings; want the 1 kept", n)
	}
	t.Logf("agent log with etcd down (excerpt):\n%s", lastLines(a.logs.String(), 1))

	member.Restart(t)
	eventually(t, 60*time.Second, "the agent reports again after etcd is back", func() bool {
		out := np("fleet", "status", "--json")
		i := strings.Index(out.stdout, `"time": "`)
		if out.code != 0 || i < 0 {
			return false
		}
		at, err := time.Parse(time.RFC3339Nano, out.stdout[i+9:strings.IndexByte(out.stdout[i+9:], '"')+i+9])
		return err == nil && at.After(stopped)
	})
	np("port", "crashplan", "--computer", "h1").want(t, 0, "1024")
	if n := r.ours(t); n != 1 {
		t.Errorf("after etcd came back the router holds %d of our mappings; want 1", n)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestLabEtcdClusterMidApply: netplan42 applies against miniupnpd with its
// state in a three-member cluster; the leader is killed while the apply
// waits at its prompt, holding the lock. The apply completes on the two
// members left, and the state is whole on the killed member once it is
// back.
func TestLabEtcdClusterMidApply(t *testing.T) {
	lab.Require(t)
	etcdtest.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 1, NoNATPMP: true})
	h := l.Host(1)
	cl := etcdtest.StartWith(t, 3, etcdtest.Options{Command: h.Command, DialContext: h.DialContext})
	eps := `"` + strings.Join(cl.Endpoints(), `", "`) + `"`
	block := fmt.Sprintf("backend \"etcd\" {\n  endpoints = [%s]\n  prefix    = \"/lab\"\n}\n", eps)
	dir := writeConfig(t, block+labConfig(`["upnp"]`, "none", computerBlock("h1", `"auto"`)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	apply := h.Command(ctx, binary, "apply", "--config", dir, "--computer", "h1")
	stdin, _ := apply.StdinPipe()
	out := &syncBuf{}
	apply.Stdout, apply.Stderr = out, out
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apply.Process.Kill(); apply.Wait() })
	eventually(t, 30*time.Second, "apply asks for yes", func() bool { return strings.Contains(out.String(), "Enter a value") })

	// Kill the leader, as a crash would.
	leader := findLeader(t, cl, h)
	leader.Kill()
	killed := time.Now()
	io.WriteString(stdin, "yes\n")
	stdin.Close()
	if err := apply.Wait(); err != nil {
		t.Fatalf("apply after the leader was killed: %v\n%s", err, out.String())
	}
	t.Logf("leader %s killed at the prompt; apply finished %s later", leader.Name, time.Since(killed).Round(100*time.Millisecond))
	if !strings.Contains(out.String(), "Apply complete! Resources: 1 added") {
		t.Fatalf("apply output:\n%s", out.String())
	}
	if got := grepLines(upnpcLines(t, l, 1), "netplan42:h1/crashplan"); len(got) != 1 {
		t.Fatalf("upnpc -l shows %q, want our mapping", got)
	}
	leader.Restart(t)
	// The restarted member alone holds the whole state.
	alone := writeConfig(t, fmt.Sprintf("backend \"etcd\" {\n  endpoints = [%q]\n  prefix    = \"/lab\"\n}\n", leader.ClientURL)+
		labConfig(`["upnp"]`, "none", computerBlock("h1", `"auto"`)))
	eventually(t, 20*time.Second, "the restarted member serves the state", func() bool {
		r := runCmd(t, h.Command(ctx, binary, "show", "--config", alone, "--computer", "h1"), "")
		return r.code == 0 && strings.Contains(r.stdout, "serial 1") && strings.Contains(r.stdout, "TCP 1024 -> 192.0.2.10:1024")
	})
	np := func(args ...string) result {
		return runCmd(t, h.Command(ctx, binary, append(args, "--config", dir)...), "")
	}
	np("plan", "--computer", "h1", "--detailed-exitcode").want(t, 0, "No changes.")
	np("destroy", "--computer", "h1", "--auto-approve").want(t, 0, "1 destroyed")
}

// findLeader returns the cluster's leader, as each member's
// /v3/maintenance/status (etcd's JSON gateway) says, asked from inside h.
func findLeader(t *testing.T, cl *etcdtest.Cluster, h *lab.Namespace) *etcdtest.Member {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: h.DialContext}}
	for _, m := range cl.Members {
		resp, err := c.Post(m.ClientURL+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Header struct {
				MemberID string `json:"member_id"`
			} `json:"header"`
			Leader string `json:"leader"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("status of %s: %v", m.Name, err)
		}
		if st.Leader != "" && st.Leader == st.Header.MemberID {
			return m
		}
	}
	t.Fatal("no member says it is the leader")
	return nil
}
