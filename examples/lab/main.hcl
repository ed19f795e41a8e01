# The lab network of scripts/try.sh: Debian's miniupnpd as the router
# (192.0.2.1, WAN 11.0.0.1) and two LAN hosts. Run netplan42 inside a host:
#
#   bin/netplan42-lab exec host1 -- bin/netplan42 plan --config examples/lab --computer host1
#
# Troubleshoot from any point of view: this computer, a neighbour on the
# LAN, or the internet host (a computer of network "remote"):
#
#   bin/netplan42-lab exec host1 -- bin/netplan42 status --config examples/lab --computer host1
#   bin/netplan42-lab exec host2 -- bin/netplan42 check host1 --config examples/lab --computer host2
#   bin/netplan42-lab exec internet -- bin/netplan42 check --config examples/lab --computer internet

network "lab" {
  public_address = "11.0.0.1" # the router's WAN: how network "remote" reaches it
  router {
    protocols = ["upnp", "natpmp"]
    lease     = "1h"
  }
}

computer "host1" {
  network  = "lab"
  firewall = "iptables"
  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
  service "crashplan-ui" {
    port   = 4243
    expose = "localhost"
  }
}

computer "host2" {
  network  = "lab"
  firewall = "nftables"
  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
}

# The lab's internet host, on a network of its own. It exposes nothing; it
# is here so that `check` can run from outside network "lab".
network "remote" {
  router {
    protocols = ["manual"]
  }
}

computer "internet" {
  network  = "remote"
  firewall = "none"
}
