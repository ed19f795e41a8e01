package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// hclwriteLockBytes is how Lock.Bytes wrote the lock file before it had a
// writer of its own: the reference for byte-identical output.
func hclwriteLockBytes(as []Assignment) []byte {
	var b strings.Builder
	b.WriteString(lockHeader)
	as = slices.Clone(as)
	slices.SortFunc(as, func(a, b Assignment) int { return a.Key.compare(b.Key) })
	for _, a := range as {
		b.WriteString("\nassignment ")
		for _, label := range []string{a.Key.Network, a.Key.Computer, a.Key.Service} {
			b.Write(hclwrite.TokensForValue(cty.StringVal(label)).Bytes())
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "{\n  port = %d\n}\n", a.Port)
	}
	return []byte(b.String())
}

// checkSameAsHCL: when the line parser takes src, HCL's parser must read
// the same assignments, ranges and block contexts from it.
func checkSameAsHCL(t *testing.T, src []byte) (taken bool) {
	t.Helper()
	fast, ok := parseCanonicalLock(src, LockFileName)
	if !ok {
		return false
	}
	slow, diags := parseLockHCL(src, LockFileName)
	if diags.HasErrors() {
		t.Fatalf("the line parser took a lock file HCL rejects: %v\n%s", diags, src)
	}
	if d := cmp.Diff(slow.Assignments, fast.Assignments); d != "" {
		t.Fatalf("assignments differ (-hcl +fast):\n%s\n%s", d, src)
	}
	want := slow.File.Nav.(interface{ ContextString(int) string })
	got := fast.File.Nav.(interface{ ContextString(int) string })
	for off := 0; off <= len(src); off++ {
		if w, g := want.ContextString(off), got.ContextString(off); w != g {
			t.Fatalf("context at byte %d: HCL %q, fast %q\n%s", off, w, g, src)
		}
	}
	return true
}

func TestCanonicalLock(t *testing.T) {
	as := []Assignment{
		{Key: AssignmentKey{"home", "computer.a", "crashplan"}, Port: 1024},
		{Key: AssignmentKey{"home", `computer.desk["alice"]`, "s-1"}, Port: 65535},
		{Key: AssignmentKey{"home", `computer.desk["back\\slash"]`, "s_2"}, Port: 1},
		{Key: AssignmentKey{"office", `computer.desk["ålice"]`, "x"}, Port: 4242},
		{Key: AssignmentKey{"office", `computer.desk["${x}%{y}"]`, "x"}, Port: 4243},
	}
	src := lockBytes(as)
	if want := hclwriteLockBytes(as); string(src) != string(want) {
		t.Fatalf("lockBytes differs from hclwrite:\n%s", cmp.Diff(string(want), string(src)))
	}
	// Escapes the line parser does not take fall back to HCL's parser.
	if checkSameAsHCL(t, src) {
		t.Fatal("the line parser took labels with non-ASCII and template sequences")
	}
	plain := lockBytes(as[:3])
	if !checkSameAsHCL(t, plain) {
		t.Fatalf("the line parser refused its own canonical output:\n%s", plain)
	}
	lock, diags := ParseLock(src, LockFileName)
	if diags.HasErrors() || len(lock.Assignments) != len(as) {
		t.Fatalf("ParseLock: %v, %d assignments", diags, len(lock.Assignments))
	}

	// Everything not canonical goes the HCL way, whether valid or not.
	for _, bad := range []string{
		strings.Replace(string(plain), "port = 1024", "port = 01024", 1),
		strings.Replace(string(plain), "port = 1024", "port  = 1024", 1),
		strings.Replace(string(plain), "port = 1024", "port = 0", 1),
		strings.Replace(string(plain), "port = 1024", "port = 70000", 1),
		strings.Replace(string(plain), "\n}\n", "\n }\n", 1),
		strings.TrimSuffix(string(plain), "\n"),
		string(plain) + string(plain)[len(lockHeader):],                          // duplicates
		string(lockBytes(as[1:3])) + string(lockBytes(as[:1]))[len(lockHeader):], // out of order
		strings.Replace(string(plain), `"home"`, `"ho me"`, 1),
		strings.Replace(string(plain), `"computer.a"`, `"computer."`, 1),
		strings.Replace(string(plain), `"computer.a"`, `"compute.a"`, 1),
		string(plain) + "<<<<<<< HEAD\n",
	} {
		if _, ok := parseCanonicalLock([]byte(bad), LockFileName); ok {
			t.Errorf("the line parser took a non-canonical file:\n%s", bad)
		}
	}
}

// TestCanonicalLockTestdata: every lock file under testdata parses the
// same either way.
func TestCanonicalLockTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.lock.hcl")
	more, _ := filepath.Glob("../examples/*/netplan42.lock.hcl")
	taken := 0
	for _, name := range append(files, more...) {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if checkSameAsHCL(t, src) {
			taken++
		}
	}
	if taken == 0 {
		t.Fatal("the line parser took none of the committed lock files")
	}
}

// TestLockNavOutside: offsets outside any block have no context.
func TestLockNavOutside(t *testing.T) {
	src := lockBytes([]Assignment{{Key: AssignmentKey{"n", "computer.a", "s"}, Port: 5}})
	lock, ok := parseCanonicalLock(src, LockFileName)
	if !ok {
		t.Fatal("not taken")
	}
	nav := lock.File.Nav.(interface{ ContextString(int) string })
	if c := nav.ContextString(0); c != "" {
		t.Errorf("context in the header = %q", c)
	}
	var _ hcl.Range = lock.Assignments[0].DeclRange
}
