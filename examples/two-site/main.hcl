# Backing up to a friend's computer on another network, and the friend
# backing up to ours. Each site's router forwards its own computer's port;
# public_address tells `netplan42 check` how to reach a site from the other.

network "home" {
  public_address = "home.example.net" # a dynamic-DNS name works
  router {
    protocols = ["upnp", "natpmp"]
  }
}

network "friend" {
  public_address = "203.0.113.7"
  router {
    # The friend's router has UPnP off: netplan42 prints the forward to set up.
    protocols = ["manual"]
  }
}

computer "nas" {
  network  = "home"
  firewall = "auto"
  service "crashplan" {
    port   = 4242
    expose = "internet"
  }
}

computer "friend-pc" {
  network  = "friend"
  hostname = "alex-desktop"
  firewall = "auto"
  service "crashplan" {
    port          = 4242
    external_port = 14242 # the friend's ISP blocks low ports in use elsewhere
    expose        = "internet"
    # Only our home's ISP may connect (its address block; our address is
    # dynamic, the block is not).
    allow_from = ["198.51.100.0/24"]
  }
}
