package diagnose

import "fmt"

// ipv6 judges a connection over IPv6 to the target's global address. By
// default a service is offered over IPv6 only where its router opens
// pinholes, so a target without a known IPv6 address is no failure unless
// the service lists "ipv6" in ip_versions itself.
func (j *judging) ipv6() {
	c, e := j.c, j.e
	t := c.Target.Address()
	explicit := c.Service.IPVersions != nil
	if !e.Addr.IsValid() {
		v := VUnknown
		if explicit {
			v = NoAddress
		}
		j.set(v, "", fmt.Sprintf("%s's global IPv6 address is unknown: %s", t, orText(e.AddrError, "no source named it")),
			fmt.Sprintf("pass --address %s=IPV6 (netplan42 status on %s shows its IPv6 address), or publish an AAAA record for %q", j.name, j.name, c.Target.Hostname))
		return
	}
	if j.udp() || j.connected() {
		return
	}
	where := fmt.Sprintf("%s ([%s]:%d)", t, e.Addr, c.Port)
	status := j.on() + "netplan42 status lists its IPv6 pinholes, its firewall's rules and what listens on " + j.k()
	switch e.Outcome {
	case Refused:
		j.set(VRefused, "the connection was refused (TCP reset)",
			fmt.Sprintf("%s was reached over IPv6 and reset the connection: nothing listens on %s there (service %s not running, or on another port), or a firewall REJECT rule", where, j.k(), j.svc),
			status+"; (re)start the program of service "+j.svc)
	case TimedOut:
		j.set(VTimeout, "no answer within the timeout",
			fmt.Sprintf("no answer over IPv6 from %s: no pinhole for %s on its router (routers drop inbound IPv6 they were not asked to let through), or %s's own firewall drops it", where, j.k(), j.name),
			j.on()+"netplan42 apply opens the pinhole and the firewall rule; "+status)
	case Unreachable:
		j.set(VUnknown, "no route",
			fmt.Sprintf("no IPv6 route from here to %s: this computer has no IPv6 connection to the internet, so IPv6 cannot be judged from here", where),
			"run the check from a computer with IPv6")
	default:
		j.set(VError, "the connection failed: "+e.Error, "", status)
	}
}
