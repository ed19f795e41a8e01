# An office whose OpenWrt router netplan42 administers over SSH: one admin
# machine applies the port forwards of every computer in the network, so
# the Windows and macOS machines need nothing installed for them.
#
#   netplan42 plan    --config examples/office-openwrt --network office
#   netplan42 apply   --config examples/office-openwrt --network office
#   netplan42 destroy --config examples/office-openwrt --network office
#
# The router must accept the admin's key (OpenWrt: System > Administration
# > SSH-Keys, or /etc/dropbear/authorized_keys), and its host key must be in
# known_hosts: log in once with `ssh root@192.168.1.1` after checking the
# fingerprint on the router's console, or pass --accept-new-host-key once.

network "office" {
  router {
    protocols = ["ssh"]
    ssh {
      host   = "192.168.1.1"
      user   = "root"
      flavor = "openwrt" # uci redirects and fw4; "linux" for a plain nftables router
      # identity_file = "~/.ssh/id_ed25519"  # default: the SSH agent, then ~/.ssh/id_*
      # known_hosts   = "~/.ssh/known_hosts" # default
    }
  }
}

# A NAS: CrashPlan's fixed port.
computer "nas" {
  network = "office"
  address = "192.168.1.10"

  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
}

# A Windows desktop running a game server on a port netplan42 picks.
computer "gaming-pc" {
  network = "office"
  address = "192.168.1.20"

  service "game" {
    port     = "auto"
    protocol = "both"
    expose   = "internet"
  }
}

# A Mac without a fixed address: its forwards go to what its hostname
# resolves to on the admin machine.
computer "studio" {
  network  = "office"
  hostname = "studio.lan"

  service "web" {
    port   = 8443
    expose = "internet"
  }
}
