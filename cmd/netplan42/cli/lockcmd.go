package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/schema"
)

type lockFlags struct {
	configFlags
	file string
}

// newLock is netplan42 lock export|import: port assignments between the
// lock file and the config's backend.
func newLock(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Move port assignments between the lock file and the backend",
		Long: `A fleet can start with its port = "auto" assignments in netplan42.lock.hcl,
reviewed in git, and grow into a backend (backend "etcd" in the config) where
computers claim ports themselves, and back: "lock import" claims in the
backend every assignment of the lock file, "lock export" writes the backend's
claims as a lock file. An export of an import gives the same bytes.`,
	}
	ef, imf := &lockFlags{}, &lockFlags{}
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the backend's port claims as a lock file",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runLockExport(cmd.Context(), stdio, ef) },
	}
	ef.configFlags.register(export, false)
	export.Flags().StringVarP(&ef.file, "output", "o", "", "write here instead of netplan42.lock.hcl next to the config; - for standard output")
	imp := &cobra.Command{
		Use:   "import",
		Short: "Claim in the backend the port assignments of a lock file",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runLockImport(cmd.Context(), stdio, imf) },
	}
	imf.configFlags.register(imp, false)
	imp.Flags().StringVarP(&imf.file, "input", "i", "", "read this lock file instead of netplan42.lock.hcl next to the config")
	cmd.AddCommand(export, imp)
	return cmd
}

// lockBackend loads the config and returns its backend.
func lockBackend(ctx context.Context, stdio IO, f *lockFlags) (*schema.Config, fleetBackend, error) {
	cfg, _, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Backend == nil {
		return nil, nil, errors.New("the config has no backend block: the lock file is where its ports are; add a backend \"etcd\" block to move them")
	}
	if len(cfg.Computers) > 0 {
		if b, ok := backends.Load(cfg.Computers[0]); ok {
			return cfg, b.(fleetBackend), nil
		}
	}
	b, err := openBackend(cfg)
	return cfg, b, err
}

func runLockExport(ctx context.Context, stdio IO, f *lockFlags) error {
	_, b, err := lockBackend(ctx, stdio, f)
	if err != nil {
		return err
	}
	lock, err := b.ExportLock(ctx)
	if err != nil {
		return err
	}
	switch f.file {
	case "-":
		_, err := stdio.Out.Write(lock.Bytes())
		return err
	case "":
		dir := configDir(f.config)
		if err := schema.WriteLock(dir, lock); err != nil {
			return err
		}
		fmt.Fprintf(stdio.Err, "%s: wrote %s from %s\n", filepath.Join(dir, schema.LockFileName), plural(len(lock.Assignments), "assignment"), b)
		return nil
	}
	dir, name := filepath.Split(f.file)
	if name != schema.LockFileName {
		// WriteLock writes netplan42.lock.hcl in a directory; any other
		// name is written as it is.
		return os.WriteFile(f.file, lock.Bytes(), 0o644)
	}
	if dir == "" {
		dir = "."
	}
	return schema.WriteLock(dir, lock)
}

func runLockImport(ctx context.Context, stdio IO, f *lockFlags) error {
	cfg, b, err := lockBackend(ctx, stdio, f)
	if err != nil {
		return err
	}
	var lock *schema.Lock
	if f.file == "" {
		l, d := schema.ReadLock(configDir(f.config))
		if d.HasErrors() {
			return fmt.Errorf("read the lock file: %s", d.Error())
		}
		lock = l
	} else {
		src, err := os.ReadFile(f.file)
		if err != nil {
			return fmt.Errorf("read the lock file: %w", err)
		}
		l, d := schema.ParseLock(src, f.file)
		if d.HasErrors() {
			return fmt.Errorf("read the lock file: %s", d.Error())
		}
		lock = l
	}
	n, err := b.ImportLock(ctx, cfg, lock)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Err, "%s: claimed %s of %d in the lock file (the others were claimed already)\n", b, plural(n, "assignment"), len(lock.Assignments))
	return nil
}
