network "home" {}

computer "desktop" {
  network = "home"
  service "crashplan" {
    port = "auto"
  }
}
