package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/netplan42/netplan42/schema"
)

// A port claim is one key per protocol,
// PREFIX/networks/NET/ports/PROTO/PORT, whose value names the holder, and
// an index key PREFIX/networks/NET/services/COMPUTER/SERVICE holding the
// port, so that one service never holds two ports. Both are created in one
// transaction that holds only if none of them exists: the first writer
// wins, and a retry of a transaction whose answer was lost finds its own
// claim and changes nothing.

// claim is the value of a port key.
type claim struct {
	Computer string `json:"computer"` // computer.nas
	Service  string `json:"service"`
}

// maxClaimTries bounds how often Allocate reads the claims again after
// another writer claimed a port first.
const maxClaimTries = 20

// claimsPerTxn bounds the changes in one transaction; etcd refuses
// transactions of more than 128 operations by default.
const claimsPerTxn = 24

// ErrClaimConflict: another writer changed the claims between the read and
// the write. Allocate retries on it.
var ErrClaimConflict = errors.New("port claims changed meanwhile")

// Claims is the claims as read at one revision.
type Claims struct {
	// Lock holds one assignment per claimed service.
	Lock *schema.Lock
	// Revision is the etcd revision of the read.
	Revision int64
	keys     map[schema.AssignmentKey][]keyRev // port keys
	index    map[schema.AssignmentKey]keyRev   // index keys
}

type keyRev struct {
	key string
	rev int64 // ModRevision
}

func (c *Client) networksPrefix() string { return c.prefix + "/networks/" }

func (c *Client) portKey(network, proto string, port uint16) string {
	return fmt.Sprintf("%s/networks/%s/ports/%s/%d", c.prefix, network, proto, port)
}

func (c *Client) serviceKey(k schema.AssignmentKey) string {
	return fmt.Sprintf("%s/networks/%s/services/%s/%s", c.prefix, k.Network, url.PathEscape(k.Computer), url.PathEscape(k.Service))
}

// ReadClaims reads every port claim under the prefix.
func (c *Client) ReadClaims(ctx context.Context) (*Claims, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	resp, err := c.get(ctx, getPrefix(c.networksPrefix()))
	if err != nil {
		return nil, c.unavailable("read port claims under "+c.networksPrefix(), err)
	}
	// Filename names where the assignments are in Allocate's diagnostics.
	cl := &Claims{Lock: &schema.Lock{Filename: fmt.Sprintf("the claims in %s under %s", c, c.networksPrefix())}, Revision: resp.Header.Revision,
		keys: map[schema.AssignmentKey][]keyRev{}, index: map[schema.AssignmentKey]keyRev{}}
	ports := map[schema.AssignmentKey]uint16{}
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), c.networksPrefix())
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) == 4 && parts[1] == "ports":
			port, err := strconv.ParseUint(parts[3], 10, 16)
			var v claim
			if err != nil || port == 0 || json.Unmarshal(kv.Value, &v) != nil || v.Computer == "" || v.Service == "" {
				return nil, fmt.Errorf("%s: port claim %s = %q is not one netplan42 wrote; remove it with etcdctl del %s",
					c, kv.Key, kv.Value, kv.Key)
			}
			k := schema.AssignmentKey{Network: parts[0], Computer: v.Computer, Service: v.Service}
			if p, ok := ports[k]; ok && p != uint16(port) {
				return nil, fmt.Errorf("%s: %s holds ports %d and %d on network %q; remove one with etcdctl del",
					c, k, p, port, k.Network)
			}
			ports[k] = uint16(port)
			cl.keys[k] = append(cl.keys[k], keyRev{string(kv.Key), kv.ModRevision})
		case len(parts) == 4 && parts[1] == "services":
			comp, err1 := url.PathUnescape(parts[2])
			svc, err2 := url.PathUnescape(parts[3])
			if err1 != nil || err2 != nil {
				continue
			}
			k := schema.AssignmentKey{Network: parts[0], Computer: comp, Service: svc}
			cl.index[k] = keyRev{string(kv.Key), kv.ModRevision}
		}
	}
	for k, p := range ports {
		cl.Lock.Assignments = append(cl.Lock.Assignments, schema.Assignment{Key: k, Port: p})
	}
	slices.SortFunc(cl.Lock.Assignments, func(a, b schema.Assignment) int { return compareKeys(a.Key, b.Key) })
	return cl, nil
}

func compareKeys(a, b schema.AssignmentKey) int {
	if c := strings.Compare(a.Network, b.Network); c != 0 {
		return c
	}
	if c := strings.Compare(a.Computer, b.Computer); c != 0 {
		return c
	}
	return strings.Compare(a.Service, b.Service)
}

