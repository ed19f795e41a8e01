# An office fleet declared from data: one computer block, one instance per
# desk. Add a desk to var.desks and it gets the next free port; existing
# desks keep theirs (netplan42.lock.hcl).
#
#   netplan42 plan --all --config examples/fleet
#   netplan42 plan --all --config examples/fleet --var-file examples/fleet/more-desks.vars.hcl

variable "desks" {
  description = "Desk computers: name => hostname and owner."
  type = map(object({
    hostname = string
    owner    = string
  }))
  default = {
    alice = { hostname = "desk-alice", owner = "Alice" }
    bob   = { hostname = "desk-bob", owner = "Bob" }
    carol = { hostname = "desk-carol", owner = "Carol" }
  }
}

variable "lease" {
  type    = string
  default = "4h"
}

locals {
  office_lan = "10.20.0.0/16"
  backup     = "crashplan"
}

network "office" {
  listen_ports   = "4200-4299"
  reserved_ports = [4242, 4243]
  router {
    protocols = ["upnp", "natpmp"]
    lease     = var.lease
  }
}

computer "backup-server" {
  network  = "office"
  hostname = "backup01"
  firewall = "nftables"
  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
}

computer "desk" {
  for_each = var.desks

  network  = "office"
  hostname = lower(each.value.hostname)
  firewall = "auto"

  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
  # Remote support from the office LAN only: no router mapping, so every
  # desk can use the same port.
  service "vnc" {
    port       = 5900
    expose     = "lan"
    allow_from = [local.office_lan]
  }
}
