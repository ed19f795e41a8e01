# netplan42.lock.hcl: the ports netplan42 handed out for port = "auto".
# Maintained by netplan42 plan; commit it, so that every computer agrees.
# An assignment stays while its service exists; delete one to free its port.

assignment "home" "computer.desktop" "crashplan" {
  port = 1024
}

assignment "home" "computer.desktop" "ssh" {
  port = 1025
}

assignment "home" "computer.desktop" "syncthing" {
  port = 1026
}
