computer "nas" {
  network  = "home"
  firewall = "nftables"

  service "crashplan" {
    port   = local.crashplan # the one computer on the default port
    expose = "internet"
  }
  service "crashplan-ui" {
    port   = local.crashplan_ui
    expose = "localhost"
  }
  # Extra services from a map, without writing each block.
  dynamic "service" {
    for_each = { ssh = 22, smb = 445 }
    labels   = [service.key]
    content {
      port       = service.value
      allow_from = var.trusted
    }
  }
}

# One computer per desk: computer.desk["alice"], computer.desk["bob"].
computer "desk" {
  for_each = var.desks
  network  = "home"
  hostname = each.value

  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
  service "crashplan-ui" {
    port   = local.crashplan_ui
    expose = "localhost"
  }
}

computer "office-server" {
  network  = "office"
  hostname = "srv01.office.example.net"
  firewall = "iptables"

  service "crashplan" {
    port     = "auto"
    protocol = "tcp"
    expose   = "internet"
  }
  service "metrics" {
    port          = 9100
    expose        = "internet"
    external_port = 20900
    allow_from    = [for cidr in var.trusted : cidr if can(regex("^10[.]", cidr))]
  }
}
