network "backwards" {
  listen_ports = "5999-1024"
}

network "words" {
  listen_ports = "low-high"
}

network "zero" {
  listen_ports = "0-100"
}

network "big" {
  listen_ports   = "1024-70000"
  reserved_ports = [4242, 65536, 0]
}

network "single" {
  listen_ports = 5000 # one port is fine
}
