package schema

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// budgetDiags returns the budget errors among diags, failing the test on
// any other error.
func budgetDiags(t *testing.T, diags hcl.Diagnostics, out string) hcl.Diagnostics {
	t.Helper()
	var over hcl.Diagnostics
	for _, d := range diags {
		switch {
		case d.Summary == budgetSummary:
			over = append(over, d)
		case d.Severity == hcl.DiagError:
			t.Errorf("unexpected error: %s", out)
		}
	}
	return over
}

// Configs a few lines long whose evaluation would take minutes and
// gigabytes are refused once MaxEvalSteps is used up, with one error at
// the expression where it ran out.
func TestBudgetRefusesBlowUps(t *testing.T) {
	// Without the budget each of these runs for minutes or takes
	// gigabytes, and the test times out. A smaller budget keeps the test
	// quick under -race; the lines are where it runs out.
	lowerBudget(t, 100_000)
	doubling := func(kind string) string {
		var b strings.Builder
		b.WriteString("locals {\n  v0 = \"0123456789abcdef0123456789abcdef\"\n")
		for i := 1; i <= 40; i++ {
			if kind == "string" {
				fmt.Fprintf(&b, "  v%d = \"${local.v%d}${local.v%d}\"\n", i, i-1, i-1)
			} else {
				fmt.Fprintf(&b, "  v%d = [local.v%d, local.v%d]\n", i, i-1, i-1)
			}
		}
		return b.String() + "}\n"
	}
	for _, tc := range []struct {
		name, src string
		line      int // where the error points
		refused   int64
	}{
		{"nested for", "locals {\n  x = [for a in range(1000): [for b in range(1000): [for c in range(1000): c]]]\n}\n", 2, 10},
		{"nested for in a template", "locals {\n  x = \"%{for a in range(1000)}%{for b in range(1000)}%{for c in range(1000)}${c}%{endfor}%{endfor}%{endfor}\"\n}\n", 2, 10},
		{"for in a computer", `
computer "nas" {
  network  = "home"
  hostname = join("", [for a in range(1000): join("", [for b in range(1000): join("", [for c in range(1000): "x"])])])
}
network "home" {}
`, 4, 10},
		{"dynamic blocks in computers", `
network "home" {
  listen_ports = "1024-65535"
}
computer "c" {
  for_each = toset([for i in range(1000) : tostring(i)])
  network  = "home"
  dynamic "service" {
    for_each = range(1000)
    labels   = ["s${service.key}"]
    content {
      port = "auto"
    }
  }
}
`, 9, 1000}, // a refusal per computer
		// Once the budget is used up, the rest of a loop skips its
		// results: here each would walk 10,000 values.
		{"a loop after the budget", "locals {\n  l = flatten([for a in range(10) : [for b in range(1000) : b]])\n  n = [for x in local.l : length(local.l)]\n}\n", 3, 10},
		{"locals doubling a string", doubling("string"), 18, 40}, // a refusal per local
		{"locals doubling a tuple", doubling("tuple"), 17, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m *meter
			onNewMeter = func(n *meter) { m = n }
			defer func() { onNewMeter = nil }()
			diags, out := loadDiags(t, tc.src, Options{})
			// Past the budget, a loop skips its results: a few
			// refusals, not one per element left.
			if n := m.refused.Load(); n > tc.refused {
				t.Errorf("%d charges refused", n)
			}
			over := budgetDiags(t, diags, out)
			if len(over) != 1 {
				t.Fatalf("want one budget error, got %d:\n%s", len(over), out)
			}
			if got := over[0].Subject; got == nil || got.Filename != "main.hcl" || got.Start.Line != tc.line {
				t.Errorf("error at %v, want main.hcl line %d:\n%s", got, tc.line, out)
			}
		})
	}
}

// lowerBudget sets maxSteps for the test.
func lowerBudget(t *testing.T, n int64) {
	was := maxSteps
	maxSteps = n
	t.Cleanup(func() { maxSteps = was })
}

