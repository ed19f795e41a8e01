network "home" {}

computer "dup" {
  for_each = ["a", "b", "a"]
  network  = "home"
}

computer "num" {
  for_each = 3
  network  = "home"
}

computer "badkey" {
  for_each = { "alice smith" = 1, "bob/2" = 2 }
  network  = "home"
}

computer "noeach" {
  network  = "home"
  hostname = each.key
}

computer "lists" {
  for_each = [["a"], ["b"]]
  network  = "home"
}
