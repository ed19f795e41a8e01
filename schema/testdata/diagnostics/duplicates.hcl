network "home" {
  router {}
  router {}
}

network "home" {}

computer "nas" {
  network = "home"
  service "crashplan" {
    port = 4242
  }
  service "crashplan" {
    port = 4250
  }
}

computer "nas" {
  network = "home"
}
