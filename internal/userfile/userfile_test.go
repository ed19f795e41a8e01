//go:build unix

package userfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "main.hcl")
	if err := os.WriteFile(plain, []byte("network \"home\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Read(plain)
	if err != nil || string(b) != "network \"home\" {}\n" {
		t.Fatalf("Read(plain) = %q, %v", b, err)
	}
	empty := filepath.Join(dir, "empty.hcl")
	os.WriteFile(empty, nil, 0o644)
	if b, err := Read(empty); err != nil || len(b) != 0 {
		t.Fatalf("Read(empty) = %q, %v", b, err)
	}

	// A FIFO must not block: nobody ever writes to it.
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.hcl")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, zero, dir} {
		if _, err := Read(p); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Read(%s) = %v, want ErrNotRegular", p, err)
		}
	}

	big := filepath.Join(dir, "big.hcl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxSize + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	if _, err := Read(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read(big) = %v, want ErrTooLarge", err)
	}
	exact := filepath.Join(dir, "exact.hcl")
	os.WriteFile(exact, bytes.Repeat([]byte("#"), 3<<10), 0o644)
	if b, err := Read(exact); err != nil || len(b) != 3<<10 {
		t.Errorf("Read(exact) = %d bytes, %v", len(b), err)
	}
	if _, err := Read(filepath.Join(dir, "missing.hcl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read(missing) = %v, want not-exist", err)
	}
}

func TestReadLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "my.service.xml")
	os.WriteFile(p, bytes.Repeat([]byte("x"), 2048), 0o644)
	if b, err := ReadLimit(p, 2048); err != nil || len(b) != 2048 {
		t.Errorf("ReadLimit(2048 bytes, 2048) = %d bytes, %v", len(b), err)
	}
	_, err := ReadLimit(p, 1024)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than 1 KiB") {
		t.Errorf("ReadLimit(2048 bytes, 1024) = %v, want ErrTooLarge naming 1 KiB", err)
	}
}
