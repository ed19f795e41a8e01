network "home" {
  listen_ports = "1024-5999"
}

computer "nas" {
  network = "home"
  service "crashplan" {
    port = 4242
  # the closing brace of the service is missing
}
