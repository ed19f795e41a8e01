//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/state"
)

// binary is the netplan42 built once for these tests: they run it as a
// user would.
var binary string

// buildFlags build the binary. -buildvcs=false: as root in a clone
// another user owns, git refuses to say the VCS status, and go build would
// fail.
var buildFlags = []string{"-buildvcs=false"}

// e2eTemp names the directory TestMain builds the binary in.
const e2eTemp = "netplan42-e2e"

func TestMain(m *testing.M) {
	children := lab.Children()
	children["hold-lock"] = holdLock
	children["http-get"] = httpGet
	// A child process (lab.Namespace.Child, the lock holder) runs its
	// function and exits here, before anything is made to clean up.
	lab.ServeChild(children)
	os.Exit(testMain(m))
}

// testMain builds the binary, runs the tests and removes the binary,
// whatever the tests did; directories that killed runs left are swept.
func testMain(m *testing.M) int {
	lab.SweepTemp(e2eTemp)
	dir, err := lab.MkdirTemp(e2eTemp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "netplan42")
	out, err := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building netplan42: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// holdLock takes a state lock as apply would and holds it until killed.
func holdLock(ctx context.Context, args []string) error {
	unlock, err := state.NewFileStore(args[0]).Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		return err
	}
	defer unlock()
	fmt.Println("locked")
	time.Sleep(time.Minute)
	return nil
}

// httpGet prints the body of GET args[0]: run inside a namespace, it
// reaches a server listening on that namespace's loopback.
func httpGet(ctx context.Context, args []string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", args[0], resp.Status)
	}
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs netplan42 with args in dir and env additions.
func run(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=", "NETPLAN42_COMPUTER=")
	cmd.Env = append(cmd.Env, env...)
	return runCmd(t, cmd, stdin)
}

// runCmd runs cmd with stdin and returns its exit code and output.
func runCmd(t *testing.T, cmd *exec.Cmd, stdin string) result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

func (r result) want(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, c := range contains {
		if !strings.Contains(all, c) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", c, r.stdout, r.stderr)
		}
	}
}

// copyDir copies an example to a temp dir, so tests never write into the
// repository (the lock file).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestExamplesValidateAndPlan(t *testing.T) {
	for _, ex := range []string{"crashplan-home", "two-site", "fleet"} {
		t.Run(ex, func(t *testing.T) {
			dir := copyDir(t, filepath.Join("..", "..", "examples", ex))
			run(t, dir, nil, "", "validate").want(t, 0, "Success! The configuration is valid")
			// The committed lock file must be current: readonly plans pass.
			r := run(t, dir, nil, "", "plan", "--all", "--lockfile=readonly")
			r.want(t, 0, "Fleet:")
			golden.Check(t, filepath.Join("testdata", "plan-all-"+ex+".txt"), []byte(r.stdout))
			run(t, dir, nil, "", "fmt", "--check").want(t, 0)
		})
	}
}

