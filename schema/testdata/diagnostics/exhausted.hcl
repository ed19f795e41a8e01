network "tiny" {
  listen_ports   = "1024-1027"
  reserved_ports = [1025]
}

computer "a" {
  network = "tiny"
  service "fixed" {
    port = 1026
  }
  service "x" {
    port = "auto"
  }
}

computer "b" {
  network = "tiny"
  service "x" {
    port = "auto"
  }
}

computer "c" {
  network = "tiny"
  service "x" {
    port = "auto"
  }
}
