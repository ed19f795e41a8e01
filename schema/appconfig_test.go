package schema

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/netplan42/netplan42/internal/golden"
)

const appConfigSrc = `
variable "unit" {
  default = "crashplan"
}
network "home" {}
computer "nas" {
  network = "home"
  service "crashplan" {
    port          = "auto"
    expose        = "internet"
    external_port = 14242
    app_config "/usr/local/crashplan/conf/my.service.xml" {
      match     = "<location>[^<]*</location>"
      replace   = "<location>0.0.0.0:${self.port}</location>"
      on_change = ["/usr/bin/systemctl", "restart", var.unit]
    }
  }
  service "ssh" {
    port = 2222
    app_config "/etc/ssh/sshd_config.d/netplan42.conf" {
      content = "# ${self.name} on ${self.hostname}, ${self.protocol}\nPort ${self.port}\n"
    }
  }
}
`

func TestAppConfigRender(t *testing.T) {
	cfg := load(t, appConfigSrc, Options{})
	if _, _, diags := Allocate(cfg, nil, false); diags.HasErrors() {
		t.Fatal(diags)
	}
	c := cfg.Computer("nas")
	cp, ssh := c.Services[0], c.Services[1]
	if len(cp.AppConfigs) != 1 || len(ssh.AppConfigs) != 1 {
		t.Fatalf("app configs: %d, %d", len(cp.AppConfigs), len(ssh.AppConfigs))
	}
	v, diags := cp.AppConfigs[0].Render(c, cp)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if v.Match == nil || v.Match.String() != "<location>[^<]*</location>" || v.Replace != "<location>0.0.0.0:1024</location>" {
		t.Errorf("match/replace = %v / %q", v.Match, v.Replace)
	}
	if !slices.Equal(v.OnChange, []string{"/usr/bin/systemctl", "restart", "crashplan"}) {
		t.Errorf("on_change = %q", v.OnChange)
	}
	v, diags = ssh.AppConfigs[0].Render(c, ssh)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if want := "# ssh on nas, tcp\nPort 2222\n"; v.Content != want || v.Match != nil {
		t.Errorf("content = %q, want %q", v.Content, want)
	}
}

// TestAppConfigExternalPort: self.external_port is the router side.
func TestAppConfigExternalPort(t *testing.T) {
	cfg := load(t, `
network "home" {}
computer "nas" {
  network = "home"
  service "x" {
    port          = 4000
    expose        = "internet"
    external_port = 14000
    app_config "/etc/x.conf" {
      content = "${self.external_port}"
    }
  }
}
`, Options{})
	c := cfg.Computer("nas")
	v, _ := c.Services[0].AppConfigs[0].Render(c, c.Services[0])
	if v.Content != "14000" {
		t.Errorf("content = %q, want 14000", v.Content)
	}
}

func TestAppConfigDiagnostics(t *testing.T) {
	_, out := loadDiags(t, `
network "home" {}
computer "nas" {
  network = "home"
  service "a" {
    port = 1
    app_config "relative/path.conf" {
      content = "x"
    }
    app_config "/etc/both.conf" {
      content = "x"
      match   = "y"
      replace = "z"
    }
    app_config "/etc/neither.conf" {
    }
    app_config "/etc/noreplace.conf" {
      match = "Port \\d+"
    }
    app_config "/etc/badre.conf" {
      match   = "Port (\\d+"
      replace = "Port ${self.port}"
    }
    app_config "/etc/empty.conf" {
      match   = "x*"
      replace = "y"
    }
    app_config "/etc/attr.conf" {
      content = "${self.colour}"
    }
    app_config "/etc/cmd.conf" {
      content   = "x"
      on_change = ["systemctl", "restart", "a"]
    }
    app_config "/etc/nocmd.conf" {
      content   = "x"
      on_change = []
    }
    app_config "/etc/dup.conf" {
      content = "x"
    }
  }
  service "b" {
    port = 2
    app_config "/etc/dup.conf" {
      content = "y"
    }
    app_config "/etc/dup2.conf" {
      content = "y${self.prot}"
    }
  }
}
`, Options{})
	golden.Check(t, filepath.Join("testdata", "appconfig-diagnostics.txt"), []byte(out))
}
