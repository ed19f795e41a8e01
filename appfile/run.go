package appfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// maxOutput bounds the output of an on_change command kept for the apply
// report; the rest is counted, not kept.
const maxOutput = 16 << 10

// Run runs argv, without a shell, with standard input empty and "/" as its
// directory, in a process group of its own that is killed when ctx ends or
// the timeout passes. It returns the command's output, standard output and
// error together (at most 16 KiB of it), and an error saying how it ended
// when that was not exit status 0.
func (f *Files) Run(ctx context.Context, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	out := &capped{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	ownGroup(cmd)
	// A daemon the command leaves behind may hold the output pipe open:
	// stop waiting for it shortly after the command itself ends.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("timed out after %s, killed: %w", timeout, context.DeadlineExceeded)
	case ctx.Err() != nil:
		err = fmt.Errorf("interrupted: %w", ctx.Err())
	case errors.As(err, &ee):
		err = fmt.Errorf("%s", ee.ProcessState) // "exit status 3", "signal: killed"
	case errors.Is(err, exec.ErrWaitDelay):
		err = nil // it exited 0; what it started keeps running
	}
	return out.bytes(), err
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	mu      sync.Mutex
	b       bytes.Buffer
	max     int
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if room := max(c.max-c.b.Len(), 0); room < len(p) {
		c.dropped += len(p) - room
		p = p[:room]
	}
	c.b.Write(p)
	return n, nil
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := bytes.Clone(c.b.Bytes())
	if c.dropped > 0 {
		b = fmt.Appendf(b, "\n... %d more bytes of output not kept\n", c.dropped)
	}
	return b
}
