// Command routerobserve is the benchmark client for router.Observe: run
// inside a lab LAN host it discovers the router and observes it once,
// printing how many mappings it listed and the router's identity; with
// -remembered ID it starts from that identity (what state remembers, as
// plan does); with -fill N it first makes N foreign-looking TCP mappings
// to this host (to fill the router's table).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/router"
)

func main() {
	fill := flag.Int("fill", 0, "first make this many TCP mappings from -base upward")
	base := flag.Int("base", 20000, "first external port for -fill")
	timeout := flag.Duration("timeout", 0, "router.Config.Timeout (0: the default)")
	remembered := flag.String("remembered", "", "router.Config.Remembered: an identity an earlier run printed")
	flag.Parse()
	ctx := context.Background()
	start := time.Now()
	r, err := router.Open(ctx, router.Config{Timeout: *timeout, Remembered: *remembered})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opened := time.Since(start)
	for i := 0; i < *fill; i++ {
		p := uint16(*base + i)
		m := planner.Mapping{Protocol: planner.TCP, ExternalPort: p, InternalPort: p, Description: fmt.Sprintf("foreign %d", i), LeaseSeconds: 7200}
		if _, err := r.Add(ctx, m); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *fill > 0 {
		return
	}
	v, err := r.Observe(ctx, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("protocol=%s listed=%v mappings=%d open=%v total=%v identity=%s\n", v.Protocol, v.Listed, len(v.Mappings), opened.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), v.Identity)
}
