network "home net" {}

network "home" {}

computer "nas.local" {
  network = "home"
}

computer "desk" {
  network = "home"
  service "crash plan" {
    port = 4242
  }
}

variable "my var" {
  default = 1
}
