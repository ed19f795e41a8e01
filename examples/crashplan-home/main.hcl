# Three computers behind one home router, all running CrashPlan.
# Each needs inbound TCP on its own listen port: the NAS keeps the default
# 4242, the others get a free port from the pool ("auto"), recorded in
# netplan42.lock.hcl so every machine and every reviewer sees the same one.

network "home" {
  listen_ports   = "1024-5999"  # pool for port = "auto"
  reserved_ports = [4242, 4243] # never handed out by "auto"
  router {
    protocols = ["upnp", "natpmp"] # tried in order; "manual" = print forwarding steps
    lease     = "2h"               # lease asked of the router
    # gateway = "192.168.1.1"      # default: the default route's gateway
  }
}

computer "nas" {
  network  = "home"
  hostname = "nas"      # how a machine knows it is this computer (default: the label)
  firewall = "iptables" # iptables | nftables | pf | none | auto

  service "crashplan" {
    port     = 4242
    protocol = "tcp"      # tcp | udp | both
    expose   = "internet" # internet: router mapping + firewall; lan: firewall only; localhost: nothing opened
    # external_port = 4242  # default: same as port
    # allow_from    = ["0.0.0.0/0"]
  }
  service "crashplan-ui" {
    port   = 4243
    expose = "localhost"
  }
}

computer "desktop" {
  network  = "home"
  firewall = "nftables"
  service "crashplan" {
    port   = "auto" # unique in network "home", stable once assigned
    expose = "internet"
  }
}

computer "laptop" {
  network  = "home"
  firewall = "auto"
  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
}