func TestLockFileStableAndReadonly(t *testing.T) {
	dir := copyDir(t, filepath.Join("..", "..", "examples", "crashplan-home"))
	os.Remove(filepath.Join(dir, "netplan42.lock.hcl"))
	run(t, dir, nil, "", "plan", "--all", "--lockfile=readonly").want(t, 1, "lock")
	r := run(t, dir, nil, "", "plan", "--all")
	r.want(t, 0, "netplan42.lock.hcl: ")
	lock1, err := os.ReadFile(filepath.Join(dir, "netplan42.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, dir, nil, "", "plan", "--all", "--lockfile=readonly")
	r.want(t, 0)
	if strings.Contains(r.stderr, "netplan42.lock.hcl") {
		t.Errorf("second plan touched the lock file: %s", r.stderr)
	}
	lock2, _ := os.ReadFile(filepath.Join(dir, "netplan42.lock.hcl"))
	if !bytes.Equal(lock1, lock2) {
		t.Errorf("lock file changed between two plans:\n%s\n%s", lock1, lock2)
	}
}

const offline = `
network "home" {
  router {
    protocols = ["manual"]
  }
}
computer "box" {
  network  = "home"
  firewall = "none"
  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
}
`

func TestManualRouterPlan(t *testing.T) {
	dir := writeConfig(t, offline)
	st := filepath.Join(t.TempDir(), "box.json")
	r := run(t, dir, nil, "", "plan", "--computer", "box", "--state", st, "--detailed-exitcode")
	r.want(t, 0, "forward TCP port 4242 to", "No changes.")
	r = run(t, dir, nil, "", "plan", "--computer", "box", "--state", st, "--json")
	r.want(t, 0, `"format_version": "1.0"`, `"computer": "computer.box"`, `"manual"`)
}

func TestComputerSelection(t *testing.T) {
	dir := writeConfig(t, offline)
	st := filepath.Join(t.TempDir(), "s.json")
	run(t, dir, nil, "", "plan", "--state", st).want(t, 1, "no computer in the config has this machine's hostname", "--computer")
	run(t, dir, nil, "", "plan", "--state", st, "--computer", "nope").want(t, 1, `no computer "nope"`, "box")
	run(t, dir, []string{"NETPLAN42_COMPUTER=box"}, "", "plan", "--state", st).want(t, 0)
}

func TestDiagnosticsShowSource(t *testing.T) {
	dir := writeConfig(t, `
network "home" {}
computer "a" {
  network = "hone"
  service "x" {
    port = 70000
    colour = "blue"
  }
}
`)
	r := run(t, dir, nil, "", "validate")
	r.want(t, 1, "main.hcl line 4", `Did you mean "home"?`, "main.hcl line 6", "70000", "main.hcl line 7", "colour")
}

func TestFmt(t *testing.T) {
	dir := writeConfig(t, "network \"home\" {\nlisten_ports=\"1024-5999\"\n}\n")
	run(t, dir, nil, "", "fmt", "--check", "--diff").want(t, 1, "main.hcl", "+  listen_ports = \"1024-5999\"")
	run(t, dir, nil, "", "fmt").want(t, 0, "main.hcl")
	run(t, dir, nil, "", "fmt", "--check").want(t, 0)
	bad := writeConfig(t, "network \"home\" {\n")
	run(t, bad, nil, "", "fmt").want(t, 1, "main.hcl line 1", `network "home" {`)
}

// fmt --check from the repository root passes: it skips testdata, where
// fixtures are unformatted or broken on purpose, but checks a file there
// when it is named.
func TestFmtCheckRepository(t *testing.T) {
	run(t, filepath.Join("..", ".."), nil, "", "fmt", "--check").want(t, 0)

	dir := writeConfig(t, "network \"home\" {}\n")
	for _, sub := range []string{"testdata", "examples"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "testdata", "broken.hcl"), []byte("network \"home\" {\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "examples", "ugly.hcl"), []byte("network \"home\" {\nlisten_ports=\"1024-5999\"\n}\n"), 0o644)
	run(t, dir, nil, "", "fmt", "--check").want(t, 1, filepath.Join("examples", "ugly.hcl"))
	os.Remove(filepath.Join(dir, "examples", "ugly.hcl"))
	run(t, dir, nil, "", "fmt", "--check").want(t, 0)
	run(t, dir, nil, "", "fmt", "--check", filepath.Join("testdata", "broken.hcl")).want(t, 1, "broken.hcl line 1")
}

// show reads the state without a config: --state, --computer, or the only
// state in the default directory.
func TestShowWithoutConfig(t *testing.T) {
	empty := t.TempDir()
	st := filepath.Join(t.TempDir(), "box.json")
	s := state.New("computer.box")
	s.Resources = nil
	if err := state.NewFileStore(st).Write(s); err != nil {
		t.Fatal(err)
	}
	run(t, empty, nil, "", "show", "--state", st).want(t, 0, "computer.box — "+st, "nothing is managed")
	run(t, empty, nil, "", "show", "--computer", "box", "--state", st).want(t, 0, "computer.box — "+st)
	run(t, empty, nil, "", "show", "--json", "--state", st).want(t, 0, `"format_version": "1.0"`, `"computer": "computer.box"`)
	run(t, empty, nil, "", "show", "--computer", "other", "--state", st).want(t, 1, "belongs to computer.box")

	// The default directory: as root /var/lib/netplan42, which a test
	// must not touch; so run as nobody, whose states are under
	// XDG_STATE_HOME.
	home, err := os.MkdirTemp("", "netplan42-show-") // t.TempDir's parent is closed to nobody
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	bin := binary
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		bin = filepath.Join(home, "netplan42")
		b, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(home, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	show := func(args ...string) result {
		cmd := exec.Command(bin, append([]string{"show"}, args...)...)
		cmd.Dir = home
		cmd.Env = append(os.Environ(), "NO_COLOR=", "NETPLAN42_COMPUTER=", "NETPLAN42_CONFIG=", "XDG_STATE_HOME="+home+"/state", "HOME="+home)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return runCmd(t, cmd, "")
	}
	show().want(t, 0, "No state in "+home+"/state/netplan42: netplan42 has made nothing here yet.")
	show("--json").want(t, 0, "null")
	dir := filepath.Join(home, "state", "netplan42")
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777) // past the umask: nobody takes the state lock here
	}
	for _, c := range []string{"box", "nas"} {
		b, _ := os.ReadFile(st)
		b = bytes.ReplaceAll(b, []byte("computer.box"), []byte("computer."+c))
		if err := os.WriteFile(filepath.Join(dir, c+".json"), b, 0o666); err != nil {
			t.Fatal(err)
		}
		if c == "box" {
			show().want(t, 0, "computer.box — "+filepath.Join(dir, "box.json"))
			show("--computer", "box").want(t, 0, "computer.box — "+filepath.Join(dir, "box.json"))
		}
	}
	show().want(t, 1, "holds the states of 2 computers (box, nas): pass --computer NAME")
	show("--computer", "nas").want(t, 0, "computer.nas — ")
}

