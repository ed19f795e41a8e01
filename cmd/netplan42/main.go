// Command netplan42 plans and applies router port mappings and host
// firewall rules from an HCL description of a fleet: ports as code.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/netplan42/netplan42/cmd/netplan42/cli"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal asks the command to stop where it safely can
		// (an apply finishes the router call in flight and saves state);
		// a second one exits at once.
		s := <-sigs
		cancel(fmt.Errorf("%v received", s))
		s = <-sigs
		fmt.Fprintf(os.Stderr, "\nnetplan42: second %v: exiting at once; run netplan42 plan to see what the router and firewall now hold\n", s)
		os.Exit(130)
	}()
	code := cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	signal.Stop(sigs)
	os.Exit(code)
}
