# One desktop behind a home router runs three programs that read their
# listen ports from config files of their own. netplan42 gives each a port,
# forwards it on the router, opens the firewall, and writes the port into
# the program's file, restarting the program when the file changed.

network "home" {
  reserved_ports = [4242, 4243]
}

computer "desktop" {
  network = "home"

  # CrashPlan takes its listen address from my.service.xml. Only the text
  # match finds is replaced; every other byte stays as CrashPlan wrote it.
  service "crashplan" {
    port   = "auto"
    expose = "internet"
    app_config "/usr/local/crashplan/conf/my.service.xml" {
      match     = "<location>[^<]*</location>"
      replace   = "<location>0.0.0.0:${self.port}</location>"
      on_change = ["/usr/bin/systemctl", "restart", "crashplan"]
    }
  }

  # sshd reads sshd_config.d/*.conf (Debian's sshd_config includes them):
  # a file of netplan42's own, written whole.
  service "ssh" {
    port   = "auto"
    expose = "lan"
    app_config "/etc/ssh/sshd_config.d/netplan42.conf" {
      content   = "# Written by netplan42 for service \"${self.name}\" on ${self.hostname}: edits are put back.\nPort ${self.port}\n"
      on_change = ["/usr/bin/systemctl", "reload", "ssh"]
    }
  }

  # Syncthing's sync protocol listens where config.xml's listenAddress
  # says; "default" (22000 and relays) becomes this port.
  service "syncthing" {
    port     = "auto"
    protocol = "both"
    expose   = "internet"
    app_config "/home/alice/.local/state/syncthing/config.xml" {
      match     = "<listenAddress>(default|tcp://[^<]*)</listenAddress>"
      replace   = "<listenAddress>tcp://0.0.0.0:${self.port}</listenAddress>"
      on_change = ["/usr/bin/systemctl", "restart", "syncthing@alice"]
    }
  }
}
