network "home" {}

computer "nas" {
  network = "home"
  service "ui" {
    port          = 4243
    expose        = "localhost"
    external_port = 4243
    allow_from    = ["192.168.1.0/24"]
  }
  service "lan-only" {
    port          = 4250
    external_port = 4251
  }
  service "sources" {
    port       = 4260
    allow_from = ["192.168.1.0/24", "10.0.0.0/33", "192.168.1.5/24", "nas.local", "10.1.2.3"]
  }
  service "nobody" {
    port       = 4270
    allow_from = []
  }
}
