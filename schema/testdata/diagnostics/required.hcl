network "home" {}

computer "nas" {
  service "crashplan" {
    expose = "internet"
  }
}

computer "desktop" {
  network = null
  service "crashplan" {
    port = null
  }
}
