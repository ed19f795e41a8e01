# netplan42.lock.hcl: the ports netplan42 handed out for port = "auto".
# Maintained by netplan42 plan; commit it, so that every computer agrees.
# An assignment stays while its service exists; delete one to free its port.

assignment "office" "computer.alpha" "crashplan" {
  port = 4250
}

assignment "office" "computer.bravo" "crashplan" {
  port = 4251
}

assignment "office" "computer.charlie" "crashplan" {
  port = 4251
}
