package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/schema"
)

// look6 finds the global IPv6 address of each target checked over IPv6:
// --address NAME=IPV6, else the first global address among its
// hostname's AAAA records.
func (g *gather) look6(ctx context.Context, runs []*checkRun) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		dns  = map[*schema.Computer][]netip.Addr{}
		errs = map[*schema.Computer]error{}
	)
	for _, r := range runs {
		t := r.c.Target
		if r.c.Path != diagnose.IPv6Path || g.overrides6[t].IsValid() {
			continue
		}
		mu.Lock()
		_, asked := dns[t]
		dns[t] = nil
		mu.Unlock()
		if asked {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, min(g.timeout, maxLookup))
			defer cancel()
			as, err := net.DefaultResolver.LookupNetIP(cctx, "ip6", t.Hostname)
			mu.Lock()
			dns[t], errs[t] = as, err
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, r := range runs {
		if r.c.Path != diagnose.IPv6Path {
			continue
		}
		t, e := r.c.Target, &r.e
		if a := g.overrides6[t]; a.IsValid() {
			e.Addr, e.AddrSource = a, "from --address"
			continue
		}
		for _, a := range dns[t] {
			if a.IsGlobalUnicast() && !a.IsPrivate() && !a.Is4In6() {
				e.Addr, e.AddrSource = a, fmt.Sprintf("from DNS %q (AAAA)", t.Hostname)
				break
			}
		}
		switch {
		case e.Addr.IsValid():
		case errs[t] != nil:
			e.AddrError = fmt.Sprintf("%q has no AAAA record (%v)", t.Hostname, unwrapDNS(errs[t]))
		default:
			e.AddrError = fmt.Sprintf("%q has no global IPv6 address in DNS", t.Hostname)
		}
	}
}
