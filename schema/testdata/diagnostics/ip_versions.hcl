network "home" {}

computer "nas" {
  network = "home"
  service "typo" {
    port        = 4242
    expose      = "internet"
    ip_versions = ["ipv4", "ip6", "ipv4"]
  }
  service "empty" {
    port        = 4243
    expose      = "internet"
    ip_versions = []
  }
  service "lan" {
    port        = 4244
    expose      = "lan"
    ip_versions = ["ipv6"]
  }
}
