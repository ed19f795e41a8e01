package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/schema"
)

// TestLoadConfigInterrupted: SIGINT while a (large) config is still being
// read ends the command at once, with nothing printed by the load after.
func TestLoadConfigInterrupted(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	defer close(release)
	loadNow = func(stdio IO, f *configFlags, write bool, term io.Writer) (*schema.Config, int, error) {
		close(started)
		<-release
		stdio.Err.Write([]byte("late diagnostics\n"))
		return nil, 0, reported
	}
	defer func() { loadNow = loadConfigNow }()

	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-started
		cancel(errors.New("interrupt received"))
	}()
	var stderr bytes.Buffer
	_, _, err := loadConfigContext(ctx, IO{Err: &stderr}, &configFlags{lockfile: "update"}, false)
	if err == nil || !strings.Contains(err.Error(), "interrupted while reading the configuration: interrupt received") {
		t.Fatalf("err = %v", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("printed %q", stderr.String())
	}
}
