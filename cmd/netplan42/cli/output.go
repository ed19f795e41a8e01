package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

type outputFlags struct {
	configFlags
	computer  string
	statePath string
	json      bool
}

func newOutput(stdio IO) *cobra.Command {
	f := &outputFlags{}
	cmd := &cobra.Command{
		Use:   "output",
		Short: "Print this computer's services with their ports, and the network's public address",
		Long: `Output prints every service of this computer with its port, external port
(the router side, for services exposed to the internet) and protocol, and
how other networks reach this one: the network's public_address, or else
the router's external address as plan or apply last saw it (from state).
It reads the config, the lock file and state, and changes nothing.`,
		Example: `  netplan42 output
  netplan42 output --json --computer nas | jq '.services[] | select(.name == "crashplan").port'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runOutput(cmd.Context(), stdio, f) },
	}
	f.configFlags.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&f.computer, "computer", os.Getenv("NETPLAN42_COMPUTER"), "the computer this machine is (default: the one whose hostname matches this machine's; env NETPLAN42_COMPUTER)")
	fl.StringVar(&f.statePath, "state", "", "state file, for the router's external address"+stateDefaultHelp)
	fl.BoolVar(&f.json, "json", false, "print JSON (format_version "+outputFormatVersion+")")
	return cmd
}

// outputFormatVersion versions output --json; minor versions add fields.
const outputFormatVersion = "1.0"

// Output is what output --json prints.
type Output struct {
	FormatVersion string `json:"format_version"`
	Computer      string `json:"computer"`
	Network       string `json:"network"`
	// PublicAddress is how other networks reach this one; empty when
	// neither the config nor state says.
	PublicAddress string `json:"public_address,omitempty"`
	// PublicAddressSource is "config" (public_address) or "router" (the
	// external address state remembers).
	PublicAddressSource string          `json:"public_address_source,omitempty"`
	Services            []OutputService `json:"services"`
}

// OutputService is one service in Output.
type OutputService struct {
	Name     string `json:"name"`
	Port     uint16 `json:"port"`
	Auto     bool   `json:"auto"`
	Protocol string `json:"protocol"`
	Expose   string `json:"expose"`
	// ExternalPort is the router side; 0 (left out) unless the service is
	// exposed to the internet.
	ExternalPort uint16 `json:"external_port,omitempty"`
}

func runOutput(ctx context.Context, stdio IO, f *outputFlags) error {
	cfg, _, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
	if err != nil {
		return err
	}
	c, err := pickComputer(cfg, f.computer)
	if err != nil {
		return err
	}
	n := cfg.Networks[c.Network]
	o := Output{FormatVersion: outputFormatVersion, Computer: c.Address(), Network: c.Network, Services: []OutputService{}}
	if n.PublicAddress != "" {
		o.PublicAddress, o.PublicAddressSource = n.PublicAddress, "config"
	} else {
		path := f.statePath
		if path == "" {
			path = state.DefaultPath(c.Tag())
		}
		// Read without the lock, as status does: state is replaced by
		// rename, so a read sees a whole one.
		if st, err := storeFor(c, path, f.statePath != "").Read(); err == nil && st != nil && st.Computer == c.Address() && st.Router.External.IsValid() {
			o.PublicAddress, o.PublicAddressSource = st.Router.External.String(), "router"
		}
	}
	for _, s := range c.Services {
		sv := OutputService{Name: s.Name, Port: s.Port, Auto: s.Auto, Protocol: s.Protocol, Expose: s.Expose}
		if s.Expose == schema.ExposeInternet {
			sv.ExternalPort = s.External()
		}
		o.Services = append(o.Services, sv)
	}
	if f.json {
		return textout.JSON(stdio.Out, o)
	}
	return renderOutput(stdio, o)
}

func renderOutput(stdio IO, o Output) error {
	addr := "unknown: set public_address on network " + fmt.Sprintf("%q", o.Network) + ", or run plan to see the router's external address"
	switch o.PublicAddressSource {
	case "config":
		addr = o.PublicAddress + " (public_address)"
	case "router":
		addr = o.PublicAddress + " (the router's external address when plan or apply last looked)"
	}
	fmt.Fprintf(stdio.Out, "%s (network %q)\n  public address: %s\n\n", o.Computer, o.Network, addr)
	tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVICE\tPORT\tEXTERNAL\tPROTOCOL\tEXPOSE")
	for _, s := range o.Services {
		port, ext := fmt.Sprint(s.Port), "-"
		if s.Auto {
			port += " (auto)"
		}
		if s.ExternalPort != 0 {
			ext = fmt.Sprint(s.ExternalPort)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Name, port, ext, s.Protocol, s.Expose)
	}
	return tw.Flush()
}
