variable "network" {
  type        = string
  description = "the network all computers are in"
}

variable "count" {
  type    = number
  default = "many"
}

variable "count" {
  default = 1
}

variable "ports" {
  type    = list(nmber)
  default = []
}

network "home" {}

computer "nas" {
  network = var.network
  service "x" {
    port = var.nope
  }
}
