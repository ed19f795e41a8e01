package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/schema"
)

// newCompletion prints a shell's completion script. The scripts call the
// hidden `netplan42 __complete ARGS...` (cobra's), which completes
// subcommands and flags, and for --computer and --network the names the
// config declares (configNames).
func newCompletion(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the completion script for a shell. It completes subcommands, flags,
and the computers and networks of the config for --computer and --network
(read from --config, or NETPLAN42_CONFIG, or the current directory, as the
command being completed would).

  bash:        source <(netplan42 completion bash)
               or: netplan42 completion bash > /etc/bash_completion.d/netplan42
  zsh:         netplan42 completion zsh > "${fpath[1]}/_netplan42"
  fish:        netplan42 completion fish > ~/.config/fish/completions/netplan42.fish
  powershell:  netplan42 completion powershell | Out-String | Invoke-Expression
               (add that line to $PROFILE to keep it)`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(stdio.Out, true)
			case "zsh":
				return root.GenZshCompletion(stdio.Out)
			case "fish":
				return root.GenFishCompletion(stdio.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(stdio.Out)
			}
			return fmt.Errorf("unknown shell %q (want bash, zsh, fish or powershell)", args[0])
		},
	}
}

// registerNameCompletion completes --computer and --network with the
// config's names on every command that has them.
func registerNameCompletion(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, flag := range []string{"computer", "network"} {
			if c.Flags().Lookup(flag) != nil {
				kind := flag
				// Registering twice is an error only for the same flag
				// of the same command, which walk never revisits.
				_ = c.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
					return configNames(cmd, kind, prefix), cobra.ShellCompDirectiveNoFileComp
				})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// configNames loads the config the command would read and returns its
// computer or network names starting with prefix. A config that does not
// load gives nothing: completion never prints errors.
func configNames(cmd *cobra.Command, kind, prefix string) []string {
	fl := cmd.Flags()
	path, err := fl.GetString("config")
	if err != nil || path == "" {
		path = envOr("NETPLAN42_CONFIG", ".")
	}
	vars, _ := fl.GetStringArray("var")
	varFiles, _ := fl.GetStringArray("var-file")
	cfg, _ := schema.Load(path, schema.Options{Vars: vars, VarFiles: varFiles, Env: os.Environ()})
	if cfg == nil {
		return nil
	}
	var names []string
	if kind == "network" {
		for name := range cfg.Networks {
			names = append(names, name)
		}
	} else {
		for _, c := range cfg.Computers {
			names = append(names, c.Tag()) // desk[alice]: no quotes for the shell to strip
		}
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
