package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds LoadFiles arbitrary config bytes and --var strings; it
// must never panic, and a config that loads cleanly must allocate, format
// and survive a lock file round trip.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	for _, name := range seeds {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "")
	}
	f.Add([]byte(varsConfig), "port=5005\nusers=[\"a\"]\nname=x")
	f.Add([]byte(`variable "n" { type = map(number) }`), "n={a = 1}")
	// Nesting near and past MaxNesting, in every form the check counts.
	for _, n := range []int{MaxNesting - 2, MaxNesting + 1} {
		f.Add([]byte("locals {\n x = "+strings.Repeat("[", n)+strings.Repeat("]", n)+"\n}\n"), "")
		f.Add([]byte("locals {\n x = \""+strings.Repeat("${\"", n)+strings.Repeat("\"}", n)+"\"\n}\n"), "")
		f.Add([]byte("locals {\n x = "+strings.Repeat("!", n)+"true\n}\n"), "")
	}
	f.Add([]byte("locals {\n x = <<EOT\n${[[[1]]]}\n[[[\nEOT\n}\n"), "")

	f.Fuzz(func(t *testing.T, src []byte, vars string) {
		opts := Options{Env: []string{"NETPLAN42_VAR_port=6000"}}
		if vars != "" {
			opts.Vars = strings.Split(vars, "\n")
		}
		cfg, diags := LoadFiles(map[string][]byte{"main.hcl": src}, "", opts)
		if cfg == nil || cfg.Files == nil {
			t.Fatal("LoadFiles returned no config")
		}
		Format(src, "main.hcl")
		if diags.HasErrors() {
			return
		}
		lock, _, adiags := Allocate(cfg, &Lock{}, false)
		if adiags.HasErrors() {
			return
		}
		again, ldiags := ParseLock(lock.Bytes(), LockFileName)
		if ldiags.HasErrors() {
			t.Fatalf("lock file does not parse: %v\n%s", ldiags, lock.Bytes())
		}
		if string(again.Bytes()) != string(lock.Bytes()) {
			t.Fatalf("lock file round trip differs:\n%s\n%s", lock.Bytes(), again.Bytes())
		}
		if _, changes, _ := Allocate(cfg, again, true); len(changes) > 0 {
			t.Fatalf("allocating twice changed the lock: %v", changes)
		}
	})
}

// FuzzParseLock feeds ParseLock arbitrary bytes; it must never panic, and
// what it accepts must write back to bytes it reads the same.
func FuzzParseLock(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.lock.hcl")
	for _, name := range seeds {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("<<<<<<< HEAD\nassignment \"a\" \"computer.b\" \"c\" {\n  port = 1\n}\n=======\n>>>>>>> x\n"))
	f.Add([]byte("assignment \"a\" \"computer.b\" \"c\" {\n  port = 1 + 1\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		checkSameAsHCL(t, src) // the line parser agrees with HCL's
		lock, diags := ParseLock(src, LockFileName)
		if diags.HasErrors() {
			// Every mistake names the file and a line: the user must
			// find it.
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Filename != LockFileName || d.Subject.Start.Line < 1 {
					t.Fatalf("diagnostic without a place: %v", d)
				}
			}
			return
		}
		again, diags := ParseLock(lock.Bytes(), LockFileName)
		if diags.HasErrors() || string(again.Bytes()) != string(lock.Bytes()) {
			t.Fatalf("round trip: %v\n%s", diags, lock.Bytes())
		}
	})
}
