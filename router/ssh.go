package router

import "github.com/netplan42/netplan42/schema"

// SSHConfig says how to log in to a router administered over SSH
// (schema.ViaSSH).
type SSHConfig struct {
	Host string // IP address or DNS name
	Port uint16 // 0 means 22
	User string // "" means root
	// IdentityFile is the private key to log in with; "" means the SSH
	// agent (SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
	// A leading "~/" is the home directory.
	IdentityFile string
	// KnownHosts is the known_hosts file the router's host key must be
	// in; "" means ~/.ssh/known_hosts.
	KnownHosts string
	// AcceptNewHostKey trusts a host key the known_hosts file holds none
	// for (trust on first use) and appends it there. A changed key is
	// refused all the same.
	AcceptNewHostKey bool
	Flavor           schema.SSHFlavor
}

func sshHost(c *SSHConfig) string {
	if c == nil {
		return ""
	}
	return c.Host
}
