package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
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

// TestReportLockChanges: moves and releases are always listed; new
// assignments one by one up to manyAssigned, then counted in one line.
func TestReportLockChanges(t *testing.T) {
	key := func(i int) schema.AssignmentKey {
		return schema.AssignmentKey{Network: "n", Computer: "computer.c" + strconv.Itoa(i), Service: "s"}
	}
	var few, many []schema.LockChange
	for i := range manyAssigned {
		few = append(few, schema.LockChange{Action: schema.LockAssign, Key: key(i), To: uint16(1000 + i)})
	}
	for i := range 30000 {
		many = append(many, schema.LockChange{Action: schema.LockAssign, Key: key(i), To: uint16(1000 + i%60000)})
	}
	moved := schema.LockChange{Action: schema.LockMove, Key: key(1), From: 5, To: 6, Reason: "5 is reserved in network \"n\""}
	var b bytes.Buffer
	reportLockChanges(&b, few)
	if n := strings.Count(b.String(), "\n"); n != manyAssigned {
		t.Errorf("%d assignments gave %d lines", manyAssigned, n)
	}
	b.Reset()
	reportLockChanges(&b, append(many, moved))
	want := "netplan42.lock.hcl: moved computer.c1 service \"s\" from port 5 to 6 (5 is reserved in network \"n\")\n" +
		"netplan42.lock.hcl: assigned 30,000 ports to services with port = \"auto\": see netplan42.lock.hcl\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 30000: "30,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// failingWriter fails every write, as a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// A plan that fails to be written says why once, whether the buffer
// filled while rendering (a long plan) or only at its flush (a short one).
func TestPrintPlanWriteErrorOnce(t *testing.T) {
	for _, n := range []int{1, 5000} {
		p := &planner.Plan{FormatVersion: planner.FormatVersion, Computer: "computer.nas", Network: "home"}
		for i := range n {
			p.Changes = append(p.Changes, planner.Change{Address: "router_mapping.s" + strconv.Itoa(i), Action: planner.Create, Reason: "desired",
				After: &planner.Object{Mapping: &planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(1024 + i), InternalPort: uint16(1024 + i)}}})
		}
		for _, asJSON := range []bool{false, true} {
			err := printPlan(failingWriter{}, p, asJSON, false)
			if err == nil || strings.Count(err.Error(), "no space left") != 1 {
				t.Errorf("%d changes, json %v: %v, want the write error once", n, asJSON, err)
			}
		}
	}
}
