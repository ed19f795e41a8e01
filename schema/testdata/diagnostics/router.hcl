network "a" {
  router {
    gateway = "192.168.1.300"
    lease   = "30s"
  }
}

network "b" {
  router {
    gateway = "0.0.0.0"
    lease   = "8d"
  }
}

network "c" {
  router {
    lease = "2 hours"
  }
}

network "d" {
  router {
    lease = true
  }
}

network "e" {
  public_address = "not an address!"
  router {
    lease   = 90.5
    gateway = "fe80::1%eth0"
  }
}

network "ok" {
  public_address = "home.example.net"
  router {
    lease   = "1d12h"
    gateway = "192.168.1.1"
  }
}
