assignment "home" "computer.desktop" "crashplan" {
  port = 1024
}
