package router

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// sshFlavor is how one router system keeps port forwards: sshlinux.go
// (nftables), sshopenwrt.go (uci and firewall4).
type sshFlavor interface {
	// title names the system for people: "Linux (nftables)".
	title() string
	// tools is a shell command that succeeds when the router has the
	// flavor's tools.
	tools() string
	// read reads every port forward the router holds, ours (described
	// with our tag) and foreign.
	read(ctx context.Context, c *sshConn) (*sshTable, error)
	// change makes the router hold put on key k instead of the forward of
	// ours t shows there, or nothing of ours there when put is nil, in one
	// transaction; it changes nothing else.
	change(ctx context.Context, c *sshConn, t *sshTable, k planner.MappingKey, put *planner.Mapping) error
}

// sshTable is what a flavor read from the router.
type sshTable struct {
	// forwards are the router's port forwards; ours carry our tag as
	// Description, foreign ones their name or comment.
	forwards []planner.Mapping
	notes    []string
	raw      any // the flavor's parsed rule set or config
}

// find returns the forward on k.
func (t *sshTable) find(k planner.MappingKey) (planner.Mapping, bool) {
	i := slices.IndexFunc(t.forwards, func(m planner.Mapping) bool { return m.Key() == k })
	if i < 0 {
		return planner.Mapping{}, false
	}
	return t.forwards[i], true
}

// sshFlavors are the router systems netplan42 administers over SSH.
var sshFlavors = map[schema.SSHFlavor]sshFlavor{
	schema.FlavorLinux:   linuxFlavor{},
	schema.FlavorOpenWrt: openwrtFlavor{},
}

// sshProtocol is a router administered over SSH as a router protocol.
type sshProtocol struct{}

func (sshProtocol) probe(ctx context.Context, e endpoint, _ *rememberedIGD) (session, error) {
	if e.ssh == nil {
		return nil, errors.New("ssh: the router has no ssh settings")
	}
	f := sshFlavors[e.ssh.Flavor]
	if f == nil {
		return nil, fmt.Errorf("ssh %s: unknown flavor %q (want linux or openwrt)", e.ssh.addr(), e.ssh.Flavor)
	}
	c, err := dialSSH(ctx, *e.ssh)
	if err != nil {
		return nil, err
	}
	if _, err := c.run(ctx, f.tools(), nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("ssh %s: the router does not look like %s (%s): %w", e.ssh.addr(), f.title(), f.tools(), err)
	}
	return &sshSession{c: c, f: f, cfg: *e.ssh}, nil
}

// sshSession is a router netplan42 is logged in to: its forwards can be
// listed, each with its description.
type sshSession struct {
	c   *sshConn
	f   sshFlavor
	cfg SSHConfig
}

func (s *sshSession) describe(v *planner.RouterView) {
	v.Detail = fmt.Sprintf("%s router %s@%s over SSH", s.f.title(), s.cfg.user(), s.cfg.addr())
	v.Device = planner.Device{Service: string(s.cfg.Flavor), URL: "ssh://" + s.cfg.user() + "@" + s.cfg.addr()}
	v.Can = planner.Capabilities{ReadsEntries: true, Describes: true}
}

func (s *sshSession) observe(ctx context.Context, v planner.RouterView, want []planner.MappingKey) (planner.RouterView, error) {
	t, err := s.f.read(ctx, s.c)
	if err != nil {
		return v, err
	}
	v.Listed = true
	v.Mappings = t.forwards
	v.Notes = append(v.Notes, t.notes...)
	// The external address is the source the router would use towards
	// the internet; a router without a default route has none.
	if out, err := s.c.run(ctx, "ip -4 route get "+routeProbe, nil); err == nil {
		v.ExternalAddress = parseRouteSrc(out)
	}
	if n := externalNote(v.ExternalAddress); n != "" {
		v.Notes = append(v.Notes, n)
	}
	return v, nil
}

