package state

import (
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ tag, want string }{
		{"nas", "nas"},
		{"desk[alice]", "desk-alice"},
		{"desk[bob.2]", "desk-bob.2"},
		{"media_box-1", "media_box-1"},
		// Anything else is replaced and the name gets a hash, so that
		// desk[a b] and desk[a-b] stay apart.
		{"desk[a b]", "desk-a-b-"},
		{"desk[a-b]", "desk-a-b"},
		{"../../etc/passwd", "etc-passwd-"},
		{"..", ""},
		{"", ""},
		{".hidden", "hidden-"},
		{"desk[../x]", "desk-..-x-"},
		{"ünïcode", "n-code-"},
	} {
		got := FileName(tc.tag)
		hashed := strings.HasSuffix(tc.want, "-") || tc.want == ""
		switch {
		case !hashed && got != tc.want:
			t.Errorf("FileName(%q) = %q; want %q", tc.tag, got, tc.want)
		case hashed && (!strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+8):
			t.Errorf("FileName(%q) = %q; want %q and an 8-digit hash", tc.tag, got, tc.want)
		}
		if got == "" || strings.ContainsAny(got, `/\`) || strings.HasPrefix(got, ".") || strings.HasPrefix(got, "-") {
			t.Errorf("FileName(%q) = %q: not a safe file name", tc.tag, got)
		}
	}
	if a, b := FileName("desk[a b]"), FileName("desk[a/b]"); a == b {
		t.Errorf("desk[a b] and desk[a/b] share the file name %q", a)
	}
	if got := FileName(strings.Repeat("x", 300)); len(got) != maxNameLen+9 {
		t.Errorf("FileName of 300 bytes has %d bytes; want %d", len(got), maxNameLen+9)
	}
}

func TestDefaultPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		euid int
		env  map[string]string
		want string
	}{
		{"root", 0, map[string]string{"HOME": "/root", "XDG_STATE_HOME": "/root/.st"}, "/var/lib/netplan42/desk-alice.json"},
		{"xdg", 1000, map[string]string{"HOME": "/home/a", "XDG_STATE_HOME": "/home/a/.st"}, "/home/a/.st/netplan42/desk-alice.json"},
		{"home", 1000, map[string]string{"HOME": "/home/a"}, "/home/a/.local/state/netplan42/desk-alice.json"},
		{"relative xdg ignored", 1000, map[string]string{"HOME": "/home/a", "XDG_STATE_HOME": "st"}, "/home/a/.local/state/netplan42/desk-alice.json"},
		{"no home", 1000, map[string]string{}, "/var/lib/netplan42/desk-alice.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			if got := defaultPath(tc.euid, getenv, "desk[alice]"); got != tc.want {
				t.Errorf("got %s; want %s", got, tc.want)
			}
		})
	}
}
