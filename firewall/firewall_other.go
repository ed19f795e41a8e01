//go:build !linux

package firewall

import (
	"context"
	"fmt"
	"runtime"
)

// openLinux: iptables and nftables exist only on Linux; knftables does not
// even build elsewhere.
func openLinux(_ context.Context, backend string, _ runFunc, _ func(string) (string, error)) (*Firewall, error) {
	return nil, fmt.Errorf("%s backend: not available on %s", backend, runtime.GOOS)
}

func openAutoLinux(ctx context.Context, run runFunc, lookPath func(string) (string, error)) (*Firewall, error) {
	return openLinux(ctx, "auto", run, lookPath)
}

// inProcess: nothing is answered without its tool off Linux.
func inProcess(string, []string) ([]byte, bool) { return nil, false }
