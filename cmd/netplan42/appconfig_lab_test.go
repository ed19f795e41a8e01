//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
)

// sshdPath is Debian's sshd; it re-executes itself by this path on SIGHUP.
const sshdPath = "/usr/sbin/sshd"

// TestLabAppConfigSSHD is issue 14's proof with a real program: sshd on LAN
// host h1 listens where a file netplan42 writes says, from an auto port;
// on_change restarts it, and the internet host reads its banner through
// the router mapping. sshd runs only inside h1's namespace, with a config,
// host key and pid file of the test's own.
func TestLabAppConfigSSHD(t *testing.T) {
	lab.Require(t)
	if _, err := exec.LookPath(sshdPath); err != nil {
		if lab.Mode() == "required" {
			t.Fatalf("lab test cannot run and NETPLAN42_LAB=required: %s missing (apt-get install openssh-server)", sshdPath)
		}
		t.Skipf("lab test skipped: %s missing (apt-get install openssh-server; set NETPLAN42_LAB=required to fail instead)", sshdPath)
	}
	// sshd's privilege separation directory, which Debian's unit makes.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	sd := t.TempDir()
	listen := filepath.Join(sd, "listen.conf")
	conf := filepath.Join(sd, "sshd_config")
	pid := filepath.Join(sd, "sshd.pid")
	os.WriteFile(listen, []byte("ListenAddress 0.0.0.0:2222\n"), 0o644)
	os.WriteFile(conf, []byte(fmt.Sprintf("Include %s\nHostKey %s\nPidFile %s\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
		listen, filepath.Join(sd, "host_key"), pid)), 0o644)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(sd, "host_key")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	if out, err := exec.Command(sshdPath, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v: %s", err, out)
	}

	config := labConfig(`["upnp"]`, "none", fmt.Sprintf(`computer "h1" {
  network  = "lab"
  firewall = "FIREWALL"
  service "ssh" {
    port   = "auto"
    expose = "internet"
    app_config %q {
      content   = "ListenAddress 0.0.0.0:${self.port}\n"
      on_change = ["/bin/sh", "-c", "%s -t -f %s && kill -HUP \"$(cat %s)\""]
    }
  }
}
`, listen, sshdPath, conf, pid))
	r := newLab(t, lab.Spec{Hosts: 1}, config)
	h := r.l.Host(1)

	ctx, cancel := context.WithCancel(context.Background())
	sshd := h.Command(ctx, sshdPath, "-D", "-e", "-f", conf)
	logf, _ := os.Create(filepath.Join(sd, "sshd.log"))
	sshd.Stdout, sshd.Stderr = logf, logf
	if err := sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sshd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(sd, "sshd.log"))
			t.Logf("sshd log:\n%s", b)
		}
	})
	if _, err := r.banner(h, "192.0.2.10", 2222, 10*time.Second); err != nil {
		t.Fatalf("sshd did not start on 2222: %v", err)
	}

	port := strings.TrimSpace(r.np(1, "port", "ssh", "--config", r.dir, "--computer", "h1").stdout)
	if port != "1024" {
		t.Fatalf("port ssh = %q, want the first auto port, 1024", port)
	}
	if _, err := r.banner(r.l.Internet(), r.l.RouterWAN().String(), 1024, 2*time.Second); err == nil {
		t.Fatal("a banner through the router before apply: the test proves nothing")
	}

	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `~ app_config.ssh["`+listen+`"]`, "-ListenAddress 0.0.0.0:2222", "+ListenAddress 0.0.0.0:1024", `+ router_mapping.ssh["tcp"]`)
	t.Logf("plan:\n%s", p.stdout)
	a := r.np(1, "apply", "--auto-approve")
	a.want(t, 0, "Apply complete! Resources: 1 added, 1 changed", "on_change complete (exit status 0)")
	t.Logf("apply:\n%s", a.stdout)

	got, err := r.banner(r.l.Internet(), r.l.RouterWAN().String(), 1024, 15*time.Second)
	if err != nil || !strings.HasPrefix(got, "SSH-2.0-") {
		t.Fatalf("no SSH banner from the internet host through %s:1024: %q, %v", r.l.RouterWAN(), got, err)
	}
	t.Logf("internet host read %q from %s:1024", got, r.l.RouterWAN())
	if _, err := r.banner(h, "192.0.2.10", 2222, time.Second); err == nil {
		t.Error("sshd still listens on 2222 after on_change")
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")

	// A hand edit is drift: apply puts the port back and restarts sshd.
	os.WriteFile(listen, []byte("ListenAddress 0.0.0.0:2222\n"), 0o644)
	d := r.np(1, "plan", "--detailed-exitcode")
	d.want(t, 2, "changed outside netplan42 since the last apply (edited by hand?)")
	t.Logf("plan after a hand edit:\n%s", d.stdout)
	r.np(1, "apply", "--auto-approve").want(t, 0, "Resources: 0 added, 1 changed")
	if b, _ := os.ReadFile(listen); string(b) != "ListenAddress 0.0.0.0:1024\n" {
		t.Errorf("listen.conf = %q", b)
	}
	if got, err := r.banner(r.l.Internet(), r.l.RouterWAN().String(), 1024, 15*time.Second); err != nil || !strings.HasPrefix(got, "SSH-2.0-") {
		t.Errorf("no banner after the repair: %q, %v", got, err)
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
}

// banner reads the first line a TCP server at addr:port sends, from inside
// ns, trying until within.
func (r *labRun) banner(ns *lab.Namespace, addr string, port int, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := ns.Run(ctx, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d && head -n 1 <&3", addr, port))
		cancel()
		if err == nil && out != "" {
			return strings.TrimSpace(out), nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("connected, but no banner")
			}
			return out, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
