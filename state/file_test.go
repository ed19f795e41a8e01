package state_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/netplan42/netplan42/state"
	"github.com/netplan42/netplan42/state/statetest"
)

func TestFileStore(t *testing.T) {
	statetest.TestStore(t, func(t *testing.T) state.Store {
		return state.NewFileStore(filepath.Join(t.TempDir(), "netplan42", "nas.json"))
	})
}

func TestLoadRefusesOtherComputer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	fs := state.NewFileStore(path)
	if err := fs.Write(state.New("computer.desktop")); err != nil {
		t.Fatal(err)
	}
	_, err := state.Load(fs, "computer.nas")
	if !errors.Is(err, state.ErrWrongComputer) {
		t.Fatalf("Load = %v; want ErrWrongComputer", err)
	}
	want := "state file " + path + " belongs to computer.desktop, not computer.nas: pass --state"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	s, err := state.Load(fs, "computer.desktop")
	if err != nil || s == nil {
		t.Fatalf("Load of its own computer = %v, %v", s, err)
	}
	if s, err := state.Load(state.NewFileStore(path+".none"), "computer.nas"); s != nil || err != nil {
		t.Errorf("Load with no state = %v, %v; want nil, nil", s, err)
	}
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
		corrupt             bool
	}{
		{"newer", `{"format_version": 2, "lineage": "x", "computer": "computer.nas"}`,
			"format version 2 is newer than this netplan42 understands (1.0): upgrade netplan42", false},
		{"newer minor", `{"format_version": "1.1", "lineage": "x", "computer": "computer.nas"}`,
			`format version "1.1" is newer than this netplan42 understands (1.0): upgrade netplan42`, false},
		{"newer major", `{"format_version": "2.0", "lineage": "x", "computer": "computer.nas"}`,
			`format version "2.0" is newer than this netplan42 understands (1.0)`, false},
		{"not a version", `{"format_version": "one", "lineage": "x", "computer": "computer.nas"}`,
			"no format_version: not a netplan42 state file", false},
		{"unversioned", `{"lineage": "x", "computer": "computer.nas"}`,
			"no format_version: not a netplan42 state file", false},
		{"truncated", `{"format_version": 1, "lineage": "x", "comp`,
			"unexpected end of JSON input", true},
		{"unknown field", `{"format_version": 1, "lineage": "x", "computer": "computer.nas", "extra": 1}`,
			`unknown field "extra"`, true},
		{"no lineage", `{"format_version": 1, "computer": "computer.nas"}`,
			"no lineage or computer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nas.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			fs := state.NewFileStore(path)
			_, err := fs.Read()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read = %v; want an error naming %s and saying %q", err, path, tc.want)
			}
			if errors.Is(err, state.ErrCorrupt) != tc.corrupt {
				t.Errorf("errors.Is(%v, ErrCorrupt) = %v; want %v", err, !tc.corrupt, tc.corrupt)
			}
			// A state that cannot be read cannot be checked, so it
			// must not be overwritten.
			if err := fs.Write(state.New("computer.nas")); err == nil {
				t.Error("Write over an unreadable state succeeded")
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("refused Write changed the file to %s", b)
			}
		})
	}
}

func TestLeftoverTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nas.json")
	fs := state.NewFileStore(path)
	s := state.New("computer.nas")
	if err := fs.Write(s); err != nil {
		t.Fatal(err)
	}
	// What a crash between creating and renaming the temporary file
	// leaves behind.
	leftover := filepath.Join(dir, ".nas.json.tmp-12345")
	if err := os.WriteFile(leftover, []byte(`{"format_version": 1, "lin`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := fs.Read()
	if err != nil || got.Serial != 1 {
		t.Fatalf("Read with a leftover temporary file = %+v, %v", got, err)
	}
	if err := fs.Write(s); err != nil {
		t.Fatal(err)
	}
	if got, err := fs.Read(); err != nil || got.Serial != 2 {
		t.Fatalf("Read after Write with a leftover temporary file = %+v, %v", got, err)
	}
}

// TestNoPartialState reads the state while it is rewritten: every read must
// see one whole version.
func TestNoPartialState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	fs := state.NewFileStore(path)
	s := state.New("computer.nas")
	if err := fs.Write(s); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	var reads int
	wg.Go(func() {
		r := state.NewFileStore(path)
		for last := uint64(0); ; reads++ {
			select {
			case <-done:
				return
			default:
			}
			got, err := r.Read()
			if err != nil || got == nil {
				t.Errorf("read %d during writes = %v, %v", reads, got, err)
				return
			}
			if got.Serial < last {
				t.Errorf("read %d: serial went back from %d to %d", reads, last, got.Serial)
			}
			last = got.Serial
		}
	})
	for range 300 {
		if err := fs.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d reads during 300 writes", reads)
}

func TestStateFileIsReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	if err := state.NewFileStore(path).Write(state.New("computer.nas")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"{\n  \"format_version\": \"1.0\",\n  \"lineage\": ", "\n  \"serial\": 1,\n", "\n  \"resources\": [],\n"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("state file lacks %q:\n%s", want, b)
		}
	}
}

// State files written before format_version became the string "1.0" say
// 1: they are read as they are, and written back as "1.0".
func TestReadsNumericVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	old := `{"format_version": 1, "lineage": "L", "serial": 4, "computer": "computer.nas", "updated": "2026-11-01T10:00:00Z", "resources": [], "router": {}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := state.NewFileStore(path)
	s, err := fs.Read()
	if err != nil {
		t.Fatalf("reading a state file of format 1: %v", err)
	}
	if s.FormatVersion != "1.0" || s.Lineage != "L" || s.Serial != 4 {
		t.Fatalf("read %+v", s)
	}
	if err := fs.Write(s); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(`"format_version": "1.0",`)) {
		t.Errorf("written back:\n%s", b)
	}
}

func TestJournal(t *testing.T) {
	fs := state.NewFileStore(filepath.Join(t.TempDir(), "nas.json"))
	j := &state.Journal{W: fs, S: state.New("computer.nas")}
	p := j.S.Prior
	p.Router.Protocol = "natpmp"
	for range 2 {
		if err := j.Save(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := state.Load(fs, "computer.nas")
	if err != nil || got.Serial != 2 || got.Router.Protocol != "natpmp" {
		t.Fatalf("after two saves: %+v, %v", got, err)
	}
}

func TestLockContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fs := state.NewFileStore(filepath.Join(t.TempDir(), "nas.json"))
	if _, err := fs.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a cancelled context = %v", err)
	}
}
