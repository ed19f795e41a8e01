package cli

import (
	"github.com/netplan42/netplan42/appfile"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// observeFiles reads the app_config files of c, and of no other computer:
// like the host firewall, they are this machine's own. They are read also
// without a refresh: they are local and cheap.
func observeFiles(c *schema.Computer) []planner.FileView {
	var out []planner.FileView
	for _, s := range c.Services {
		for _, a := range s.AppConfigs {
			out = append(out, appfile.Read(a.Path))
		}
	}
	return out
}
