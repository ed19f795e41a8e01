package schema

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

func TestBackend(t *testing.T) {
	tests := []struct {
		name, src string
		want      *Backend
	}{
		{"none", ``, nil},
		{"defaults", `backend "etcd" { endpoints = ["http://127.0.0.1:2379"] }`,
			&Backend{Kind: BackendEtcd, Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/netplan42", ReportTTL: 3 * time.Minute}},
		{"full", `
backend "etcd" {
  endpoints  = ["https://etcd1.example.net:2379", "https://[2001:db8::1]:2379"]
  prefix     = "/netplan42/office"
  report_ttl = "90s"
  tls {
    ca_file   = "/etc/netplan42/ca.pem"
    cert_file = "/etc/netplan42/client.pem"
    key_file  = "/etc/netplan42/client.key"
  }
}`, &Backend{
			Kind:      BackendEtcd,
			Endpoints: []string{"https://etcd1.example.net:2379", "https://[2001:db8::1]:2379"},
			Prefix:    "/netplan42/office", ReportTTL: 90 * time.Second,
			TLS: &BackendTLS{CAFile: "/etc/netplan42/ca.pem", CertFile: "/etc/netplan42/client.pem", KeyFile: "/etc/netplan42/client.key"},
		}},
		{"ca only", `
backend "etcd" {
  endpoints = ["https://10.0.0.1:2379"]
  tls { ca_file = "ca.pem" }
}`, &Backend{Kind: BackendEtcd, Endpoints: []string{"https://10.0.0.1:2379"}, Prefix: "/netplan42", ReportTTL: 3 * time.Minute,
			TLS: &BackendTLS{CAFile: "ca.pem"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src + "\nnetwork \"home\" {}\n"
			cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "", Options{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if d := cmp.Diff(tt.want, cfg.Backend, cmpopts.IgnoreTypes(hcl.Range{})); d != "" {
				t.Errorf("backend (-want +got):\n%s", d)
			}
		})
	}
}

// TestBackendStreaming checks that a configuration large enough for the
// streaming loader reads its backend block too.
func TestBackendStreaming(t *testing.T) {
	var b strings.Builder
	b.WriteString("backend \"etcd\" {\n  endpoints = [\"http://127.0.0.1:2379\"]\n  prefix = \"/big\"\n}\nnetwork \"home\" {}\n")
	for i := 0; b.Len() < 2*streamMin; i++ {
		fmt.Fprintf(&b, "computer \"c%d\" {\n  network = \"home\"\n  service \"s\" {\n    port = \"auto\"\n  }\n}\n", i)
	}
	cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(b.String())}, "", Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Backend == nil || cfg.Backend.Prefix != "/big" {
		t.Fatalf("backend = %+v; want prefix /big", cfg.Backend)
	}
}
