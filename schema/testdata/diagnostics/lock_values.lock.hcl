assignment "office" "computer.alpha" "crashplan" {
  port = 0
}

assignment "office" "computer.bravo" "crashplan" {
  port = 4250 + 1
}

assignment "office" "computer.charlie" "crashplan" {
  port = 4252.5
}
