network "office" {
  listen_ports = "4250-4299"
}

computer "alpha" {
  network = "office"
  service "crashplan" {
    port = "auto"
  }
}

computer "bravo" {
  network = "office"
  service "crashplan" {
    port = "auto"
  }
}

computer "charlie" {
  network = "office"
  service "crashplan" {
    port = "auto"
  }
}
