netwrk "home" {
}

network "home" {
  listen_port = "1024-5999"
}

computer "nas" {
  network = "home"
  srvice "crashplan" {
    port = 4242
  }
  service "crashplan" {
    port  = 4242
    proto = "tcp"
  }
}
