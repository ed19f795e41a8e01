network "home" {
  router {
    protocols = ["upnp", "nat-pmp", "upnp", "pcp"]
  }
}

network "office" {
  router {
    protocols = ["manual", "natpmp"]
  }
}

network "empty" {
  router {
    protocols = []
  }
}

computer "nas" {
  network  = "home"
  firewall = "nft"
  service "crashplan" {
    port     = 4242
    protocol = "tpc"
    expose   = "public"
  }
  service "other" {
    port     = 4280
    protocol = "TCP"
    expose   = "everywhere"
  }
}
