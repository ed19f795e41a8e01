package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/netplan42/netplan42/internal/textout"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2 // plan --detailed-exitcode: changes pending
)

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Version and Commit are set at build time with -ldflags "-X
// ...cli.Version=v1.2.3 -X ...cli.Commit=0123abcd": release builds run
// without the go command's VCS stamping (-buildvcs=false).
var (
	Version = "dev"
	Commit  = ""
)

// exitCode carries a non-error exit status out of a command.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// reported marks an error whose details were already printed (diagnostics).
var reported = errors.New("reported")

// Run runs netplan42 with args and returns the process exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, reported):
		return ExitError
	}
	fmt.Fprintf(stdio.Err, "%s %s\n", textout.Paint(useColor(stdio.Err, false), textout.Red+textout.Bold, "Error:"), err)
	return ExitError
}

func newRoot(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "netplan42",
		Short: "Ports as code: plan and apply router port mappings and firewall rules",
		Long: `netplan42 keeps a fleet's inbound ports in an HCL file under version control.

"plan" discovers what the router (UPnP IGD, NAT-PMP) and the host firewall
(iptables, nftables, pf) hold and shows exactly what would change; "apply"
makes it so, touching nothing netplan42 does not own. Each computer applies its
own slice of the shared config: run netplan42 on every machine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newValidate(stdio), newFmt(stdio), newPlan(stdio), newApply(stdio, false), newApply(stdio, true),
		newShow(stdio), newVersion(stdio), newAgent(stdio),
		newStatus(stdio),
		newCheck(stdio),
		newPort(stdio), newOutput(stdio),
		newCompletion(stdio),
		newLock(stdio), newFleet(stdio),
	)
	registerNameCompletion(root)
	return root
}

func newVersion(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print netplan42's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(stdio.Out, versionString())
			return nil
		},
	}
}

func versionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && Commit == "" {
				v += " (" + s.Value[:12] + ")"
			}
		}
		if Commit != "" {
			v += " (" + Commit + ")"
		}
		return fmt.Sprintf("netplan42 %s %s", v, bi.GoVersion)
	}
	return "netplan42 " + v
}

// useColor reports whether w is a terminal and the user did not opt out.
func useColor(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// termWidth is the width diagnostics wrap at.
func termWidth(w io.Writer) uint {
	if f, ok := w.(*os.File); ok {
		if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 20 {
			return uint(n)
		}
	}
	return 78
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}
