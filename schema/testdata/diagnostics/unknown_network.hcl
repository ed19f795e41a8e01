network "home" {}
network "office" {}

computer "nas" {
  network = "hom"
}

computer "desk" {
  for_each = toset(["alice", "bob"])
  network  = "ofice"
}

computer "laptop" {
  network = "cafe"
}
