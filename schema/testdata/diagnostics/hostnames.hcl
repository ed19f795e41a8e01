network "home" {}

computer "nas" {
  network = "home"
}

computer "backup" {
  network  = "home"
  hostname = "NAS"
}

computer "laptop" {
  network  = "home"
  hostname = "Alice's laptop"
}

computer "desk" {
  for_each = toset(["nas", "alice@home"])
  network  = "home"
}
