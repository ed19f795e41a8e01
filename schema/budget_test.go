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
	}{
		{"nested for", "locals {\n  x = [for a in range(1000): [for b in range(1000): [for c in range(1000): c]]]\n}\n", 2},
		{"nested for in a template", "locals {\n  x = \"%{for a in range(1000)}%{for b in range(1000)}%{for c in range(1000)}${c}%{endfor}%{endfor}%{endfor}\"\n}\n", 2},
		{"for in a computer", `
computer "nas" {
  network  = "home"
  hostname = join("", [for a in range(1000): join("", [for b in range(1000): join("", [for c in range(1000): "x"])])])
}
network "home" {}
`, 4},
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
`, 9},
		{"locals doubling a string", doubling("string"), 18},
		{"locals doubling a tuple", doubling("tuple"), 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags, out := loadDiags(t, tc.src, Options{})
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
// refuse before they write it.
func TestBudgetFunctions(t *testing.T) {
	for _, expr := range []string{
		`format("%999999999d", 1)`,
		`format("%.999999999f", 1)`,
		`format("%[1]*d %08999999999d", 1, 2)`,
		`formatlist("%09999999s", range(1000))`,
		`indent(999999999, "a\nb\nc")`,
		`replace(format("%100000s", ""), " ", format("%100000s", ""))`,
		`replace(format("%100000s", ""), "/ /", format("%100000s", ""))`,
		`replace(format("%100000s", ""), "", format("%100000s", ""))`,
		`regex_replace(format("%100000s", ""), "( )", "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1")`,
	} {
		t.Run(expr[:min(len(expr), 40)], func(t *testing.T) {
			diags, out := loadDiags(t, "locals {\n  x = "+expr+"\n}\n", Options{})
			if !diags.HasErrors() || !strings.Contains(out, "Error in function call") || !strings.Contains(out, "budget for evaluating a configuration") {
				t.Fatalf("want the function refused:\n%s", out)
			}
		})
	}
	// The same functions at ordinary sizes.
	cfg := load(t, `locals {
  a = format("%08d|%-10s|%.3f", 42, "x", 1.5)
  b = formatlist("%s-%02d", ["a", "b"], [1, 2])
  c = indent(4, "a\nb")
  d = replace("a-b-c", "-", "--")
  e = regex_replace("a1b22", "([0-9]+)", "<$1>")
  f = replace("abc", "/b/", "$0$0")
}
`, Options{})
	_ = cfg
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
