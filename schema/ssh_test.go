package schema

import (
	"net/netip"
	"testing"
)

func TestLoadSSHRouter(t *testing.T) {
	cfg := load(t, `
network "office" {
  router {
    protocols = ["ssh"]
    ssh {
      host          = "192.168.1.1"
      identity_file = "~/.ssh/id_ed25519"
      flavor        = "openwrt"
    }
  }
}
computer "alpha" {
  network = "office"
  address = "192.168.1.10"
}
computer "beta" {
  network = "office"
}
`, Options{})
	r := cfg.Networks["office"].Router
	want := SSHRouter{Host: "192.168.1.1", User: DefaultSSHUser, Port: DefaultSSHPort, IdentityFile: "~/.ssh/id_ed25519", Flavor: FlavorOpenWrt}
	if r.SSH == nil {
		t.Fatal("no SSH settings")
	}
	got := *r.SSH
	got.DeclRange = want.DeclRange
	if got != want {
		t.Errorf("ssh = %+v, want %+v", got, want)
	}
	if len(r.Protocols) != 1 || r.Protocols[0] != ViaSSH || ViaSSH.Title() != "SSH" {
		t.Errorf("protocols = %v", r.Protocols)
	}
	if a := cfg.Computer("alpha").LANAddress; a != netip.MustParseAddr("192.168.1.10") {
		t.Errorf("alpha address = %v", a)
	}
	if a := cfg.Computer("beta").LANAddress; a.IsValid() {
		t.Errorf("beta address = %v, want none", a)
	}
}
