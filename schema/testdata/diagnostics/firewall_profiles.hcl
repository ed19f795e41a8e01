network "home" {}

computer "pc" {
  network           = "home"
  firewall          = "windows"
  firewall_profiles = ["private", "home", "private"]
}

computer "laptop" {
  network           = "home"
  firewall          = "windows"
  firewall_profiles = []
}

computer "nas" {
  network           = "home"
  firewall          = "iptables"
  firewall_profiles = ["private"]
}
