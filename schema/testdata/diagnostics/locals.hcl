locals {
  a    = local.b
  b    = local.a
  self = local.self
}

locals {
  base = 5000
  port = local.bse + 1
  c    = local.a # depends on the cycle: no second message
}

locals {
  base = 6000 # defined in the block above
}

network "home" {}

computer "nas" {
  network = "home"
  service "x" {
    port = local.c
  }
  service "y" {
    port = local.nope
  }
}
