backend "etc" {
  endpoints = ["http://127.0.0.1:2379"]
}

backend "etcd" {
  endpoints  = []
  prefix     = "/"
  report_ttl = "soon"
  bucket     = "fleet"
  tls {
    key_file = "client.key"
  }
  tls {}
}

network "home" {}
