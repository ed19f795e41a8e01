# The lab network of scripts/try.sh: Debian's miniupnpd as the router
# (192.0.2.1, WAN 11.0.0.1) and two LAN hosts. Run netplan42 inside a host:
#
#   bin/netplan42-lab exec host1 -- bin/netplan42 plan --config examples/lab --computer host1

network "lab" {
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
