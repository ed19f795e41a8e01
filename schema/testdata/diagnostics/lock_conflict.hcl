network "home" {}

computer "desktop" {
  network = "home"
  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
}

computer "nas" {
  network = "home"
  service "crashplan" {
    port   = 1024 # held by desktop in the lock file
    expose = "internet"
  }
}