func TestLockContention(t *testing.T) {
	dir := writeConfig(t, offline)
	st := filepath.Join(t.TempDir(), "box.json")
	self, _ := os.Executable()
	holder := exec.Command(self, "-test.run=^$")
	holder.Env = append(os.Environ(), "NETPLAN42_LAB_CHILD=hold-lock", `NETPLAN42_LAB_CHILD_ARGS=["`+st+`"]`)
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("holder did not lock: %q %v", line, err)
	}
	start := time.Now()
	r := run(t, dir, nil, "", "plan", "--computer", "box", "--state", st)
	r.want(t, 1, fmt.Sprint(holder.Process.Pid), "apply")
	if time.Since(start) > 10*time.Second {
		t.Errorf("plan waited %s for a held lock; it must fail at once", time.Since(start))
	}
	holder.Process.Kill()
	holder.Wait()
	run(t, dir, nil, "", "plan", "--computer", "box", "--state", st).want(t, 0)
}

func TestVersion(t *testing.T) {
	run(t, t.TempDir(), nil, "", "version").want(t, 0, "netplan42 ")
}

// TestMain and the child processes of these tests leave nothing in the
// temporary directory: the test binary runs a test and a child function
// with a temporary directory of their own, which must end up empty.
func TestNoTempLeftovers(t *testing.T) {
	if os.Getenv("NETPLAN42_INNER") != "" {
		t.Skip("inner run")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }))
	defer srv.Close()
	tmp := t.TempDir()
	env := append(os.Environ(), "TMPDIR="+tmp, "GOTMPDIR=", "NETPLAN42_INNER=1")

	inner := exec.Command(self, "-test.run=^TestVersion$", "-test.count=1")
	inner.Env = env
	if out, err := inner.CombinedOutput(); err != nil {
		t.Fatalf("inner test run: %v\n%s", err, out)
	}
	child := exec.Command(self, "-test.run=^$")
	child.Env = append(env, lab.ChildEnv+"=http-get", lab.ChildEnv+`_ARGS=["`+srv.URL+`"]`)
	if out, err := child.CombinedOutput(); err != nil || string(out) != "hello" {
		t.Fatalf("child http-get: %v: %q", err, out)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(left) > 0 {
		t.Errorf("left in the temporary directory: %q", left)
	}
}
