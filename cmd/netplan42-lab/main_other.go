//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "netplan42-lab: the lab is made of Linux network namespaces; not available on %s\n", runtime.GOOS)
	os.Exit(1)
}
