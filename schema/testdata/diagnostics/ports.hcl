network "home" {}

computer "nas" {
  network = "home"
  service "a" {
    port = 70000
  }
  service "b" {
    port = "aut"
  }
  service "c" {
    port = 42.5
  }
  service "d" {
    port = [4242]
  }
  service "e" {
    port          = 0
    expose        = "internet"
    external_port = "auto"
  }
  service "f" {
    port = "4250" # a numeric string is fine
  }
}
