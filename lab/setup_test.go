//go:build linux

package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeIP puts a fake `ip` (and `iptables-legacy`) first on PATH. It
// records every call in the returned log file, hangs (with a child holding
// its output open, as a stuck `ip` under load would) on calls whose
// arguments start with hang, and fails the first `netns add` when failOnce.
// Nothing on the machine changes: no namespace is made.
func fakeIP(t *testing.T, hang string, failOnce bool) (log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$*" >> "` + log + `"
case "$*" in
"netns add "*)
	if [ -n "` + map[bool]string{true: "y"}[failOnce] + `" ] && [ ! -e "` + log + `.failed" ]; then
		touch "` + log + `.failed"
		echo "mount --make-shared /run/netns failed: Device or resource busy" >&2
		exit 1
	fi;;
esac
if [ -n "` + hang + `" ]; then
	case "$*" in
	"` + hang + `"*) sleep 600; exit 0;;
	esac
fi
exit 0
`
	for _, name := range []string{"ip", "iptables-legacy"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func setTimeouts(t *testing.T, step, attempt time.Duration) {
	old := [2]time.Duration{StepTimeout, AttemptTimeout}
	StepTimeout, AttemptTimeout = step, attempt
	t.Cleanup(func() { StepTimeout, AttemptTimeout = old[0], old[1] })
}

// calls returns the fake ip's calls whose arguments start with prefix.
func calls(t *testing.T, log, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, strings.TrimPrefix(l, prefix))
		}
	}
	return out
}

// A set-up step that hangs fails after StepTimeout instead of holding the
// test until go test's alarm, and what was made is removed.
func TestStartStepHangIsBounded(t *testing.T) {
	log := fakeIP(t, "link add wan0", false)
	setTimeouts(t, 500*time.Millisecond, 20*time.Second)
	start := time.Now()
	l, err := Start(context.Background(), Spec{NoDaemon: true})
	took := time.Since(start)
	if err == nil {
		l.Close()
		t.Fatal("Start succeeded with a hanging ip link add")
	}
	if took > 5*time.Second {
		t.Errorf("Start took %s with a step timeout of 500ms", took)
	}
	if !strings.Contains(err.Error(), "veth") || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("error does not name the stuck step and its deadline: %v", err)
	}
	added, deleted := calls(t, log, "netns add "), calls(t, log, "netns del ")
	if len(added) != 3 || strings.Join(added, " ") != strings.Join(deleted, " ") {
		t.Errorf("namespaces added %q, deleted %q: want all deleted", added, deleted)
	}
}

// The whole attempt is bounded too, and a failed attempt is retried.
func TestStartRetry(t *testing.T) {
	log := fakeIP(t, "", true)
	setTimeouts(t, 5*time.Second, 20*time.Second)
	var logged []string
	l, err := StartRetry(context.Background(), Spec{NoDaemon: true}, func(f string, a ...any) {
		logged = append(logged, f)
	})
	if err != nil {
		t.Fatalf("StartRetry after one failed ip netns add: %v", err)
	}
	l.Close()
	if len(logged) != 1 {
		t.Errorf("%d failed attempts logged, want 1", len(logged))
	}
	added, deleted := calls(t, log, "netns add "), calls(t, log, "netns del ")
	// The failed add is deleted too: a killed add may have made it.
	if len(added) != 4 || strings.Join(added, " ") != strings.Join(deleted, " ") {
		t.Errorf("namespaces added %q, deleted %q: want all deleted", added, deleted)
	}

	// An attempt that hangs past AttemptTimeout is given up, every time.
	log = fakeIP(t, "netns exec", false)
	setTimeouts(t, 30*time.Second, 300*time.Millisecond)
	start := time.Now()
	if l, err := StartRetry(context.Background(), Spec{NoDaemon: true}, t.Logf); err == nil {
		l.Close()
		t.Fatal("StartRetry succeeded with a hanging set-up")
	} else if !strings.Contains(err.Error(), "3 time(s)") {
		t.Errorf("error = %v, want it to say 3 attempts failed", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("3 attempts of 300ms took %s", took)
	}
	if added, deleted := calls(t, log, "netns add "), calls(t, log, "netns del "); len(added) != 3 || len(deleted) != 3 {
		t.Errorf("namespaces added %q, deleted %q", added, deleted)
	}
}
