network "office" {
  router {
    protocols = ["ssh"]
    ssh {
      user   = "root admin"
      port   = 70000
      flavor = "openwrrt"
    }
  }
}

network "branch" {
  router {
    ssh {
      host   = "192.168.2.1"
      flavor = "linux"
    }
  }
}

network "lab" {
  router {
    protocols = ["ssh", "manual"]
  }
}

network "shop" {
  router {
    protocols = ["ssh"]
    ssh {
      host          = "router..lan"
      identity_file = ""
    }
    ssh {
      host   = "192.168.3.1"
      flavor = "linux"
    }
  }
}

computer "alpha" {
  network = "office"
  address = "192.168.1.300"
}

computer "beta" {
  network = "office"
  address = "2001:db8::10"
}
