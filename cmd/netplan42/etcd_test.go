//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/backend/etcd"
	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// etcdFleet is a config of three computers with port = "auto" on a
// manual router; backend is its backend block, or "".
func etcdFleet(backend string) string {
	var b strings.Builder
	b.WriteString(backend)
	b.WriteString(`
network "home" {
  listen_ports = "4200-4299"
  router {
    protocols = ["manual"]
  }
}
`)
	for _, c := range []string{"box", "nas", "pc"} {
		fmt.Fprintf(&b, `
computer %q {
  network  = "home"
  firewall = "none"
  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
  service "sync" {
    port     = "auto"
    protocol = "both"
  }
}
`, c)
	}
	return b.String()
}

func etcdBlock(endpoint string) string {
	return fmt.Sprintf("backend \"etcd\" {\n  endpoints = [%q]\n  prefix    = \"/office\"\n}\n", endpoint)
}

// TestEtcdClaimsCLI: plan --all claims the ports in etcd, a second plan
// claims nothing and shows the same ports, and netplan42 port reads them.
func TestEtcdClaimsCLI(t *testing.T) {
	m := etcdtest.Start(t)
	dir := writeConfig(t, etcdFleet(etcdBlock(m.ClientURL)))
	r := run(t, dir, nil, "", "plan", "--all")
	r.want(t, 0, "etcd at "+m.ClientURL+": assigned port 4200 to computer.box service \"crashplan\"", "Fleet:")
	first := r.stdout
	r = run(t, dir, nil, "", "plan", "--all")
	r.want(t, 0)
	if strings.Contains(r.stderr, "assigned") || r.stdout != first {
		t.Fatalf("second plan --all changed the claims:\n%s\n%s", r.stderr, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, schema.LockFileName)); err == nil {
		t.Error("plan with a backend wrote a lock file")
	}
	run(t, dir, nil, "", "port", "sync", "--computer", "pc").want(t, 0, "4205")
	// No etcd: a clear error naming the endpoint, and no lock file.
	m.Stop()
	start := time.Now()
	r = run(t, dir, nil, "", "plan", "--all")
	r.want(t, 1, "etcd at "+m.ClientURL, "read port claims")
	t.Logf("plan with etcd down failed after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.stderr))
}

// TestEtcdStateLock: the state lock is in etcd; a plan while another
// process holds it for apply is refused at once, naming it.
func TestEtcdStateLock(t *testing.T) {
	m := etcdtest.Start(t)
	dir := writeConfig(t, etcdFleet(etcdBlock(m.ClientURL)))
	c, err := etcd.Dial(&schema.Backend{Kind: schema.BackendEtcd, Endpoints: []string{m.ClientURL}, Prefix: "/office"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	unlock, err := c.ComputerStore("box").Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := run(t, dir, nil, "", "apply", "--computer", "box", "--auto-approve")
	r.want(t, 1, "state /office/computers/box/state is locked by apply (pid "+fmt.Sprint(os.Getpid()), "etcd lease")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("apply waited %s for a held lock", d)
	}
	t.Log(strings.TrimSpace(r.stderr))
	run(t, dir, nil, "", "plan", "--computer", "box").want(t, 1, "is locked by apply")
	unlock()
	run(t, dir, nil, "", "plan", "--computer", "box").want(t, 0)
}

// TestEtcdLockExportImport moves a lock file into etcd and back: the
// export is the lock file, byte for byte.
func TestEtcdLockExportImport(t *testing.T) {
	m := etcdtest.Start(t)
	git := writeConfig(t, etcdFleet(""))
	run(t, git, nil, "", "plan", "--all").want(t, 0, schema.LockFileName+": assigned")
	lock, err := os.ReadFile(filepath.Join(git, schema.LockFileName))
	if err != nil {
		t.Fatal(err)
	}
	dir := writeConfig(t, etcdFleet(etcdBlock(m.ClientURL)))
	in := filepath.Join(git, schema.LockFileName)
	run(t, dir, nil, "", "lock", "import", "-i", in).want(t, 0, "claimed 6 assignments of 6")
	run(t, dir, nil, "", "lock", "import", "-i", in).want(t, 0, "claimed 0 assignments of 6")
	r := run(t, dir, nil, "", "lock", "export", "-o", "-")
	r.want(t, 0)
	if !bytes.Equal([]byte(r.stdout), lock) {
		t.Fatalf("export of the import differs from the lock file:\n--- lock file\n%s\n--- export\n%s", lock, r.stdout)
	}
	run(t, dir, nil, "", "lock", "export").want(t, 0, "wrote 6 assignments")
	if b, _ := os.ReadFile(filepath.Join(dir, schema.LockFileName)); !bytes.Equal(b, lock) {
		t.Fatalf("exported lock file differs:\n%s", b)
	}
	// The claims give the ports of the lock file: a plan assigns nothing.
	r = run(t, dir, nil, "", "plan", "--all")
	r.want(t, 0)
	if strings.Contains(r.stderr, "assigned") {
		t.Errorf("plan after the import claimed ports: %s", r.stderr)
	}
	// A lock file that disagrees with the claims is refused whole.
	other := bytes.Replace(lock, []byte("port = 4200"), []byte("port = 4299"), 1)
	bad := filepath.Join(t.TempDir(), schema.LockFileName)
	os.WriteFile(bad, other, 0o644)
	run(t, dir, nil, "", "lock", "import", "-i", bad).want(t, 1, "is claimed on port 4200, the lock file says 4299", "nothing imported")
}

// TestEtcdFleetStatus: apply writes a report that fleet status shows;
// the other computers never reported; the report turns silent after its
// TTL; --watch sees a new report and the expiry as they happen.
func TestEtcdFleetStatus(t *testing.T) {
	m := etcdtest.Start(t)
	block := fmt.Sprintf("backend \"etcd\" {\n  endpoints  = [%q]\n  prefix     = \"/office\"\n  report_ttl = \"10s\"\n}\n", m.ClientURL)
	dir := writeConfig(t, etcdFleet(block))
	run(t, dir, nil, "", "fleet", "status").want(t, 0, "computer.box  NEVER REPORTED", "Fleet: 3 computers: 3 never reported.")

	watch := exec.Command(binary, "fleet", "status", "--watch")
	watch.Dir = dir
	watch.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Kill(); watch.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("fleet status --watch ended before %q", want)
				}
				if strings.Contains(l, want) {
					return time.Since(start)
				}
			case <-deadline:
				t.Fatalf("fleet status --watch printed no %q within %s", want, within)
			}
		}
	}
	waitLine("3 never reported", 10*time.Second)

	run(t, dir, nil, "", "apply", "--computer", "box", "--auto-approve").want(t, 0)
	applied := time.Now()
	r := run(t, dir, nil, "", "fleet", "status")
	r.want(t, 0, "computer.box  reporting, last ", "by apply, netplan42 ", "mappings 0 of 1 open (missing TCP 4200)", "firewall ok",
		"computer.nas  NEVER REPORTED", "Fleet: 3 computers: 1 reporting, 2 never reported.")
	t.Log("\n" + r.stdout)
	waitLine("1 reporting, 2 never reported", 10*time.Second)

	r = run(t, dir, nil, "", "fleet", "status", "--json")
	r.want(t, 0, `"status": "reporting"`, `"operation": "apply"`, `"mappings_missing": [`)

	// The report's lease of 10 s runs out: silent, seen by the watch.
	waitLine("1 silent, 2 never reported", 30*time.Second)
	t.Logf("watch saw the report expire %s after the apply (report_ttl 10s)", time.Since(applied).Round(100*time.Millisecond))
	r = run(t, dir, nil, "", "fleet", "status")
	r.want(t, 0, "computer.box  SILENT since ", "Fleet: 3 computers: 1 silent, 2 never reported.")
	t.Log("\n" + r.stdout)
}

