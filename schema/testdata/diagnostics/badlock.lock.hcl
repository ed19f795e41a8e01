assignment "home" "computer.desktop" "crashplan" {
  port = 70000
}

assignment "home" "desktop" "crashplan" {
  port = 1024
}

assignment "home" "computer.nas" "crashplan" {
  port = "1025"
}

assignment "home" "computer.laptop" "crashplan" {
  port  = 1026
  owner = "alice"
}

assignment "home" "computer.laptop" "crashplan" {
  port = 1027
}

assignment "home" "computer.tv" {
  port = 1028
}
