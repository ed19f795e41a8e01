backend "etcd" {
  endpoints  = ["http://127.0.0.1:2379", "127.0.0.1:2379", "http://127.0.0.1:2379", "http://etcd1"]
  prefix     = "netplan42/office/"
  report_ttl = "2s"
  tls {
    cert_file = "client.pem"
  }
}

backend "etcd" {
  endpoints = ["http://127.0.0.1:2379"]
}

network "home" {}
