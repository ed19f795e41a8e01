# Checked with the lock file read-only: every change is an error.
network "home" {
  reserved_ports = [4242, 4243, 1025]
}

computer "desktop" {
  network = "home"
  service "crashplan" {
    port = "auto" # new: needs a port
  }
}

computer "laptop" {
  network = "home"
  service "crashplan" {
    port = "auto" # its port 1025 is now reserved
  }
}

computer "nas" {
  network = "home"
  service "crashplan" {
    port = "auto" # kept
  }
}
