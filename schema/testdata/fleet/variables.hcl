# Inputs: override with --var, --var-file or NETPLAN42_VAR_name.

variable "desks" {
  type        = map(string) # person => hostname
  description = "the desktops at home, by person"
  default = {
    alice = "alice-pc"
    bob   = "bobs-mac"
  }
}

variable "office_lease" {
  type    = string
  default = "1d"
}

variable "trusted" {
  type    = list(string)
  default = ["192.168.1.0/24", "10.8.0.0/16"]
}
