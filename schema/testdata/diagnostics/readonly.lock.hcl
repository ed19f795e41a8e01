assignment "home" "computer.laptop" "crashplan" {
  port = 1025
}

assignment "home" "computer.nas" "crashplan" {
  port = 1024
}

assignment "home" "computer.old" "crashplan" {
  port = 1026
}
