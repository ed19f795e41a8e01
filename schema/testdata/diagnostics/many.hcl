# One file, many mistakes: every one must be reported, in file order.

variable "base" {
  type = number
}

locals {
  a = local.b
  b = local.a
}

network "home" {
  listen_ports   = "6000-1024"
  reserved_ports = [4242, 99999]
  public_address = "-bad-"
  router {
    protocols = ["upnp", "nat_pmp", "smoke-signals"]
    lease     = "5s"
    gateway   = "192.168.1"
  }
}

network "home" {}

computer "nas" {
  network  = "home"
  firewall = "iptable"
  service "crashplan" {
    port     = 4242
    protocol = "tpc"
    expose   = "internet"
  }
  service "crashplan" {
    port = 4250
  }
  service "ui" {
    port          = "auto"
    expose        = "localhost"
    external_port = 4243
    allow_from    = ["10.0.0.0/8"]
  }
  service "bad" {
    port       = 123456
    expose     = "lam"
    allow_from = ["10.0.0.300/8"]
  }
}

computer "desktop" {
  network  = "home"
  hostname = "NAS"
  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
  service "noport" {
  }
}

computer "laptop" {
  network = "hoem"
  colour  = "red"
}

computer "nas" {
  network = "home"
}
