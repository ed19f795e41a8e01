package schema

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// fleetFiles returns a config of computers computers with three services
// each: a fixed one and two auto ones on odd computers, a fixed localhost
// UI and two auto ones on even computers. They are spread over networks of
// 100 computers, so that every pool (1024-5999, under 5000 ports)
// suffices; each network is one file.
func fleetFiles(computers int) map[string][]byte {
	const perNetwork = 100
	files := map[string][]byte{}
	for n := range (computers + perNetwork - 1) / perNetwork {
		var b strings.Builder
		fmt.Fprintf(&b, "network \"net%03d\" {\n  public_address = \"net%03d.example.net\"\n  router {\n    protocols = [\"upnp\", \"natpmp\"]\n  }\n}\n\n", n, n)
		for i := n * perNetwork; i < min((n+1)*perNetwork, computers); i++ {
			fmt.Fprintf(&b, "computer \"pc%05d\" {\n  network  = \"net%03d\"\n  firewall = \"nftables\"\n", i, n)
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
		files[fmt.Sprintf("net%03d.hcl", n)] = []byte(b.String())
	}
	return files
}

// BenchmarkLoadFleet measures what an offline plan --all spends in schema
// for 10,000 computers of 3 services: LoadFiles and Allocate, against an
// empty lock file (every auto port new) and a full one (the steady state),
// with the fleet in one file and in one file per network.
func BenchmarkLoadFleet(b *testing.B) {
	split := fleetFiles(10000)
	var all []byte
	for _, name := range slices.Sorted(maps.Keys(split)) {
		all = append(all, split[name]...)
	}
	one := map[string][]byte{"fleet.hcl": all}
	cfg, diags := LoadFiles(one, "", Options{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	full, _, diags := Allocate(cfg, &Lock{}, false)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	fullLock, _ := ParseLock(full.Bytes(), LockFileName)
	b.Logf("config %d KiB, lock %d KiB, %d assignments", len(all)/1024, len(full.Bytes())/1024, len(full.Assignments))

	for _, bc := range []struct {
		name  string
		files map[string][]byte
		lock  *Lock
	}{
		{"one-file/empty-lock", one, &Lock{}},
		{"one-file/full-lock", one, fullLock},
		{"file-per-network/full-lock", split, fullLock},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cfg, diags := LoadFiles(bc.files, "", Options{})
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