// Allocate is schema.AllocateWith against the claims in etcd: it reads
// them, allocates, and claims what changed, reading again and allocating
// again when another writer claimed first. With opts.Readonly nothing is
// written. It returns the assignments as claimed and the changes it made.
func (c *Client) Allocate(ctx context.Context, cfg *schema.Config, opts schema.AllocateOptions) (*schema.Lock, []schema.LockChange, hcl.Diagnostics, error) {
	var made []schema.LockChange
	for try := 0; try < maxClaimTries; try++ {
		cl, err := c.ReadClaims(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		next, changes, diags := schema.AllocateWith(cfg, cl.Lock, opts)
		if diags.HasErrors() || opts.Readonly {
			return next, append(made, changes...), diags, nil
		}
		if len(changes) == 0 {
			// A service whose protocol changed keeps its port: its
			// port keys follow its protocols.
			err := c.syncProtocols(ctx, cfg, cl)
			if errors.Is(err, ErrClaimConflict) {
				continue
			}
			if err != nil {
				return nil, made, nil, err
			}
			return next, made, diags, nil
		}
		done, err := c.apply(ctx, cfg, cl, changes)
		made = append(made, changes[:done]...)
		if errors.Is(err, ErrClaimConflict) {
			continue
		}
		if err != nil {
			return nil, made, nil, err
		}
		return next, made, diags, nil
	}
	return nil, made, nil, fmt.Errorf("%s: port claims kept changing over %d reads; too many computers claiming at once, re-run", c, maxClaimTries)
}

// apply makes changes in etcd, up to claimsPerTxn per transaction, and a
// change that touches a key an earlier one of the same transaction does
// (a port released and handed out again) in the next one. It returns how
// many were made, and ErrClaimConflict when a transaction found the claims
// changed since cl was read.
func (c *Client) apply(ctx context.Context, cfg *schema.Config, cl *Claims, changes []schema.LockChange) (int, error) {
	services := map[schema.AssignmentKey][]string{}
	for _, comp := range cfg.Computers {
		for _, s := range comp.Services {
			services[schema.AssignmentKey{Network: comp.Network, Computer: comp.Address(), Service: s.Name}] = s.Protocols()
		}
	}
	done := 0
	var cmps []compare
	var ops []requestOp
	n := 0
	keys := map[string]bool{}
	flush := func() error {
		if n == 0 {
			return nil
		}
		tctx, cancel := opCtx(ctx)
		defer cancel()
		resp, err := c.txn(tctx, txnRequest{Compare: cmps, Success: ops})
		if err != nil {
			return c.unavailable("claim ports under "+c.networksPrefix(), err)
		}
		if !resp.Succeeded {
			return ErrClaimConflict
		}
		done += n
		cmps, ops, n = nil, nil, 0
		clear(keys)
		return nil
	}
	for _, ch := range changes {
		cm, op, err := c.changeOps(services, cl, ch)
		if err != nil {
			return done, err
		}
		overlap := n >= claimsPerTxn
		for _, o := range op {
			overlap = overlap || keys[o.key()]
		}
		if overlap {
			if err := flush(); err != nil {
				return done, err
			}
		}
		for _, o := range op {
			keys[o.key()] = true
		}
		cmps = append(cmps, cm...)
		ops = append(ops, op...)
		n++
	}
	return done, flush()
}

// syncProtocols creates the port keys of protocols a claimed service has
// gained in cfg, and deletes those of protocols it lost, in one
// transaction that holds only if the keys are as cl read them.
func (c *Client) syncProtocols(ctx context.Context, cfg *schema.Config, cl *Claims) error {
	var cmps []compare
	var ops []requestOp
	for _, comp := range cfg.Computers {
		for _, s := range comp.Services {
			k := schema.AssignmentKey{Network: comp.Network, Computer: comp.Address(), Service: s.Name}
			a, ok := cl.Lock.Lookup(k)
			if !ok || !s.Auto {
				continue
			}
			want := map[string]bool{}
			for _, p := range s.Protocols() {
				want[c.portKey(k.Network, p, a.Port)] = true
			}
			for _, kr := range cl.keys[k] {
				if want[kr.key] {
					delete(want, kr.key)
					continue
				}
				cmps = append(cmps, modRevisionIs(kr.key, kr.rev))
				ops = append(ops, opDelete(kr.key))
			}
			v, _ := json.Marshal(claim{Computer: k.Computer, Service: k.Service})
			for _, pk := range slices.Sorted(maps.Keys(want)) {
				cmps = append(cmps, createRevisionIs(pk, 0))
				ops = append(ops, opPut(pk, string(v), 0))
			}
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), 4*claimsPerTxn)
		tctx, cancel := opCtx(ctx)
		resp, err := c.txn(tctx, txnRequest{Compare: cmps[:n], Success: ops[:n]})
		cancel()
		if err != nil {
			return c.unavailable("update the protocols of port claims under "+c.networksPrefix(), err)
		}
		if !resp.Succeeded {
			return ErrClaimConflict
		}
		cmps, ops = cmps[n:], ops[n:]
	}
	return nil
}

