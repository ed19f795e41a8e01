//go:build linux

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/lab"
)

// TestLabRestartWithoutLeaseFile: miniupnpd restarted without its lease
// file brings our mapping back described "miniupnpd" with lease 0. The
// plan calls it ours (re-tagged in place), never a foreign holder; apply
// puts the tag back; destroy removes it.
func TestLabRestartWithoutLeaseFile(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
	if err := r.l.RestartRouterLosingLeases(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := grepLines(r.upnpcLines(1), "4242->192.0.2.10:4242"); len(got) != 1 || !strings.Contains(got[0], "'miniupnpd'") {
		t.Fatalf("want our mapping restored as 'miniupnpd': %q", got)
	}
	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `~ router_mapping.crashplan["tcp"]`, `described "miniupnpd"`, "Plan: 0 to add, 1 to change")
	if strings.Contains(p.stdout, "not managed by netplan42") || strings.Contains(p.stdout, "held by") {
		t.Errorf("our restored mapping shown as foreign:\n%s", p.stdout)
	}
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 changed")
	if got := grepLines(r.upnpcLines(1), "netplan42:h1/crashplan"); len(got) != 1 {
		t.Fatalf("tag not back: %q", r.upnpcLines(1))
	}
	if err := r.reachable(1, 4242); err != nil {
		t.Fatal(err)
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
	r.np(1, "destroy", "--auto-approve").want(t, 0, "1 destroyed")
	if got := r.upnpcLines(1); len(got) != 0 {
		t.Errorf("left after destroy: %q", got)
	}
}