// The functions whose result can be far longer than their arguments
// refuse before they write it, whatever their arguments (null, partly
// unknown, used twice).
func TestBudgetFunctions(t *testing.T) {
	big := `format("%100000s", "")`
	for _, tc := range []struct{ fn, expr string }{
		{"format", `format("%999999999d", 1)`},
		{"format", `format("%.999999999f", 1)`},
		{"format", `format("%[1]*d %08999999999d", 1, 2)`},
		{"format", `format("%299999999s%v", "", null)`},
		{"format", `format("` + strings.Repeat("%[1]s", 1000) + `", ` + big + `)`},
		{"formatlist", `formatlist("%09999999s", range(1000))`},
		{"indent", `indent(999999999, "a\nb\nc")`},
		{"join", `join(` + big + `, range(1000))`},
		{"replace", `replace(` + big + `, " ", ` + big + `)`},
		{"replace", `replace(` + big + `, "", ` + big + `)`},
		{"regex_replace", `regex_replace(` + big + `, "( )", "` + strings.Repeat("$1", 400) + `")`},
		{"split", `split("", format("%3000000s", ""))`},
		{"regexall", `regexall(".", format("%3000000s", ""))`},
	} {
		t.Run(tc.expr[:min(len(tc.expr), 40)], func(t *testing.T) {
			lowerBudget(t, 100_000)
			diags, out := loadDiags(t, "locals {\n  x = "+tc.expr+"\n}\n", Options{})
			if over := budgetDiags(t, diags, out); len(over) != 1 || !strings.Contains(out, "Calling "+tc.fn+" here") {
				t.Fatalf("want %s refused:\n%s", tc.fn, out)
			}
		})
	}
	// The same functions at ordinary sizes; a non-integer for indent is
	// indent's own mistake, not the budget's.
	load(t, `locals {
  a = format("%08d|%-10s|%.3f", 42, "x", 1.5)
  b = formatlist("%s-%02d", ["a", "b"], [1, 2])
  c = indent(4, "a\nb")
  d = replace("a-b-c", "-", "--")
  e = regex_replace("a1b22", "([0-9]+)", "<$1>")
  f = split(",", "a,b,c")
  g = regex_replace(format("%2000000s", ""), "x*", "")
}
`, Options{})
	_, out := loadDiags(t, "locals {\n  x = indent(1.5, \"x\\ny\")\n  y = [for s in [\"p\"] : upper(s)]\n}\n", Options{})
	if strings.Contains(out, budgetSummary) || !strings.Contains(out, "Error in function call") {
		t.Errorf("indent(1.5, …):\n%s", out)
	}
}

// try and can cannot hide the budget running out, so what a config means
// never depends on it; var files, --var and variable defaults are metered
// though they have no functions; each app_config rendering has a budget
// of its own.
func TestBudgetEverywhere(t *testing.T) {
	lowerBudget(t, 100_000)
	nested := "[for a in range(1000): [for b in range(1000): b]]"
	_, out := loadDiags(t, "locals {\n  x = try("+nested+", [])\n  y = can(format(\"%999999999s\", \"\"))\n}\n", Options{})
	if !strings.Contains(out, budgetSummary) || !strings.Contains(out, "on main.hcl line 2") || strings.Contains(out, "line 3") {
		t.Errorf("try:\n%s", out)
	}
	_, out = loadDiags(t, "locals {\n  y = can(format(\"%999999999s\", \"\"))\n}\n", Options{})
	if !strings.Contains(out, budgetSummary) {
		t.Errorf("can:\n%s", out)
	}

	literal := "[for a in [" + strings.Repeat("0,", 1000) + "0] : [for b in [" + strings.Repeat("0,", 1000) + "0] : b]]"
	for name, opts := range map[string]Options{
		"default":  {},
		"var file": {VarFiles: []string{"v.vars.hcl"}, VarFileData: map[string][]byte{"v.vars.hcl": []byte("x = " + literal + "\n")}},
		"--var":    {Vars: []string{"x=" + literal}},
	} {
		src := "variable \"x\" {\n  type = any\n}\n"
		if name == "default" {
			src = "variable \"x\" {\n  default = " + literal + "\n}\n"
		}
		diags, out := loadDiags(t, src, opts)
		if !strings.Contains(out, budgetSummary) && !strings.Contains(fmt.Sprint(diags), "100000 steps") {
			t.Errorf("%s:\n%s", name, out)
		}
	}

	cfg := load(t, `
locals {
  peers = [for i in range(1000) : "10.0.${floor(i / 250)}.${i % 250}"]
}
network "home" {}
computer "nas" {
  network = "home"
  service "s" {
    port = 4000
    app_config "/etc/s.conf" {
      content = join("\n", [for p in local.peers : "allow ${p} port ${self.port}"])
    }
  }
}
`, Options{})
	c := cfg.Computers[0]
	s := c.Services[0]
	for i := range 200 { // 200 renderings of ~5,000 steps each: 10 budgets
		if _, diags := s.AppConfigs[0].Render(c, s); diags.HasErrors() {
			t.Fatalf("rendering %d: %v", i, diags)
		}
	}
}