// changeOps returns the conditions and operations of one change.
func (c *Client) changeOps(services map[schema.AssignmentKey][]string, cl *Claims, ch schema.LockChange) ([]compare, []requestOp, error) {
	var cmps []compare
	var ops []requestOp
	k := ch.Key
	sk := c.serviceKey(k)
	// The index key must be as read (ModRevision 0: absent); an index
	// left without its port keys is replaced.
	cmps = append(cmps, modRevisionIs(sk, cl.index[k].rev))
	if ch.Action == schema.LockRelease || ch.Action == schema.LockMove {
		// What was read must still be there: delete it.
		for _, kr := range cl.keys[k] {
			cmps = append(cmps, modRevisionIs(kr.key, kr.rev))
			ops = append(ops, opDelete(kr.key))
		}
	}
	if ch.Action == schema.LockRelease {
		ops = append(ops, opDelete(sk))
	}
	if ch.Action == schema.LockAssign || ch.Action == schema.LockMove {
		protos := services[k]
		if len(protos) == 0 {
			return nil, nil, fmt.Errorf("claim a port for %s: no such service in the configuration", k)
		}
		v, _ := json.Marshal(claim{Computer: k.Computer, Service: k.Service})
		for _, p := range protos {
			pk := c.portKey(k.Network, p, ch.To)
			cmps = append(cmps, createRevisionIs(pk, 0))
			ops = append(ops, opPut(pk, string(v), 0))
		}
		ops = append(ops, opPut(sk, strconv.Itoa(int(ch.To)), 0))
	}
	return cmps, ops, nil
}

// Preview is Allocate without writing: the assignments the claims give
// and the changes a plan would claim.
func (c *Client) Preview(ctx context.Context, cfg *schema.Config, opts schema.AllocateOptions) (*schema.Lock, []schema.LockChange, hcl.Diagnostics, error) {
	cl, err := c.ReadClaims(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	next, changes, diags := schema.AllocateWith(cfg, cl.Lock, opts)
	return next, changes, diags, nil
}

// ExportLock returns the claims as a lock file's content.
func (c *Client) ExportLock(ctx context.Context) (*schema.Lock, error) {
	cl, err := c.ReadClaims(ctx)
	if err != nil {
		return nil, err
	}
	return cl.Lock, nil
}

// ImportLock claims every assignment of lock, with the protocols its
// service has in cfg. Assignments already claimed as they are stay; a
// service claimed on another port, or a port claimed by another service,
// is an error and nothing is imported. It returns how many it claimed.
func (c *Client) ImportLock(ctx context.Context, cfg *schema.Config, lock *schema.Lock) (int, error) {
	cl, err := c.ReadClaims(ctx)
	if err != nil {
		return 0, err
	}
	type netPort struct {
		network string
		port    uint16
	}
	holders := map[netPort]schema.AssignmentKey{}
	for _, a := range cl.Lock.Assignments {
		holders[netPort{a.Key.Network, a.Port}] = a.Key
	}
	var changes []schema.LockChange
	var problems []string
	for _, a := range lock.Assignments {
		if cur, ok := cl.Lock.Lookup(a.Key); ok {
			if cur.Port != a.Port {
				problems = append(problems, fmt.Sprintf("%s is claimed on port %d, the lock file says %d", a.Key, cur.Port, a.Port))
			}
			continue
		}
		if h, ok := holders[netPort{a.Key.Network, a.Port}]; ok {
			problems = append(problems, fmt.Sprintf("port %d of network %q is claimed by %s, the lock file gives it to %s", a.Port, a.Key.Network, h, a.Key))
			continue
		}
		changes = append(changes, schema.LockChange{Action: schema.LockAssign, Key: a.Key, To: a.Port})
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("import into %s: %s; nothing imported: resolve these by hand (etcdctl del the claim, or edit the lock file)", c, strings.Join(problems, "; "))
	}
	done, err := c.apply(ctx, cfg, cl, changes)
	if errors.Is(err, ErrClaimConflict) {
		return done, fmt.Errorf("import into %s: the claims changed while importing (%d of %d made); run it again", c, done, len(changes))
	}
	return done, err
}
