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
	home := map[string]string{"HOME": "/home/a"}
	win := map[string]string{"ProgramData": `C:\ProgramData`, "LOCALAPPDATA": `C:\Users\a\AppData\Local`}
	for _, tc := range []struct {
		name  string
		goos  string
		admin bool
		env   map[string]string
		want  string
	}{
		{"root", "linux", true, map[string]string{"HOME": "/root", "XDG_STATE_HOME": "/root/.st"}, "/var/lib/netplan42/desk-alice.json"},
		{"xdg", "linux", false, map[string]string{"HOME": "/home/a", "XDG_STATE_HOME": "/home/a/.st"}, "/home/a/.st/netplan42/desk-alice.json"},
		{"home", "linux", false, home, "/home/a/.local/state/netplan42/desk-alice.json"},
		{"relative xdg ignored", "linux", false, map[string]string{"HOME": "/home/a", "XDG_STATE_HOME": "st"}, "/home/a/.local/state/netplan42/desk-alice.json"},
		{"no home", "linux", false, map[string]string{}, "/var/lib/netplan42/desk-alice.json"},
		{"freebsd root", "freebsd", true, home, "/var/db/netplan42/desk-alice.json"},
		{"freebsd user", "freebsd", false, home, "/home/a/.local/state/netplan42/desk-alice.json"},
		{"freebsd no home", "freebsd", false, nil, "/var/db/netplan42/desk-alice.json"},
		{"darwin root", "darwin", true, map[string]string{"HOME": "/var/root"}, "/Library/Application Support/netplan42/desk-alice.json"},
		{"darwin user", "darwin", false, map[string]string{"HOME": "/Users/a"}, "/Users/a/Library/Application Support/netplan42/desk-alice.json"},
		{"windows elevated", "windows", true, win, `C:\ProgramData\netplan42\desk-alice.json`},
		{"windows user", "windows", false, win, `C:\Users\a\AppData\Local\netplan42\desk-alice.json`},
		{"windows no env", "windows", true, nil, `C:\ProgramData\netplan42\desk-alice.json`},
		{"windows other drive", "windows", true, map[string]string{"ProgramData": `D:\PD\`}, `D:\PD\netplan42\desk-alice.json`},
		{"windows relative env ignored", "windows", false, map[string]string{"LOCALAPPDATA": `Local`}, `C:\ProgramData\netplan42\desk-alice.json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			if got := defaultPath(tc.goos, tc.admin, getenv, "desk[alice]"); got != tc.want {
				t.Errorf("got %s; want %s", got, tc.want)
			}
		})
	}
}