// The metering hooks change nothing a config means: references inside a
// for expression still order locals, errors inside one point where they
// did, and a fleet made with for expressions from a 30,000-entry
// variable loads within the budget: 3,000 entries within a tenth of it
// (steps are linear in the entries).
func TestBudgetKeepsMeaning(t *testing.T) {
	cfg := load(t, `
locals {
  names = [for n in local.base : upper(n) if n != "skip"]
  base  = ["a", "skip", "b"]
  byKey = { for i, n in local.names : n => i... }
  text  = "%{for n in local.names}${n};%{endfor}"
}
network "home" {}
computer "nas" {
  network  = "home"
  hostname = join("-", [for k, v in local.byKey : "${k}${v[0]}"])
  service "s" {
    port = length(local.text) + 4000
  }
}
`, Options{})
	if got := cfg.Computers[0].Hostname; got != "A0-B1" {
		t.Errorf("hostname = %q", got)
	}
	if got := cfg.Computers[0].Services[0].Port; got != 4004 {
		t.Errorf("port = %d", got)
	}

	_, out := loadDiags(t, "locals {\n  x = [for a in 5 : a]\n  y = [for a in [1] : a.b]\n}\n", Options{})
	for _, want := range []string{"Iteration over non-iterable value", "on main.hcl line 2", "Unsupported attribute", "on main.hcl line 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out)
		}
	}

	var desks strings.Builder
	desks.WriteString("desks = [\n")
	lowerBudget(t, MaxEvalSteps/10)
	for i := range 3000 {
		fmt.Fprintf(&desks, "  { name = \"desk%05d\", hostname = \"DESK-%05d\" },\n", i, i)
	}
	desks.WriteString("]\n")
	cfg = load(t, `
variable "desks" {
  type = list(object({ name = string, hostname = string }))
}
network "office" {
  listen_ports = "20000-59999"
}
computer "desk" {
  for_each = { for d in var.desks : d.name => d }
  network  = "office"
  hostname = lower(each.value.hostname)
  service "crashplan" {
    port = "auto"
  }
}
`, Options{VarFiles: []string{"desks.tfvars"}, VarFileData: map[string][]byte{"desks.tfvars": []byte(desks.String())}})
	if len(cfg.Computers) != 3000 {
		t.Errorf("%d computers", len(cfg.Computers))
	}
}

// The streaming path of large fleets meters as the whole-file path does,
// in globals and in computers.
func TestBudgetStreamed(t *testing.T) {
	lowerBudget(t, 20_000)
	for _, tc := range []struct {
		blowUp string
		line   int
	}{
		{"locals {\n  x = [for a in range(1000): [for b in range(1000): b]]\n}\n", 8},
		{"computer \"b\" {\n  network  = \"home\"\n  hostname = join(\"\", [for a in range(1000): join(\"\", [for b in range(1000): \"x\"])])\n}\n", 9},
	} {
		src := "network \"home\" {}\n\ncomputer \"a\" {\n  network = \"home\"\n}\n\n" + tc.blowUp + "\ncomputer \"c\" {\n  network = \"home\"\n}\n"
		files := map[string][]byte{"main.hcl": []byte(src)}
		if !checkSameLoad(t, files, Options{}) {
			t.Fatal("the streaming path gave up")
		}
		_, diags := LoadFiles(files, "", Options{})
		if over := budgetDiags(t, diags, render(nil, diags)); len(over) != 1 || over[0].Subject.Start.Line != tc.line {
			t.Errorf("want one budget error on line %d, got %v", tc.line, over)
		}
	}
}
