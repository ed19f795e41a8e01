package cli

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/schema"
)

func TestServicePrograms(t *testing.T) {
	in := &diagnose.StatusInput{
		Computer: &schema.Computer{Services: []*schema.Service{
			{Name: "crashplan", Port: 4242, Protocol: schema.TCP, Expose: schema.ExposeInternet},
			{Name: "admin", Port: 4243, Protocol: schema.TCP, Expose: schema.ExposeLocalhost},
			{Name: "sync", Port: 4244, Protocol: schema.Both, Expose: schema.ExposeLAN},
		}},
		Listeners: []diagnose.Listener{
			{Protocol: "tcp", Address: netip.MustParseAddrPort("0.0.0.0:4242"), Processes: []diagnose.Process{{PID: 1, Command: "/opt/cp/bin/CrashPlanService -Dx=y"}}},
			{Protocol: "tcp", Address: netip.MustParseAddrPort("127.0.0.1:4243"), Processes: []diagnose.Process{{PID: 2, Command: "/usr/local/bin/admin"}}},
			{Protocol: "udp", Address: netip.MustParseAddrPort("[::]:4244"), Processes: []diagnose.Process{{PID: 3, Command: "/Applications/Code42 CrashPlan.app/Contents/MacOS/sync"}}},
			{Protocol: "tcp", Address: netip.MustParseAddrPort("[::]:4244"), Processes: []diagnose.Process{{PID: 4, Command: "syncd --tcp"}}},
		},
	}
	exists := func(p string) bool { return p == "/opt/cp/bin/CrashPlanService" || p == "/usr/local/bin/admin" }
	progs, svc := servicePrograms(in, exists)
	if !slices.Equal(progs, []string{"/opt/cp/bin/CrashPlanService"}) || svc[progs[0]] != "crashplan" {
		t.Errorf("programs %q %v", progs, svc)
	}
}

func TestInsertFinding(t *testing.T) {
	rep := &diagnose.StatusReport{Findings: []diagnose.Finding{
		{Severity: diagnose.Error, Summary: "e"}, {Severity: diagnose.Warning, Summary: "w"}, {Severity: diagnose.Info, Summary: "i"},
	}}
	insertFinding(rep, diagnose.Finding{Severity: diagnose.Warning, Summary: "w2"})
	insertFinding(rep, diagnose.Finding{Severity: diagnose.Info, Summary: "i2"})
	insertFinding(rep, diagnose.Finding{Severity: diagnose.Error, Summary: "e2"})
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Summary)
	}
	if !slices.Equal(got, []string{"e", "e2", "w", "w2", "i", "i2"}) {
		t.Errorf("order %q", got)
	}
}
