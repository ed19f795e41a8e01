package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/internal/textout"

	"github.com/netplan42/netplan42/schema"
)

func newValidate(stdio IO) *cobra.Command {
	f := &configFlags{}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the config for mistakes, without touching anything",
		Long: `Validate reads the config and reports every mistake with its file, line and
source: unknown attributes, bad ports, unknown networks, duplicate ports in
one network, cycles in locals, and so on. It reads the lock file but never
writes it, and contacts no router.`,
		Example: "  netplan42 validate --config examples/crashplan-home",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, pending, err := loadConfigContext(cmd.Context(), stdio, f, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "%s The configuration is valid: %s, %s.\n",
				textout.Paint(useColor(stdio.Out, f.noColor), textout.Green+textout.Bold, "Success!"),
				plural(len(cfg.Networks), "network"), plural(len(cfg.Computers), "computer"))
			if pending > 0 {
				fmt.Fprintf(stdio.Out, "%s in %s would change on the next plan or apply.\n", plural(pending, "port assignment"), schema.LockFileName)
			}
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}

func newFmt(stdio IO) *cobra.Command {
	var check, diff bool
	cmd := &cobra.Command{
		Use:   "fmt [PATH...]",
		Short: "Rewrite config files in the canonical style",
		Long: `Fmt rewrites *.hcl files (default: the current directory, and the directories
below it but hidden ones and testdata) in the canonical HCL style. It refuses
files with syntax errors, reporting them instead. With --check it changes
nothing and exits 1 when a file is not formatted.`,
		Example: "  netplan42 fmt\n  netplan42 fmt --check --diff examples/",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			files, err := hclFiles(args)
			if err != nil {
				return err
			}
			bad := false
			for _, name := range files {
				src, err := os.ReadFile(name)
				if err != nil {
					return err
				}
				out, diags := schema.Format(src, name)
				if diags.HasErrors() {
					schema.WriteDiagnostics(stdio.Err, map[string]*hcl.File{name: {Bytes: src}}, diags, useColor(stdio.Err, false), termWidth(stdio.Err))
					bad = true
					continue
				}
				if string(out) == string(src) {
					continue
				}
				fmt.Fprintln(stdio.Out, name)
				if diff {
					fmt.Fprint(stdio.Out, udiff.Unified("a/"+name, "b/"+name, string(src), string(out)))
				}
				if check {
					bad = true
					continue
				}
				if err := writeFileKeepMode(name, out); err != nil {
					return err
				}
			}
			if bad {
				return exitCode(ExitError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "change nothing; exit 1 if any file is not formatted")
	cmd.Flags().BoolVar(&diff, "diff", false, "print the changes as a unified diff")
	return cmd
}

// hclFiles expands directories to their *.hcl files, sorted.
func hclFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Like the go command, skip hidden directories and testdata:
			// test fixtures are unformatted or broken on purpose. Name a
			// file or directory in them to format it anyway.
			if d.IsDir() && path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".hcl") && d.Name() != schema.LockFileName {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no *.hcl files found")
	}
	sort.Strings(out)
	return out, nil
}

func writeFileKeepMode(name string, data []byte) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".fmt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
