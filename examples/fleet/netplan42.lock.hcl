# netplan42.lock.hcl: the ports netplan42 handed out for port = "auto".
# Maintained by netplan42 plan; commit it, so that every computer agrees.
# An assignment stays while its service exists; delete one to free its port.

assignment "office" "computer.desk[\"alice\"]" "crashplan" {
  port = 4200
}

assignment "office" "computer.desk[\"bob\"]" "crashplan" {
  port = 4201
}

assignment "office" "computer.desk[\"carol\"]" "crashplan" {
  port = 4202
}
