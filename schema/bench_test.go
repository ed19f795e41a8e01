package schema

import (
	"fmt"
	"strings"
	"testing"
)

// fleetConfig returns a config of computers computers with three services
// each, a fixed one and two auto ones on odd computers, a fixed localhost
// UI and an auto one on even computers, spread over networks of 100
// computers so that every pool (1024-5999, under 5000 ports) suffices.
func fleetConfig(computers int) []byte {
	var b strings.Builder
	const perNetwork = 100
	for n := range (computers + perNetwork - 1) / perNetwork {
		fmt.Fprintf(&b, "network \"net%03d\" {\n  public_address = \"net%03d.example.net\"\n  router {\n    protocols = [\"upnp\", \"natpmp\"]\n  }\n}\n\n", n, n)
	}
	for i := range computers {
		fmt.Fprintf(&b, "computer \"pc%05d\" {\n  network  = \"net%03d\"\n  firewall = \"nftables\"\n", i, i/perNetwork)
		if i%2 == 1 {
			fmt.Fprintf(&b, "  service \"crashplan\" {\n    port   = %d\n    expose = \"internet\"\n  }\n", 6000+i%perNetwork)
			b.WriteString("  service \"sync\" {\n    port     = \"auto\"\n    protocol = \"both\"\n    expose   = \"lan\"\n  }\n")
			b.WriteString("  service \"extra\" {\n    port       = \"auto\"\n    allow_from = [\"192.168.0.0/16\"]\n  }\n")
		} else {
			b.WriteString("  service \"crashplan\" {\n    port   = \"auto\"\n    expose = \"internet\"\n  }\n")
			b.WriteString("  service \"crashplan-ui\" {\n    port   = 4243\n    expose = \"localhost\"\n  }\n")
			b.WriteString("  service \"sync\" {\n    port   = \"auto\"\n    expose = \"lan\"\n  }\n")
		}
		b.WriteString("}\n\n")
	}
	return []byte(b.String())
}

// BenchmarkLoadFleet measures what an offline plan --all spends in schema
// for 10,000 computers of 3 services: Load and Allocate, first against an
// empty lock file (every auto port new), then against a full one.
func BenchmarkLoadFleet(b *testing.B) {
	src := fleetConfig(10000)
	files := map[string][]byte{"fleet.hcl": src}
	cfg, diags := LoadFiles(files, "", Options{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	full, _, diags := Allocate(cfg, &Lock{}, false)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	fullLock, _ := ParseLock(full.Bytes(), LockFileName)
	b.Logf("config %d KiB, lock %d KiB, %d assignments", len(src)/1024, len(full.Bytes())/1024, len(full.Assignments))

	for _, bc := range []struct {
		name string
		lock *Lock
	}{{"empty-lock", &Lock{}}, {"full-lock", fullLock}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cfg, diags := LoadFiles(files, "", Options{})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if _, _, diags := Allocate(cfg, bc.lock, false); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
		})
	}
}