// routeProbe is a public address whose route says which source address
// the router uses towards the internet; nothing is sent to it.
const routeProbe = "1.1.1.1"

// parseRouteSrc reads the source address from `ip -4 route get ADDR`,
// as iproute2 and busybox print it: "1.1.1.1 via 11.0.0.254 dev wan0
// src 11.0.0.1 uid 0".
func parseRouteSrc(out []byte) netip.Addr {
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "src" {
			if a, err := netip.ParseAddr(f[i+1]); err == nil && a.Is4() {
				return a
			}
		}
	}
	return netip.Addr{}
}

// permanent is m as a router administered over SSH keeps it: forwards
// there have no lease.
func permanent(m planner.Mapping) planner.Mapping {
	m.LeaseSeconds = 0
	m.RemoteHost, m.Disabled, m.Nonce = "", false, ""
	return m
}

func (s *sshSession) add(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	m = permanent(m)
	t, err := s.f.read(ctx, s.c)
	if err != nil {
		return planner.Grant{}, fmt.Errorf("router add %s: %w", m, err)
	}
	if held, ok := t.find(m.Key()); ok {
		switch {
		case held == m:
			return planner.Grant{Mapping: held}, nil
		case held.Description != m.Description:
			return planner.Grant{}, &ConflictError{Want: m, Holder: held, Found: true, Err: ErrConflict}
		}
	}
	err = s.f.change(ctx, s.c, t, m.Key(), &m)
	if err == nil {
		return planner.Grant{Mapping: m}, nil
	}
	if !errors.Is(err, errSSHDropped) {
		return planner.Grant{}, fmt.Errorf("router add %s: %w", m, err)
	}
	// The change may have been made before the connection went: log in
	// again and read what the router holds.
	got, present, lerr := s.lookup(context.WithoutCancel(ctx), m.Key())
	switch {
	case lerr != nil:
		return planner.Grant{}, fmt.Errorf("router add %s: %w; reading it back failed: %v", m, err, lerr)
	case present && got == m:
		return planner.Grant{Mapping: got, Note: "the SSH connection dropped during the change; logged in again, the router holds it"}, nil
	case present:
		return planner.Grant{}, fmt.Errorf("router add %s: the SSH connection dropped during the change; logged in again, the router holds %s %q on that port", m, got, got.Description)
	}
	return planner.Grant{}, fmt.Errorf("router add %s: the SSH connection dropped during the change; logged in again, the router does not hold it", m)
}

func (s *sshSession) delete(ctx context.Context, m planner.Mapping) error {
	t, err := s.f.read(ctx, s.c)
	if err != nil {
		return fmt.Errorf("router delete %s: %w", m, err)
	}
	held, ok := t.find(m.Key())
	if !ok {
		return nil
	}
	if held.Description != m.Description || held.InternalPort != m.InternalPort ||
		(m.InternalAddress.IsValid() && held.InternalAddress != m.InternalAddress.Unmap()) {
		return &NotOursError{Want: m, Holder: held}
	}
	err = s.f.change(ctx, s.c, t, m.Key(), nil)
	if err == nil || !errors.Is(err, errSSHDropped) {
		if err != nil {
			err = fmt.Errorf("router delete %s: %w", m, err)
		}
		return err
	}
	_, present, lerr := s.lookup(context.WithoutCancel(ctx), m.Key())
	switch {
	case lerr != nil:
		return fmt.Errorf("router delete %s: %w; reading it back failed: %v", m, err, lerr)
	case present:
		return fmt.Errorf("router delete %s: the SSH connection dropped during the change; logged in again, the router still holds it", m)
	}
	return nil
}

func (s *sshSession) lookup(ctx context.Context, k planner.MappingKey) (planner.Mapping, bool, error) {
	t, err := s.f.read(ctx, s.c)
	if err != nil {
		return planner.Mapping{}, false, fmt.Errorf("router lookup %s: %w", k, err)
	}
	m, ok := t.find(k)
	return m, ok, nil
}
