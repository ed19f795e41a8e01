package schema

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

// ignoreRanges drops source ranges from comparisons of decoded values.
var ignoreRanges = cmp.Options{cmpopts.IgnoreTypes(hcl.Range{}), cmpopts.IgnoreUnexported(Service{})}

// load loads one file of source and fails the test on any diagnostic.
func load(t *testing.T, src string, opts Options) *Config {
	t.Helper()
	cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "dir", opts)
	if len(diags) > 0 {
		var buf bytes.Buffer
		WriteDiagnostics(&buf, cfg.Files, diags, false, 100)
		t.Fatalf("unexpected diagnostics:\n%s", buf.String())
	}
	return cfg
}

// loadDiags loads one file of source and returns the rendered diagnostics.
func loadDiags(t *testing.T, src string, opts Options) (hcl.Diagnostics, string) {
	t.Helper()
	cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "dir", opts)
	var buf bytes.Buffer
	WriteDiagnostics(&buf, cfg.Files, diags, false, 0)
	return diags, buf.String()
}

func TestLoadExample(t *testing.T) {
	cfg, diags := Load("testdata/example", Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if cfg.Dir != "testdata/example" {
		t.Errorf("Dir = %q", cfg.Dir)
	}
	if _, ok := cfg.Files[filepath.Join("testdata", "example", "netplan42.hcl")]; !ok {
		t.Errorf("Files lacks the config file: %v", cfg.Files)
	}
	want := &Config{
		Networks: map[string]*Network{
			"home": {
				Name:          "home",
				ListenPorts:   PortRange{1024, 5999},
				ReservedPorts: []uint16{4242, 4243},
				Router:        Router{Protocols: []Via{"upnp", "natpmp"}, Lease: 2 * time.Hour},
			},
		},
		Computers: []*Computer{
			{
				Label: "desktop", Network: "home", Hostname: "desktop", Firewall: "nftables",
				Services: []*Service{{Name: "crashplan", Auto: true, Protocol: "tcp", Expose: "internet"}},
			},
			{
				Label: "nas", Network: "home", Hostname: "nas", Firewall: "iptables",
				Services: []*Service{
					{Name: "crashplan", Port: 4242, Protocol: "tcp", Expose: "internet"},
					{Name: "crashplan-ui", Port: 4243, Protocol: "tcp", Expose: "localhost"},
				},
			},
		},
	}
	opts := []cmp.Option{ignoreRanges, cmpopts.IgnoreFields(Config{}, "Dir", "Files"), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}
	if diff := cmp.Diff(want, cfg, opts...); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	// Ranges point at the value, for diagnostics about it.
	if r := cfg.Computer("nas").Services[0].PortRange(); r.Start.Line != 17 {
		t.Errorf("PortRange = %v, want line 17", r)
	}
}

func TestDefaults(t *testing.T) {
	cfg := load(t, `
network "home" {}
computer "nas" {
  network = "home"
  service "crashplan" {
    port = 4242
  }
}
`, Options{})
	n := cfg.Networks["home"]
	if n.ListenPorts != (PortRange{1024, 5999}) || !slices.Equal(n.ReservedPorts, []uint16{4242, 4243}) {
		t.Errorf("network ports = %v %v", n.ListenPorts, n.ReservedPorts)
	}
	if !slices.Equal(n.Router.Protocols, []Via{"upnp", "natpmp"}) || n.Router.Lease != 2*time.Hour || n.Router.Gateway.IsValid() {
		t.Errorf("router = %+v", n.Router)
	}
	c := cfg.Computers[0]
	if c.Hostname != "nas" || c.Firewall != "auto" || c.HasKey {
		t.Errorf("computer = %+v", c)
	}
	s := c.Services[0]
	if s.Protocol != "tcp" || s.Expose != "lan" || s.ExternalPort != 0 || s.AllowFrom != nil || s.External() != 4242 {
		t.Errorf("service = %+v", s)
	}
}

func TestValues(t *testing.T) {
	cfg := load(t, `
network "home" {
  listen_ports   = 5000
  reserved_ports = [5000, 4242, 5000]
  public_address = "203.0.113.7"
  router {
    protocols = ["natpmp", "manual"]
    lease     = "1d12h"
    gateway   = "192.168.1.1"
  }
}
network "office" {
  listen_ports   = " 2000 - 2999 "
  public_address = "office.example.net"
  router {
    lease = 0
  }
}
network "cafe" {
  router {
    lease = "permanent"
  }
}
network "lab" {
  router {
    lease = 3600
  }
}
computer "nas" {
  network  = "home"
  hostname = "NAS.local"
  firewall = "none"
  service "web" {
    port          = "8080"
    protocol      = "both"
    expose        = "internet"
    external_port = 80
    allow_from    = ["192.168.1.0/24", "10.0.0.5", "2001:db8::/32"]
  }
}
`, Options{})
	home := cfg.Networks["home"]
	if home.ListenPorts != (PortRange{5000, 5000}) || !slices.Equal(home.ReservedPorts, []uint16{4242, 5000}) || home.PublicAddress != "203.0.113.7" {
		t.Errorf("home = %+v", home)
	}
	if !slices.Equal(home.Router.Protocols, []Via{"natpmp", "manual"}) || home.Router.Lease != 36*time.Hour || home.Router.Gateway != netip.MustParseAddr("192.168.1.1") {
		t.Errorf("home router = %+v", home.Router)
	}
	office := cfg.Networks["office"]
	if office.ListenPorts != (PortRange{2000, 2999}) || office.Router.Lease != 0 || office.PublicAddress != "office.example.net" {
		t.Errorf("office = %+v", office)
	}
	if cfg.Networks["cafe"].Router.Lease != 0 || cfg.Networks["lab"].Router.Lease != time.Hour {
		t.Errorf("leases: cafe %v, lab %v", cfg.Networks["cafe"].Router.Lease, cfg.Networks["lab"].Router.Lease)
	}
	c := cfg.Computers[0]
	if c.Hostname != "NAS.local" || c.Firewall != "none" {
		t.Errorf("computer = %+v", c)
	}
	s := c.Services[0]
	want := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("2001:db8::/32")}
	if s.Port != 8080 || s.Protocol != "both" || !slices.Equal(s.Protocols(), []string{"tcp", "udp"}) || s.External() != 80 || !slices.Equal(s.AllowFrom, want) {
		t.Errorf("service = %+v", s)
	}
	if s.ExternalPortRange().Start.Line == 0 {
		t.Error("ExternalPortRange not set")
	}
}

