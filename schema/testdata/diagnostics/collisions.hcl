network "home" {}
network "office" {}

computer "nas" {
  network = "home"
  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
  service "backup" {
    port = 4242 # twice on one computer
  }
  service "web" {
    port     = 8080
    protocol = "udp"
  }
  service "web-tcp" {
    port = 8080 # tcp and udp on one port do not collide
  }
  service "ui" {
    port   = 4243
    expose = "localhost"
  }
}

computer "desktop" {
  network = "home"
  service "crashplan" {
    port   = 4242 # taken by nas in the same network
    expose = "internet"
  }
  service "ui" {
    port   = 4243 # localhost: no collision
    expose = "localhost"
  }
  service "web" {
    port          = 5000
    expose        = "internet"
    external_port = 8081
  }
}

computer "laptop" {
  network = "home"
  service "web" {
    port          = 5001
    expose        = "internet"
    external_port = 8081 # the router holds one mapping per port
  }
}

computer "desk" {
  for_each = toset(["alice", "bob"])
  network  = "home"
  service "vnc" {
    port = 5900 # lan only: every desk may use the same port
  }
  service "crashplan" {
    port   = 4300 # on the router: alice and bob collide
    expose = "internet"
  }
}

computer "office-pc" {
  network = "office"
  service "crashplan" {
    port   = 4242 # another network: fine
    expose = "internet"
  }
}
