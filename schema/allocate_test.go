package schema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// fleet writes a config: the network blocks given, then one computer per
// entry of computers, "name network port..." where a port is a number or
// "auto"; each port is a service s0, s1, ...
func fleet(networks string, computers ...string) string {
	var b strings.Builder
	b.WriteString(networks)
	for _, c := range computers {
		f := strings.Fields(c)
		fmt.Fprintf(&b, "\ncomputer %q {\n  network = %q\n", f[0], f[1])
		for i, p := range f[2:] {
			if p != "auto" {
				fmt.Fprintf(&b, "  service \"s%d\" {\n    port = %s\n    expose = \"internet\"\n  }\n", i, p)
			} else {
				fmt.Fprintf(&b, "  service \"s%d\" {\n    port = \"auto\"\n    expose = \"internet\"\n  }\n", i)
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// allocate loads src and allocates against lock, failing on load errors.
func allocate(t *testing.T, src string, lock *Lock, readonly bool) (*Config, *Lock, []LockChange, hcl.Diagnostics) {
	t.Helper()
	cfg := load(t, src, Options{})
	next, changes, diags := Allocate(cfg, lock, readonly)
	return cfg, next, changes, diags
}

// ports returns the lock's assignments as "computer.x/service=port".
func ports(l *Lock) []string {
	var s []string
	for _, a := range l.Assignments {
		s = append(s, fmt.Sprintf("%s/%s=%d", a.Key.Computer, a.Key.Service, a.Port))
	}
	return s
}

// changeStrings returns the changes as people read them.
func changeStrings(changes []LockChange) []string {
	var s []string
	for _, c := range changes {
		s = append(s, c.String())
	}
	return s
}

func mustNoDiags(t *testing.T, diags hcl.Diagnostics) {
	t.Helper()
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
}

const home = `network "home" {
  listen_ports = "1024-1100"
}
`

func TestAllocateLowestFree(t *testing.T) {
	// 1024 is fixed on nas, 1025 reserved, 1026 an external port: the
	// first auto port is 1027.
	src := `network "home" {
  listen_ports   = "1024-1100"
  reserved_ports = [1025]
}
computer "nas" {
  network = "home"
  service "fixed" {
    port = 1024
  }
  service "web" {
    port          = 8080
    expose        = "internet"
    external_port = 1026
  }
}
computer "desktop" {
  network = "home"
  service "crashplan" {
    port = "auto"
  }
  service "other" {
    port = "auto"
  }
}
`
	cfg, lock, changes, diags := allocate(t, src, &Lock{}, false)
	mustNoDiags(t, diags)
	want := []string{`computer.desktop/crashplan=1027`, `computer.desktop/other=1028`}
	if diff := cmp.Diff(want, ports(lock)); diff != "" {
		t.Errorf("lock (-want +got):\n%s", diff)
	}
	wantChanges := []string{
		`assigned port 1027 to computer.desktop service "crashplan"`,
		`assigned port 1028 to computer.desktop service "other"`,
	}
	if diff := cmp.Diff(wantChanges, changeStrings(changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if p := cfg.Computer("desktop").Services[0].Port; p != 1027 {
		t.Errorf("Service.Port = %d, want 1027", p)
	}

	// Allocating again against the new lock changes nothing.
	_, again, changes, diags := allocate(t, src, lock, false)
	mustNoDiags(t, diags)
	if len(changes) > 0 || !bytes.Equal(again.Bytes(), lock.Bytes()) {
		t.Errorf("second run changed the lock: %v", changes)
	}
}

func TestAllocateStableUnderInsertAndDelete(t *testing.T) {
	_, lock, _, diags := allocate(t, fleet(home, "b home auto", "d home auto", "f home auto auto"), &Lock{}, false)
	mustNoDiags(t, diags)
	before := ports(lock)
	want := []string{"computer.b/s0=1024", "computer.d/s0=1025", "computer.f/s0=1026", "computer.f/s1=1027"}
	if diff := cmp.Diff(want, before); diff != "" {
		t.Fatalf("first allocation (-want +got):\n%s", diff)
	}

	// Insert computers that sort before, between and after: nobody moves.
	_, lock2, changes, diags := allocate(t, fleet(home, "a home auto", "b home auto", "c home auto", "d home auto", "f home auto auto", "g home auto"), lock, false)
	mustNoDiags(t, diags)
	for _, p := range before {
		if !slices.Contains(ports(lock2), p) {
			t.Errorf("%s moved on insert: %v", p, ports(lock2))
		}
	}
	wantChanges := []string{
		`assigned port 1028 to computer.a service "s0"`,
		`assigned port 1029 to computer.c service "s0"`,
		`assigned port 1030 to computer.g service "s0"`,
	}
	if diff := cmp.Diff(wantChanges, changeStrings(changes)); diff != "" {
		t.Errorf("insert changes (-want +got):\n%s", diff)
	}

	// Delete b and one service of f: their ports are released, nobody
	// else moves.
	_, lock3, changes, diags := allocate(t, fleet(home, "a home auto", "c home auto", "d home auto", "f home auto", "g home auto"), lock2, false)
	mustNoDiags(t, diags)
	wantChanges = []string{
		`released port 1024 of computer.b service "s0" (no longer in the config)`,
		`released port 1027 of computer.f service "s1" (no longer in the config)`,
	}
	if diff := cmp.Diff(wantChanges, changeStrings(changes)); diff != "" {
		t.Errorf("delete changes (-want +got):\n%s", diff)
	}
	want = []string{"computer.a/s0=1028", "computer.c/s0=1029", "computer.d/s0=1025", "computer.f/s0=1026", "computer.g/s0=1030"}
	if diff := cmp.Diff(want, ports(lock3)); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}

	// A new computer takes the lowest released port.
	_, lock4, _, diags := allocate(t, fleet(home, "a home auto", "c home auto", "d home auto", "f home auto", "g home auto", "h home auto"), lock3, false)
	mustNoDiags(t, diags)
	if a, _ := lock4.Lookup(AssignmentKey{"home", "computer.h", "s0"}); a.Port != 1024 {
		t.Errorf("new computer got %d, want the released 1024", a.Port)
	}
}

func TestAllocateUniquePerNetwork(t *testing.T) {
	var comps []string
	for i := range 40 {
		net := "home"
		if i%2 == 1 {
			net = "office"
		}
		switch i % 3 {
		case 0:
			comps = append(comps, fmt.Sprintf("c%02d %s auto auto", i, net))
		case 1:
			comps = append(comps, fmt.Sprintf("c%02d %s %d auto", i, net, 1030+i))
		default:
			comps = append(comps, fmt.Sprintf("c%02d %s auto", i, net))
		}
	}
	networks := home + `network "office" {
  listen_ports = "1024-1100"
}
`
	cfg, lock, _, diags := allocate(t, fleet(networks, comps...), &Lock{}, false)
	mustNoDiags(t, diags)
	for _, n := range []string{"home", "office"} {
		used := map[uint16]string{}
		for _, c := range cfg.Computers {
			if c.Network != n {
				continue
			}
			for _, s := range c.Services {
				if s.Port == 0 {
					t.Errorf("%s/%s has no port", c.Address(), s.Name)
				}
				if prev, ok := used[s.Port]; ok {
					t.Errorf("port %d in network %s used by %s and %s/%s", s.Port, n, prev, c.Address(), s.Name)
				}
				used[s.Port] = c.Address() + "/" + s.Name
				if s.Auto && (s.Port < 1024 || s.Port > 1100 || s.Port == 4242 || s.Port == 4243) {
					t.Errorf("auto port %d outside the pool or reserved", s.Port)
				}
			}
		}
	}
	// Networks have their own pools: both start at 1024.
	if a, _ := lock.Lookup(AssignmentKey{"home", "computer.c00", "s0"}); a.Port != 1024 {
		t.Errorf("home's first port = %d", a.Port)
	}
	if a, _ := lock.Lookup(AssignmentKey{"office", "computer.c01", "s1"}); a.Port != 1024 {
		t.Errorf("office's first port = %d", a.Port)
	}
}

func TestAllocateNeverReserved(t *testing.T) {
	// The pool is 4240-4245 with 4242 and 4243 reserved by default.
	src := fleet(`network "home" {
  listen_ports = "4240-4245"
}
`, "a home auto auto auto auto")
	_, lock, _, diags := allocate(t, src, &Lock{}, false)
	mustNoDiags(t, diags)
	want := []string{"computer.a/s0=4240", "computer.a/s1=4241", "computer.a/s2=4244", "computer.a/s3=4245"}
	if diff := cmp.Diff(want, ports(lock)); diff != "" {
		t.Errorf("lock (-want +got):\n%s", diff)
	}
}

func TestAllocateExhausted(t *testing.T) {
	src := fleet(`network "tiny" {
  listen_ports = "2000-2001"
}
`, "a tiny auto", "b tiny auto", "c tiny auto auto")
	cfg, lock, changes, diags := allocate(t, src, &Lock{}, false)
	if countErrors(diags) != 2 {
		t.Fatalf("want 2 errors, got %v", diags)
	}
	for _, d := range diags {
		if d.Summary != "No free port" || d.Subject == nil || !strings.Contains(d.Detail, "2000-2001") {
			t.Errorf("diagnostic = %v", d)
		}
	}
	if len(lock.Assignments) != 2 || len(changes) != 2 {
		t.Errorf("assignments %v, changes %v", ports(lock), changes)
	}
	if p := cfg.Computer("c").Services[0].Port; p != 0 {
		t.Errorf("exhausted service got port %d", p)
	}
}

func TestAllocateMoves(t *testing.T) {
	lock := &Lock{Assignments: []Assignment{
		{Key: AssignmentKey{"home", "computer.a", "s0"}, Port: 1024},
		{Key: AssignmentKey{"home", "computer.c", "s0"}, Port: 1030},
		{Key: AssignmentKey{"home", "computer.d", "s0"}, Port: 2000},
		{Key: AssignmentKey{"home", "computer.e", "s0"}, Port: 1040},
	}}
	src := fleet(`network "home" {
  listen_ports   = "1024-1100"
  reserved_ports = [1030]
}
network "office" {}
`, "a home auto", "b home auto", "c home auto", "d home auto", "e office auto")
	_, next, changes, diags := allocate(t, src, lock, false)
	mustNoDiags(t, diags)
	want := []string{
		`released port 1040 of computer.e service "s0" (computer.e is now in network "office")`,
		`assigned port 1025 to computer.b service "s0"`,
		`moved computer.c service "s0" from port 1030 to 1026 (1030 is reserved in network "home")`,
		`moved computer.d service "s0" from port 2000 to 1027 (2000 is outside listen_ports 1024-1100 of network "home")`,
		`assigned port 1024 to computer.e service "s0"`,
	}
	if diff := cmp.Diff(want, changeStrings(changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if len(next.Assignments) != 5 {
		t.Errorf("lock = %v", ports(next))
	}
	// The input lock is not modified.
	if lock.Assignments[1].Port != 1030 || len(lock.Assignments) != 4 {
		t.Error("Allocate modified its input lock")
	}
}

// TestAllocateMergedDuplicate: a merge of two branches that each handed
// out port 1024 must not renumber either computer; it is an error naming
// both entries, and which one state shows in use.
func TestAllocateMergedDuplicate(t *testing.T) {
	src := fleet(home, "a home auto", "b home auto", "c home auto")
	lockSrc := `assignment "home" "computer.a" "s0" {
  port = 1024
}

assignment "home" "computer.b" "s0" {
  port = 1024
}

assignment "home" "computer.c" "s0" {
  port = 1025
}
`
	lock, ldiags := ParseLock([]byte(lockSrc), LockFileName)
	mustNoDiags(t, ldiags)
	cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "", Options{})
	mustNoDiags(t, diags)
	inUse := func(a Assignment) string {
		if a.Key.Computer == "computer.b" {
			return "state file b.json records it"
		}
		return ""
	}
	_, changes, adiags := AllocateWith(cfg, lock, AllocateOptions{InUse: inUse})
	if countErrors(adiags) != 1 {
		t.Fatalf("want one error, got %v", adiags)
	}
	d := adiags[0]
	for _, want := range []string{"Port 1024", `computer.a service "s0" (netplan42.lock.hcl:1)`, `computer.b service "s0" (netplan42.lock.hcl:5)`,
		`computer.b service "s0" is in use: state file b.json records it`} {
		if !strings.Contains(d.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, d.Detail)
		}
	}
	if d.Subject == nil || d.Subject.Start.Line != 5 {
		t.Errorf("subject = %v, want line 5", d.Subject)
	}
	for _, c := range changes {
		if c.Action == LockMove {
			t.Errorf("a merged duplicate moved a port: %s", c)
		}
	}
	for _, name := range []string{"a", "b"} {
		if p := cfg.Computer(name).Services[0].Port; p != 1024 {
			t.Errorf("computer %s port = %d, want 1024 kept", name, p)
		}
	}
}

func TestAllocateReleaseReasons(t *testing.T) {
	lock := &Lock{Assignments: []Assignment{
		{Key: AssignmentKey{"gone", "computer.a", "s0"}, Port: 1024},
		{Key: AssignmentKey{"home", "computer.a", "s0"}, Port: 1025},
		{Key: AssignmentKey{"home", "computer.old", "s0"}, Port: 1026},
	}}
	_, next, changes, diags := allocate(t, fleet(home, "a home 1050"), lock, false)
	mustNoDiags(t, diags)
	want := []string{
		`released port 1024 of computer.a service "s0" (network "gone" is no longer in the config)`,
		`released port 1025 of computer.a service "s0" (its port is now fixed at 1050)`,
		`released port 1026 of computer.old service "s0" (no longer in the config)`,
	}
	if diff := cmp.Diff(want, changeStrings(changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if len(next.Assignments) != 0 {
		t.Errorf("lock = %v", ports(next))
	}
}

func TestAllocateFixedCollision(t *testing.T) {
	lock := &Lock{Assignments: []Assignment{{Key: AssignmentKey{"home", "computer.desktop", "s0"}, Port: 1024}}}
	// nas now wants 1024 fixed; it is desktop's in the lock file.
	cfg, next, changes, diags := allocate(t, fleet(home, "desktop home auto", "nas home 1024"), lock, false)
	if countErrors(diags) != 1 {
		t.Fatalf("want one error, got %v", diags)
	}
	d := diags[0]
	if d.Summary != "Port assigned to another service" || d.Subject == nil || d.Subject.Start.Line == 0 ||
		!strings.Contains(d.Detail, `assigned to computer.desktop service "s0" in the lock file`) ||
		!strings.Contains(d.Detail, `computer.nas service "s0" cannot use it`) {
		t.Errorf("diagnostic = %v", d)
	}
	// desktop keeps its port: no silent move.
	if len(changes) != 0 || ports(next)[0] != "computer.desktop/s0=1024" || cfg.Computer("desktop").Services[0].Port != 1024 {
		t.Errorf("changes %v, lock %v", changes, ports(next))
	}

	// Services that meet neither on the computer nor on the router do
	// not collide: localhost or lan on another computer, another protocol.
	for _, other := range []string{`expose = "localhost"`, `expose = "lan"`, "protocol = \"udp\"\n    expose = \"internet\""} {
		src := `network "home" {
  listen_ports = "1024-1100"
}
computer "desktop" {
  network = "home"
  service "s0" {
    port   = "auto"
    expose = "internet"
  }
}
computer "nas" {
  network = "home"
  service "other" {
    port = 1024
    ` + other + `
  }
}
`
		_, _, changes, diags = allocate(t, src, lock, false)
		mustNoDiags(t, diags)
		if len(changes) != 0 {
			t.Errorf("%s: changes = %v", other, changes)
		}
	}

	// On the same computer, any exposure collides.
	src := `network "home" {
  listen_ports = "1024-1100"
}
computer "desktop" {
  network = "home"
  service "s0" {
    port = "auto"
  }
  service "ui" {
    port   = 1024
    expose = "localhost"
  }
}
`
	_, _, _, diags = allocate(t, src, lock, false)
	if countErrors(diags) != 1 || !strings.Contains(diags[0].Detail, `computer.desktop service "ui" cannot use it`) {
		t.Errorf("same computer: %v", diags)
	}
}

func TestAllocateReadonly(t *testing.T) {
	src := fleet(home, "a home auto", "b home auto")
	_, lock, _, diags := allocate(t, src, &Lock{}, false)
	mustNoDiags(t, diags)

	// Up to date: no diagnostics, same lock.
	cfg, next, changes, diags := allocate(t, src, lock, true)
	mustNoDiags(t, diags)
	if len(changes) != 0 || next != lock || cfg.Computer("b").Services[0].Port != 1025 {
		t.Errorf("readonly, up to date: changes %v", changes)
	}

	// An addition and a removal: both errors, lock untouched.
	cfg, next, changes, diags = allocate(t, fleet(home, "b home auto", "c home auto"), lock, true)
	if countErrors(diags) != 2 || len(changes) != 2 || next != lock {
		t.Fatalf("diags %v, changes %v", diags, changes)
	}
	for _, d := range diags {
		if d.Summary != "Lock file out of date" || !strings.Contains(d.Detail, "without --lockfile=readonly") || !strings.Contains(d.Detail, "commit") {
			t.Errorf("diagnostic = %v", d)
		}
	}
	if p := cfg.Computer("c").Services[0].Port; p != 0 {
		t.Errorf("readonly gave a port: %d", p)
	}
	if len(lock.Assignments) != 2 {
		t.Error("readonly modified the lock")
	}
}

func TestLockRoundTrip(t *testing.T) {
	src := `network "home" {}
network "office" {}
computer "desk" {
  for_each = toset(["alice", "bob"])
  network  = "home"
  service "crashplan" {
    port = "auto"
  }
}
computer "nas" {
  network = "office"
  service "crashplan" {
    port = "auto"
  }
  service "b" {
    port = "auto"
  }
}
`
	_, lock, _, diags := allocate(t, src, &Lock{}, false)
	mustNoDiags(t, diags)
	got := lock.Bytes()
	want := `# netplan42.lock.hcl: the ports netplan42 handed out for port = "auto".
# Maintained by netplan42 plan; commit it, so that every computer agrees.
# An assignment stays while its service exists; delete one to free its port.

assignment "home" "computer.desk[\"alice\"]" "crashplan" {
  port = 1024
}

assignment "home" "computer.desk[\"bob\"]" "crashplan" {
  port = 1025
}

assignment "office" "computer.nas" "b" {
  port = 1024
}

assignment "office" "computer.nas" "crashplan" {
  port = 1025
}
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Bytes (-want +got):\n%s", diff)
	}
	if formatted, _ := Format(got, LockFileName); !bytes.Equal(formatted, got) {
		t.Error("the lock file is not in fmt layout")
	}

	dir := t.TempDir()
	if err := WriteLock(dir, lock); err != nil {
		t.Fatal(err)
	}
	read, diags := ReadLock(dir)
	mustNoDiags(t, diags)
	if !bytes.Equal(read.Bytes(), got) {
		t.Errorf("rewrite differs:\n%s", read.Bytes())
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, LockFileName))
	if !bytes.Equal(onDisk, got) {
		t.Error("file on disk differs from Bytes")
	}
	if a, ok := read.Lookup(AssignmentKey{"home", `computer.desk["bob"]`, "crashplan"}); !ok || a.Port != 1025 || a.DeclRange.Start.Line != 9 {
		t.Errorf("Lookup = %+v, %v", a, ok)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if info, _ := os.Stat(filepath.Join(dir, LockFileName)); info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v", info.Mode())
	}

	// Allocating against what was read changes nothing, byte for byte.
	_, again, changes, diags := allocate(t, src, read, false)
	mustNoDiags(t, diags)
	if len(changes) != 0 || !bytes.Equal(again.Bytes(), got) {
		t.Errorf("changes %v", changes)
	}

	// Order in the file does not matter; output is sorted.
	shuffled := "assignment \"office\" \"computer.nas\" \"crashplan\" {\n  port = 1025\n}\n" +
		"assignment \"home\" \"computer.desk[\\\"bob\\\"]\" \"crashplan\" { port = 1025 }\n" +
		"# a comment\nassignment \"office\" \"computer.nas\" \"b\" {\n  port = 1024\n}\n" +
		"assignment \"home\" \"computer.desk[\\\"alice\\\"]\" \"crashplan\" {\n  port = 1024\n}\n"
	parsed, diags := ParseLock([]byte(shuffled), "x")
	mustNoDiags(t, diags)
	if !bytes.Equal(parsed.Bytes(), got) {
		t.Errorf("sorted output differs:\n%s", parsed.Bytes())
	}
}

func TestReadLockMissing(t *testing.T) {
	lock, diags := ReadLock(t.TempDir())
	if len(diags) > 0 || lock == nil || len(lock.Assignments) != 0 {
		t.Errorf("ReadLock of nothing = %+v, %v", lock, diags)
	}
	if got := string(lock.Bytes()); got != lockHeader {
		t.Errorf("empty lock = %q", got)
	}
}

func TestWriteLockFails(t *testing.T) {
	if err := WriteLock(filepath.Join(t.TempDir(), "missing"), &Lock{}); err == nil {
		t.Error("WriteLock into a missing directory succeeded")
	}
}