// varsConfig declares variables of several types and shows their values
// in places the test can read back.
const varsConfig = `
variable "port" {
  type    = number
  default = 5000
}
variable "name" {
  type        = string
  default     = "home"
  description = "network name"
}
variable "untyped" {
  default = "x"
}
variable "users" {
  type    = list(string)
  default = []
}
variable "settings" {
  type = object({
    firewall = optional(string, "pf")
    expose   = optional(string, "lan")
  })
  default = {}
}
network "n" {
  public_address = "${var.name}.example.net"
}
computer "c" {
  network  = "n"
  hostname = "${var.untyped}-${join("-", var.users)}"
  firewall = var.settings.firewall
  service "s" {
    port   = var.port
    expose = var.settings.expose
  }
}
`

func TestVariables(t *testing.T) {
	dir := t.TempDir()
	file1, file2 := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	os.WriteFile(file1, []byte("port = 5001\nname = \"one\"\n"), 0o644)
	os.WriteFile(file2, []byte("port = 5002\nsettings = { firewall = \"nftables\" }\n"), 0o644)

	type result struct {
		port           uint16
		name, hostname string
		firewall       string
		expose         string
	}
	get := func(cfg *Config) result {
		c := cfg.Computers[0]
		return result{c.Services[0].Port, strings.TrimSuffix(cfg.Networks["n"].PublicAddress, ".example.net"), c.Hostname, c.Firewall, c.Services[0].Expose}
	}
	tests := []struct {
		name string
		opts Options
		want result
	}{
		{"defaults", Options{}, result{5000, "home", "x-", "pf", "lan"}},
		{"env", Options{Env: []string{"NETPLAN42_VAR_port=6000", "NETPLAN42_VAR_untyped=y", "NETPLAN42_VAR_unknown=1", "PATH=/bin"}},
			result{6000, "home", "y-", "pf", "lan"}},
		{"var files in order, over env", Options{VarFiles: []string{file1, file2}, Env: []string{"NETPLAN42_VAR_port=6000"}},
			result{5002, "one", "x-", "nftables", "lan"}},
		{"--var over var files, last wins", Options{VarFiles: []string{file1}, Vars: []string{"port=7000", "port=7001", "name=cli"}},
			result{7001, "cli", "x-", "pf", "lan"}},
		{"non-string parsed as HCL", Options{Vars: []string{`users=["ann", "bob"]`, `settings={expose = "internet"}`, "port=5000 + 5"}},
			result{5005, "home", "x-ann-bob", "pf", "internet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := Load(writeConfig(t, varsConfig), tt.opts)
			if len(diags) > 0 {
				t.Fatal(diags)
			}
			if got := get(cfg); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// writeConfig writes src as a config file in a new directory and returns
// the directory.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVariableMistakes(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the rendered diagnostics
	}{
		{"unknown --var", Options{Vars: []string{"prot=1"}}, []string{"Undeclared variable", `--var sets "prot"`, `Did you mean "port"?`}},
		{"no =", Options{Vars: []string{"port"}}, []string{"Invalid --var option", `--var "port" must be name=value`}},
		{"wrong type", Options{Vars: []string{"port=lots"}}, []string{"Invalid value for variable", `Variable "port" is a number`, `"lots" is not one`}},
		{"wrong type env", Options{Env: []string{`NETPLAN42_VAR_port="lots"`}}, []string{"Invalid value for variable", `variable "port"`, "a number is required"}},
		{"syntax", Options{Vars: []string{"users=[1,"}}, []string{"<value for var.users from --var users>"}},
		{"unknown in var file", Options{VarFiles: []string{"v.hcl"}, VarFileData: map[string][]byte{"v.hcl": []byte("nme = 1\n")}},
			[]string{"Undeclared variable", `v.hcl sets "nme"`, `Did you mean "name"?`, "1: nme = 1"}},
		{"bad value in var file", Options{VarFiles: []string{"v.hcl"}, VarFileData: map[string][]byte{"v.hcl": []byte("users = 5\n")}},
			[]string{"Invalid value for variable", `value in v.hcl for variable "users" is not a list(string)`}},
		{"var file not given", Options{VarFiles: []string{"v.hcl"}}, []string{"Missing var file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags, text := loadDiags(t, varsConfig, tt.opts)
			if !diags.HasErrors() {
				t.Fatal("no errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("diagnostics lack %q:\n%s", w, text)
				}
			}
		})
	}

	// A variable without a default needs a value from somewhere.
	src := `variable "net" { type = string }` + "\n" + `network "n" {}` + "\n" + `computer "c" { network = var.net }`
	diags, text := loadDiags(t, src, Options{})
	if countErrors(diags) != 1 || !strings.Contains(text, "No value for required variable") {
		t.Errorf("want one error, got:\n%s", text)
	}
	load(t, src, Options{Vars: []string{"net=n"}})
	load(t, src, Options{Env: []string{"NETPLAN42_VAR_net=n"}})
}

// TestLiteralStrings checks that a string variable takes a command-line
// value as written, quotes and all, while other types parse it.
func TestLiteralStrings(t *testing.T) {
	src := `
variable "s" {
  type = string
}
variable "untyped" {}
variable "eq" {
  type = string
}
variable "any" {
  type = any
}
locals {
  ok = var.s == "\"quoted\"" && var.untyped == "[1]" && var.any == 2 && var.eq == "a=b"
}
network "n" {}
computer "c" {
  network  = "n"
  firewall = local.ok ? "none" : "auto"
}
`
	cfg := load(t, src, Options{Vars: []string{`s="quoted"`, "untyped=[1]", "any=1 + 1"}, Env: []string{"NETPLAN42_VAR_eq=a=b"}})
	if cfg.Computers[0].Firewall != "none" {
		t.Error("values were not taken as expected")
	}
}

func TestLocals(t *testing.T) {
	cfg := load(t, `
locals {
  port = local.base + local.offset # refers to locals defined later
  name = upper(local.prefix)
}
locals {
  base   = var.base
  offset = 2
  prefix = "nas"
  both   = { port = local.port, host = lower(local.name) }
}
variable "base" {
  default = 5000
}
network "home" {}
computer "nas" {
  network  = "home"
  hostname = local.both.host
  service "s" {
    port = local.both.port
  }
}
`, Options{})
	c := cfg.Computers[0]
	if c.Hostname != "nas" || c.Services[0].Port != 5002 {
		t.Errorf("computer = %+v, service port %d", c, c.Services[0].Port)
	}
}

func TestLocalsCycle(t *testing.T) {
	diags, text := loadDiags(t, `
locals {
  a = local.c
  b = local.a
  c = local.b
  d = local.a + 1
}
`, Options{})
	if len(diags) != 1 || !strings.Contains(text, "local.a → local.c → local.b → local.a") {
		t.Errorf("want one cycle diagnostic, got:\n%s", text)
	}
	if diags[0].Subject == nil || diags[0].Subject.Start.Line != 3 {
		t.Errorf("subject = %v, want line 3", diags[0].Subject)
	}
}

func TestForEach(t *testing.T) {
	cfg := load(t, `
network "home" {}
network "office" {}
locals {
  desks = {
    alice = { network = "home", port = 5000 }
    bob   = { network = "office", port = 5001 }
  }
}
computer "desk" {
  for_each = local.desks
  network  = each.value.network
  service "crashplan" {
    port   = each.value.port
    expose = each.key == "alice" ? "internet" : "lan"
  }
}
computer "lab" {
  for_each = toset(["x1", "x2"])
  network  = "home"
  hostname = "lab-${each.key}"
  service "ssh" {
    port = each.value == "x1" ? 2201 : 2202
  }
}
computer "kiosk" {
  for_each = ["k2", "k1"] # a list of distinct strings is taken as a set
  network  = "office"
}
computer "none" {
  for_each = {}
  network  = "nowhere" # no instances, so never checked
}
`, Options{})
	var got []string
	for _, c := range cfg.Computers {
		got = append(got, c.Address()+" "+c.Name()+" "+c.Tag()+" "+c.Hostname+" "+c.Network)
	}
	want := []string{
		`computer.desk["alice"] desk["alice"] desk[alice] alice home`,
		`computer.desk["bob"] desk["bob"] desk[bob] bob office`,
		`computer.kiosk["k1"] kiosk["k1"] kiosk[k1] k1 office`,
		`computer.kiosk["k2"] kiosk["k2"] kiosk[k2] k2 office`,
		`computer.lab["x1"] lab["x1"] lab[x1] lab-x1 home`,
		`computer.lab["x2"] lab["x2"] lab[x2] lab-x2 home`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("computers (-want +got):\n%s", diff)
	}
	alice := cfg.Computer(`desk["alice"]`)
	if alice == nil || alice.Label != "desk" || alice.Key != "alice" || !alice.HasKey {
		t.Fatalf("Computer(desk[\"alice\"]) = %+v", alice)
	}
	if s := alice.Services[0]; s.Port != 5000 || s.Expose != "internet" {
		t.Errorf("alice's service = %+v", s)
	}
	if s := cfg.Computer("computer.lab[x2]").Services[0]; s.Port != 2202 {
		t.Errorf("lab[x2] port = %d", s.Port)
	}
}

func TestDynamicService(t *testing.T) {
	cfg := load(t, `
network "home" {}
computer "nas" {
  network = "home"
  dynamic "service" {
    for_each = { web = 8080, ssh = 22 }
    labels   = [service.key]
    content {
      port   = service.value
      expose = "lan"
    }
  }
  service "crashplan" {
    port = 4242
  }
}
`, Options{})
	var got []string
	for _, s := range cfg.Computers[0].Services {
		got = append(got, s.Name)
	}
	if !slices.Equal(got, []string{"crashplan", "ssh", "web"}) && !slices.Equal(got, []string{"ssh", "web", "crashplan"}) {
		t.Errorf("services = %v", got)
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`upper("nas")`, "NAS"},
		{`lower("NAS")`, "nas"},
		{`format("%s-%03d", "desk", 7)`, "desk-007"},
		{`join(",", formatlist("%s!", ["a", "b"]))`, "a!,b!"},
		{`join("-", split(".", "a.b.c"))`, "a-b-c"},
		{`replace("a_b", "_", "-")`, "a-b"},
		{`trimspace("  x ")`, "x"},
		{`join("", concat(["a"], ["b"]))`, "ab"},
		{`jsonencode(merge({a = 1}, {b = 2}))`, `{"a":1,"b":2}`},
		{`join("", keys({b = 1, a = 2}))`, "ab"},
		{`tostring(length(values({a = 1, b = 2})))`, "2"},
		{`tostring(length("abc"))`, "3"},
		{`lookup({a = "x"}, "b", "dflt")`, "dflt"},
		{`tostring(contains(["a"], "a"))`, "true"},
		{`element(["a", "b"], 3)`, "b"},
		{`join("", flatten([["a"], ["b", ["c"]]]))`, "abc"},
		{`join("", distinct(["a", "a", "b"]))`, "ab"},
		{`join("", slice(["a", "b", "c"], 1, 2))`, "b"},
		{`join("", sort(["b", "a"]))`, "ab"},
		{`join(",", range(3))`, "0,1,2"},
		{`tostring(min(3, 1) + max(3, 1) + abs(-2))`, "6"},
		{`coalesce(null, "x")`, "x"},
		{`zipmap(["a"], ["b"]).a`, "b"},
		{`tostring(jsondecode("{\"p\": 4242}").p)`, "4242"},
		{`tostring(tonumber("12") + 1)`, "13"},
		{`join("", tolist(toset(["a"])))`, "a"},
		{`tomap({a = "b"}).a`, "b"},
		{`try(local.missing, "fallback")`, "fallback"},
		{`tostring(can(tonumber("x")))`, "false"},
		{`regex_replace("a1", "[0-9]", "")`, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			cfg := load(t, `
locals {
  v = `+tt.expr+`
}
network "n" {}
computer "c" {
  network  = "n"
  hostname = "h"
  service "s" {
    port   = 1
    expose = local.v == "`+strings.ReplaceAll(tt.want, `"`, `\"`)+`" ? "internet" : "lan"
  }
}
`, Options{})
			if cfg.Computers[0].Services[0].Expose != "internet" {
				// Show the value: evaluate it where a mismatch names it.
				_, text := loadDiags(t, "locals {\n  v = "+tt.expr+"\n}\nnetwork \"n\" {\n  listen_ports = local.v\n}\n", Options{})
				t.Errorf("%s != %q: %s", tt.expr, tt.want, text)
			}
		})
	}

	names := Functions()
	if !slices.IsSorted(names) || len(names) < 40 {
		t.Errorf("Functions() = %v", names)
	}
	for _, n := range names {
		if FunctionDescription(n) == "" {
			t.Errorf("function %s has no description", n)
		}
	}
	if FunctionDescription("nosuch") != "" {
		t.Error("description for an unknown function")
	}
	// Functions that reach outside the config are not offered.
	for _, n := range []string{"file", "timestamp", "uuid", "env"} {
		if slices.Contains(names, n) {
			t.Errorf("function %s is offered", n)
		}
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b.hcl":            `computer "nas" { network = "home" }`,
		"a.hcl":            `network "home" {}`,
		LockFileName:       `assignment "home" "computer.nas" "x" { port = 1024 }`,
		".hidden.hcl":      `this is not = = hcl`,
		"#autosave#.hcl":   `neither = = is this`,
		"backup.hcl~":      `nor = = this`,
		"notes.txt":        `not config`,
		"more.vars.hcl":    `x = 1`,
		"named-var-file":   `x = 1`,
		"vars.hcl.example": `x`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, diags := Load(dir, Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if cfg.Dir != dir || len(cfg.Files) != 2 || len(cfg.Computers) != 1 {
		t.Errorf("Dir %q, %d files, %d computers", cfg.Dir, len(cfg.Files), len(cfg.Computers))
	}

	// A var file named on the command line is not config, whatever its
	// name, even when it sits in the config directory.
	os.WriteFile(filepath.Join(dir, "site.hcl"), []byte("x = 2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "v.hcl"), []byte(`variable "x" {}`), 0o644)
	cfg, diags = Load(dir, Options{VarFiles: []string{filepath.Join(dir, "site.hcl")}})
	if len(diags) > 0 || len(cfg.Files) != 4 { // a, b, v and the var file
		t.Errorf("var file in the directory: %d files, %v", len(cfg.Files), diags)
	}
	os.Remove(filepath.Join(dir, "site.hcl"))
	os.Remove(filepath.Join(dir, "v.hcl"))

	// One file: the directory is the file's.
	cfg, diags = Load(filepath.Join(dir, "a.hcl"), Options{})
	if len(diags) > 0 || cfg.Dir != dir {
		t.Errorf("Load(file): Dir %q, %v", cfg.Dir, diags)
	}

	empty := t.TempDir()
	if _, diags := Load(empty, Options{}); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "No configuration files") {
		t.Errorf("empty directory: %v", diags)
	}
	if cfg, diags := Load(filepath.Join(dir, "missing"), Options{}); !diags.HasErrors() || cfg == nil || cfg.Files == nil {
		t.Errorf("missing path: %v", diags)
	}
	if _, diags := Load(dir, Options{VarFiles: []string{filepath.Join(dir, "missing.hcl")}}); !diags.HasErrors() || diags[0].Summary != "Cannot read var file" {
		t.Errorf("missing var file: %v", diags)
	}
}

// TestManyMistakes checks that one file with many mistakes reports every
// one of them, not just the first.
func TestManyMistakes(t *testing.T) {
	cfg, diags := Load("testdata/diagnostics/many.hcl", Options{})
	want := []string{
		"No value for required variable",
		"Cycle in local values",
		"Invalid listen_ports",
		"Invalid reserved port",
		"Invalid public_address",
		"Invalid router protocol", // nat_pmp
		"Invalid router protocol", // smoke-signals
		"Invalid lease",
		"Invalid gateway",
		"Duplicate network",
		"Invalid firewall",
		"Invalid protocol",
		"Duplicate service",
		"Setting has no effect", // external_port on localhost
		"Setting has no effect", // allow_from on localhost
		"Invalid port",
		"Invalid expose",
		"Invalid allow_from",
		"Duplicate hostname",
		"Duplicate listen port",
		"Missing required argument",
		"Unknown network",
		"Unsupported argument",
		"Duplicate computer",
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
		if d.Subject == nil {
			t.Errorf("%q has no subject", d.Summary)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		var buf bytes.Buffer
		WriteDiagnostics(&buf, cfg.Files, diags, false, 100)
		t.Errorf("summaries (-want +got):\n%s\n%s", diff, buf.String())
	}
}

func TestParseLease(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"2h", 2 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"1m", time.Minute, ""},
		{"1d", 24 * time.Hour, ""},
		{"1d12h30m", 36*time.Hour + 30*time.Minute, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"0", 0, ""},
		{"permanent", 0, ""},
		{"59s", 0, "shorter than the minimum"},
		{"7d1s", 0, "longer than the maximum"},
		{"100000000d", 0, "longer than the maximum"},
		{"9999999999h", 0, "longer than the maximum"},
		{"90500ms", 0, "whole number of seconds"},
		{"", 0, "empty"},
		{"2", 0, "not a duration"},
		{"-2h", 0, "not a duration"},
		{"2 h", 0, "not a duration"},
		{"h", 0, "not a duration"},
		{"1w", 0, "not a duration"},
	}
	for _, tt := range tests {
		got, err := ParseLease(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseLease(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseLease(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want PortRange
		ok   bool
	}{
		{"1024-5999", PortRange{1024, 5999}, true},
		{"5000", PortRange{5000, 5000}, true},
		{"1-65535", PortRange{1, 65535}, true},
		{" 10 - 20 ", PortRange{10, 20}, true},
		{"0-10", PortRange{}, false},
		{"10-65536", PortRange{}, false},
		{"20-10", PortRange{}, false},
		{"-", PortRange{}, false},
		{"1024-", PortRange{}, false},
		{"a-b", PortRange{}, false},
		{"1-2-3", PortRange{}, false},
		{"+5", PortRange{}, false},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePortRange(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestSuggest(t *testing.T) {
	options := []string{"tcp", "udp", "both"}
	for in, want := range map[string]string{"tpc": "tcp", "TCP": "tcp", "ucp": "tcp", "bth": "both", "xyz": "", "tcp+udp": "both"} {
		if got := suggest(in, options); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormat(t *testing.T) {
	got, diags := Format([]byte("network \"home\" {\nlisten_ports=\"1024-5999\"\n    reserved_ports = [4242,4243]\n}\n"), "x.hcl")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	want := "network \"home\" {\n  listen_ports   = \"1024-5999\"\n  reserved_ports = [4242, 4243]\n}\n"
	if string(got) != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	again, _ := Format(got, "x.hcl")
	if !bytes.Equal(again, got) {
		t.Error("Format is not idempotent")
	}
	if out, diags := Format([]byte("network \"home\" {\n"), "x.hcl"); !diags.HasErrors() || out != nil {
		t.Errorf("Format of a syntax error: %q, %v", out, diags)
	}
}

// TestExamples loads every example-like config under testdata (one per
// directory; diagnostics and the fuzz corpus aside): each must load without a diagnostic, and
// a committed lock file must be up to date.
func TestExamples(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*")
	for _, dir := range dirs {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() || filepath.Base(dir) == "diagnostics" || filepath.Base(dir) == "fuzz" {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, diags := Load(dir, Options{})
			if len(diags) > 0 {
				var buf bytes.Buffer
				WriteDiagnostics(&buf, cfg.Files, diags, false, 100)
				t.Fatal(buf.String())
			}
			lock, diags := ReadLock(cfg.Dir)
			mustNoDiags(t, diags)
			readonly := len(lock.Assignments) > 0
			_, changes, diags := Allocate(cfg, lock, readonly)
			mustNoDiags(t, diags)
			if readonly && len(changes) > 0 {
				t.Errorf("committed lock file is out of date: %v", changes)
			}
		})
	}
}
