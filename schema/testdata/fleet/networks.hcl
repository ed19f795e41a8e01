locals {
  # CrashPlan's ports: the backup listener and its local UI.
  crashplan    = 4242
  crashplan_ui = local.crashplan + 1
}

network "home" {
  public_address = "home.example.net"
  router {
    protocols = ["upnp", "natpmp", "manual"]
  }
}

network "office" {
  listen_ports   = "20000-20999"
  reserved_ports = [20000]
  router {
    protocols = ["natpmp"]
    lease     = var.office_lease
    gateway   = "10.8.0.1"
  }
}
