//go:build linux

package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MkdirTemp makes a temporary directory named prefix-PID-random, so that
// SweepTemp can tell the directories of live processes from those a killed
// run left behind (go test's alarm, a SIGKILL, a crash).
func MkdirTemp(prefix string) (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s-%d-", prefix, os.Getpid()))
}

// SweepTemp removes the directories MkdirTemp(prefix) made for processes
// that are gone. Directories of live processes, this one's included, stay.
func SweepTemp(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), prefix+"-")
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.RemoveAll(d)
	}
}
