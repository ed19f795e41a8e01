package state

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"runtime"
	"strings"
)

// Privileged reports whether this process runs as root (an elevated
// administrator on Windows): the one that may read the system's state
// directory, every process's sockets and the firewall.
func Privileged() bool { return isAdmin() }

// DefaultPath returns where the state of the computer tagged computerTag
// (nas, desk[alice]) lives on this host. NAME is FileName of the tag. For
// an administrator (root; on Windows an elevated process) it is the
// system's directory for program state:
//
//	linux    /var/lib/netplan42/NAME.json
//	freebsd  /var/db/netplan42/NAME.json
//	darwin   /Library/Application Support/netplan42/NAME.json
//	windows  %ProgramData%\netplan42\NAME.json
//
// For others it is $XDG_STATE_HOME/netplan42/NAME.json or
// ~/.local/state/netplan42/NAME.json (macOS: ~/Library/Application
// Support/netplan42; Windows: %LOCALAPPDATA%\netplan42). It is never in
// the configuration directory, which is committed to git while the state
// reveals the LAN layout.
func DefaultPath(computerTag string) string {
	return defaultPath(runtime.GOOS, isAdmin(), os.Getenv, computerTag)
}

func defaultPath(goos string, admin bool, getenv func(string) string, computerTag string) string {
	name := FileName(computerTag) + ".json"
	if goos == "windows" {
		// Joined with backslashes whatever the build's OS, so tests on
		// Linux see what Windows does.
		dir := getenv("ProgramData")
		if !admin && winAbs(getenv("LOCALAPPDATA")) {
			dir = getenv("LOCALAPPDATA")
		} else if !winAbs(dir) {
			dir = `C:\ProgramData`
		}
		return strings.TrimRight(dir, `\/`) + `\netplan42\` + name
	}
	system := map[string]string{
		"freebsd": "/var/db/netplan42",
		"darwin":  "/Library/Application Support/netplan42",
	}[goos]
	if system == "" {
		system = "/var/lib/netplan42"
	}
	if admin {
		return path.Join(system, name)
	}
	h := getenv("HOME")
	if goos == "darwin" && path.IsAbs(h) {
		return path.Join(h, "Library", "Application Support", "netplan42", name)
	}
	// The XDG spec says to ignore a relative XDG_STATE_HOME.
	if x := getenv("XDG_STATE_HOME"); path.IsAbs(x) {
		return path.Join(x, "netplan42", name)
	}
	if path.IsAbs(h) {
		return path.Join(h, ".local", "state", "netplan42", name)
	}
	// No home: the system directory, where writing fails with a clear
	// permission error rather than landing in the working directory.
	return path.Join(system, name)
}

// winAbs reports whether p is an absolute Windows path: C:\x or \\host\share.
func winAbs(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') || strings.HasPrefix(p, `\\`)
}

// maxNameLen keeps a file name, with ".json.backup" and a temporary suffix,
// well under the 255 bytes file systems allow.
const maxNameLen = 100

// FileName turns a computer tag into a file name: desk[alice] becomes
// desk-alice. Only letters, digits, '.', '_' and '-' survive, runs of
// anything else become one '-', and the name never starts with '.' or '-',
// so it cannot climb out of the state directory or hide. When the tag had
// to be changed beyond the key brackets, or was cut short, a hash of it is
// appended, so distinct tags keep distinct files.
func FileName(computerTag string) string {
	var b strings.Builder
	dash := false
	for _, r := range computerTag {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimLeft(strings.TrimRight(b.String(), "-."), "-.")
	plain := name == computerTag || canonicalKeyed(computerTag, name)
	if len(name) > maxNameLen {
		name, plain = name[:maxNameLen], false
	}
	if !plain || name == "" {
		sum := sha256.Sum256([]byte(computerTag))
		if name != "" {
			name += "-"
		}
		name += hex.EncodeToString(sum[:4])
	}
	return name
}

// canonicalKeyed reports whether tag is label[key] with both parts made of
// safe characters, so that name (label-key) is the expected rendering.
func canonicalKeyed(tag, name string) bool {
	label, key, ok := strings.Cut(strings.TrimSuffix(tag, "]"), "[")
	return ok && strings.HasSuffix(tag, "]") && label+"-"+key == name &&
		label == strings.Trim(label, "-.") && key == strings.Trim(key, "-.")
}