// TestEtcdTwentyPlansAtOnce: 20 netplan42 processes, one per computer,
// plan at once against one etcd: 20 distinct ports, the same on a second
// round and after etcd restarts.
func TestEtcdTwentyPlansAtOnce(t *testing.T) {
	m := etcdtest.Start(t)
	var b strings.Builder
	b.WriteString(etcdBlock(m.ClientURL))
	b.WriteString("network \"home\" {\n  listen_ports = \"4200-4299\"\n  router {\n    protocols = [\"manual\"]\n  }\n}\n")
	for i := range 20 {
		fmt.Fprintf(&b, "computer \"c%02d\" {\n  network  = \"home\"\n  firewall = \"none\"\n  service \"crashplan\" {\n    port   = \"auto\"\n    expose = \"internet\"\n  }\n}\n", i)
	}
	dir := writeConfig(t, b.String())
	round := func() map[string]string {
		t.Helper()
		type out struct {
			name string
			r    result
		}
		ch := make(chan out, 20)
		start := time.Now()
		for i := range 20 {
			go func() {
				name := fmt.Sprintf("c%02d", i)
				cmd := exec.Command(binary, "plan", "--computer", name, "--state", filepath.Join(t.TempDir(), name+".json"))
				cmd.Dir = dir
				var o, e bytes.Buffer
				cmd.Stdout, cmd.Stderr = &o, &e
				err := cmd.Run()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					code = -1
				}
				ch <- out{name, result{code, o.String(), e.String()}}
			}()
		}
		ports := map[string]string{}
		for range 20 {
			o := <-ch
			if o.r.code != 0 {
				t.Fatalf("plan of %s: exit %d\n%s%s", o.name, o.r.code, o.r.stdout, o.r.stderr)
			}
			// Its own forward: "forward TCP port 4207 to ...".
			_, rest, ok := strings.Cut(o.r.stdout, "forward TCP port ")
			if !ok {
				t.Fatalf("plan of %s shows no forward:\n%s", o.name, o.r.stdout)
			}
			ports[o.name] = strings.Fields(rest)[0]
		}
		t.Logf("20 plans at once in %s", time.Since(start).Round(time.Millisecond))
		return ports
	}
	first := round()
	seen := map[string]string{}
	for name, p := range first {
		if other, ok := seen[p]; ok {
			t.Fatalf("%s and %s both got port %s", name, other, p)
		}
		seen[p] = name
	}
	if again := round(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("second round: %v; first: %v", again, first)
	}
	m.Stop()
	m.Restart(t)
	if after := round(); fmt.Sprint(after) != fmt.Sprint(first) {
		t.Fatalf("after an etcd restart: %v; before: %v", after, first)
	}
}
