//go:build unix

package etcdtest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts etcd in its own process group, so that stopProc reaches
// everything it starts.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// stopProc sends SIGTERM, or SIGKILL when kill, to cmd's process group.
func stopProc(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-cmd.Process.Pid, sig)
}
