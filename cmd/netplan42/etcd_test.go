//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
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
