//go:build race && linux

package main

import "os"

// Under go test -race the netplan42 these tests run is built with -race
// too, so the races they would catch are netplan42's own, not only the
// test harness's. halt_on_error: a race ends netplan42 at once with exit
// 66, which no test expects; by default a race changes only an exit 0,
// and a command expected to fail would hide it.
func init() {
	buildFlags = append(buildFlags, "-race")
	os.Setenv("GORACE", "halt_on_error=1 "+os.Getenv("GORACE"))
}
