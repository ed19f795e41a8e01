package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/schema"
)

type portFlags struct {
	configFlags
	computer string
}

func newPort(stdio IO) *cobra.Command {
	f := &portFlags{}
	cmd := &cobra.Command{
		Use:   "port SERVICE",
		Short: "Print the port assigned to a service of this computer, alone (for scripts)",
		Long: `Port prints the listen port of SERVICE on this computer and nothing else: the
fixed port, or the one port = "auto" was given in netplan42.lock.hcl. It
reads the config and the lock file and changes nothing.`,
		Example: `  netplan42 port crashplan
  ssh -p "$(netplan42 port ssh --computer nas)" nas`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPort(cmd.Context(), stdio, f, args[0]) },
	}
	f.configFlags.register(cmd, false)
	cmd.Flags().StringVar(&f.computer, "computer", os.Getenv("NETPLAN42_COMPUTER"), "the computer this machine is (default: the one whose hostname matches this machine's; env NETPLAN42_COMPUTER)")
	return cmd
}

func runPort(ctx context.Context, stdio IO, f *portFlags, name string) error {
	cfg, pending, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
	if err != nil {
		return err
	}
	c, err := pickComputer(cfg, f.computer)
	if err != nil {
		return err
	}
	s, err := findService(c, name)
	if err != nil {
		return err
	}
	if s.Port == 0 {
		return fmt.Errorf("service %q of %s has no port assigned yet in %s: run netplan42 plan to assign one", s.Name, c.Address(), schema.LockFileName)
	}
	if s.Auto && pending > 0 {
		fmt.Fprintf(stdio.Err, "note: %s in %s would change on the next plan or apply; until then another computer may still be given this port\n", plural(pending, "port assignment"), schema.LockFileName)
	}
	fmt.Fprintln(stdio.Out, s.Port)
	return nil
}

// findService returns c's service called name, or an error listing them.
func findService(c *schema.Computer, name string) (*schema.Service, error) {
	var names []string
	for _, s := range c.Services {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no services", c.Address())
	}
	return nil, fmt.Errorf("%s has no service %q (services: %s)", c.Address(), name, strings.Join(names, ", "))
}
