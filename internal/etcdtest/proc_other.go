//go:build !unix

package etcdtest

import "os/exec"

func setProcAttr(*exec.Cmd) {}

// stopProc kills cmd: other systems have no SIGTERM to send.
func stopProc(cmd *exec.Cmd, kill bool) { cmd.Process.Kill() }
