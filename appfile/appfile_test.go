package appfile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// myServiceXML is shaped like CrashPlan's conf/my.service.xml, with CRLF
// line endings, a BOM and no final newline: every byte must survive.
const myServiceXML = "\ufeff<config version=\"8\">\r\n  <location>0.0.0.0:4242</location>\r\n  <cachePath>/usr/local/crashplan/cache</cachePath>\r\n</config>"

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "my.service.xml")
	if err := os.WriteFile(p, []byte(myServiceXML), 0o640); err != nil {
		t.Fatal(err)
	}
	v := Read(p)
	if !v.Exists || v.Err != "" || string(v.Content) != myServiceXML || v.SHA256 != planner.Sum([]byte(myServiceXML)) {
		t.Fatalf("Read = %+v", v)
	}
	want := strings.Replace(myServiceXML, "4242", "1024", 1)
	f := &Files{}
	if err := f.Write(context.Background(), p, []byte(want), v.SHA256); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	bak, _ := os.ReadFile(p + ".netplan42.bak")
	if string(bak) != myServiceXML {
		t.Errorf("backup = %q", bak)
	}
	for _, name := range []string{p, p + ".netplan42.bak"} {
		if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", name, fi.Mode())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}

	// The plan saw other content: nothing is written.
	err := f.Write(context.Background(), p, []byte("x"), v.SHA256)
	if !errors.Is(err, ErrChanged) {
		t.Errorf("stale write: %v, want ErrChanged", err)
	}
	if got, _ := os.ReadFile(p); string(got) != want {
		t.Errorf("a stale write changed the file: %q", got)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "netplan42.conf")
	if v := Read(p); v.Exists || v.NoDir || v.Err != "" {
		t.Fatalf("Read(missing) = %+v", v)
	}
	if v := Read(filepath.Join(dir, "nodir", "x.conf")); !v.NoDir {
		t.Errorf("Read(missing dir) = %+v", v)
	}
	f := &Files{}
	if err := f.Write(context.Background(), p, []byte("Port 1024\n"), ""); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new file: %v %v", fi, err)
	}
	if _, err := os.Stat(p + ".netplan42.bak"); !os.IsNotExist(err) {
		t.Errorf("a backup of nothing: %v", err)
	}
	// Created meanwhile by someone else.
	if err := f.Write(context.Background(), p, []byte("Port 1025\n"), ""); !errors.Is(err, ErrChanged) {
		t.Errorf("create over an existing file: %v", err)
	}
}

func TestRefused(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.conf")
	os.WriteFile(real, []byte("Port 22\n"), 0o644)
	link := filepath.Join(dir, "link.conf")
	os.Symlink(real, link)
	if v := Read(link); v.Exists || !strings.Contains(v.Err, "symbolic link (to "+real+")") {
		t.Errorf("Read(symlink) = %+v", v)
	}
	if err := (&Files{}).Write(context.Background(), link, []byte("x"), planner.Sum([]byte("Port 22\n"))); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Write(symlink) = %v", err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
	big := filepath.Join(dir, "big.xml")
	os.WriteFile(big, bytes.Repeat([]byte("x"), MaxSize+1), 0o644)
	if v := Read(big); v.Exists || !strings.Contains(v.Err, "at most 1024 KiB") {
		t.Errorf("Read(big) = %+v", v.Err)
	}
	if v := Read(dir); v.Exists || !strings.Contains(v.Err, "regular files only") {
		t.Errorf("Read(dir) = %+v", v.Err)
	}
}

func TestRun(t *testing.T) {
	f := &Files{Timeout: 500 * time.Millisecond}
	out, err := f.Run(context.Background(), []string{"/bin/sh", "-c", "echo restarted; echo oops >&2"})
	if err != nil || string(out) != "restarted\noops\n" {
		t.Errorf("Run = %q, %v", out, err)
	}
	out, err = f.Run(context.Background(), []string{"/bin/sh", "-c", "echo failing; exit 3"})
	if err == nil || err.Error() != "exit status 3" || string(out) != "failing\n" {
		t.Errorf("Run(exit 3) = %q, %v", out, err)
	}
	// A hanging command, and a child of it holding the output open, end
	// at the timeout.
	start := time.Now()
	_, err = f.Run(context.Background(), []string{"/bin/sh", "-c", "sleep 60 & sleep 60"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Run(hang) = %v after %s", err, time.Since(start))
	}
	if _, err := f.Run(context.Background(), []string{"/nonexistent/program"}); err == nil {
		t.Error("Run(missing program) succeeded")
	}
	out, _ = f.Run(context.Background(), []string{"/bin/sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x"})
	if len(out) > maxOutput+100 || !strings.Contains(string(out), "more bytes of output not kept") {
		t.Errorf("Run(long output) kept %d bytes", len(out))
	}
}
