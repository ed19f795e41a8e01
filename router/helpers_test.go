package router

import "github.com/netplan42/netplan42/planner"

// Helpers shared by the portable tests and the Linux-only lab tests.

func ours(ext uint16, lease uint32) planner.Mapping {
	return planner.Mapping{Protocol: planner.TCP, ExternalPort: ext, InternalPort: ext,
		Description: planner.Tag("nas", "crashplan"), LeaseSeconds: lease}
}

func findMapping(v planner.RouterView, k planner.MappingKey) (planner.Mapping, bool) {
	for _, m := range v.Mappings {
		if m.Key() == k {
			return m, true
		}
	}
	return planner.Mapping{}, false
}
