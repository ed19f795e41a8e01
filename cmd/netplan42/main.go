// Command netplan42 plans and applies router port mappings and host
// firewall rules from an HCL description of a fleet: ports as code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/netplan42/netplan42/cmd/netplan42/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
