package firewall

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// inProcess answers a listing without running its tool where the kernel
// can be asked directly and the answer is the tool's, exactly; ok is
// false for anything else, and the tool runs.
func inProcess(name string, args []string) (out []byte, ok bool) {
	if name == "nft" && slices.Equal(args, []string{"-j", "list", "chains"}) {
		return nftChainsJSON()
	}
	return nil, false
}

// nftChainsJSON answers `nft -j list chains` over netlink (google/nftables,
// which knftables links already): for each chain the family, table and
// name, and for a base chain its type, hook, priority and policy, as nft
// prints them. It is the costliest listing a plan with the iptables
// backend runs beside the router's (nft takes about 7 ms of CPU to start
// and read the cache). ok is false, and nft runs (its error is the one
// reported), when netlink fails, when the ruleset changed during the
// listing (its generation moved: nft reads again then), when the kernel
// names a family or hook this does not know, and when a chain may be an
// anonymous one bound to a rule (nft names them __chainN and hides them;
// google/nftables does not read the flag that marks them).
func nftChainsJSON() ([]byte, bool) {
	conn, err := nftables.New()
	if err != nil {
		return nil, false
	}
	gen, err := nftGeneration()
	if err != nil {
		return nil, false
	}
	chains, err := conn.ListChains()
	if err != nil {
		return nil, false
	}
	if again, err := nftGeneration(); err != nil || again != gen {
		return nil, false
	}
	type chain struct {
		Family string `json:"family"`
		Table  string `json:"table"`
		Name   string `json:"name"`
		Type   string `json:"type,omitempty"`
		Hook   string `json:"hook,omitempty"`
		Prio   *int32 `json:"prio,omitempty"`
		Policy string `json:"policy,omitempty"`
	}
	objs := []map[string]any{{"metainfo": map[string]int{"json_schema_version": 1}}}
	for _, c := range chains {
		if c.Table == nil || strings.HasPrefix(c.Name, "__chain") {
			return nil, false
		}
		family, ok := nftFamilies[c.Table.Family]
		if !ok {
			return nil, false
		}
		out := chain{Family: family, Table: c.Table.Name, Name: c.Name}
		if c.Hooknum != nil {
			hooks := nftHooks[family]
			if int(*c.Hooknum) >= len(hooks) || hooks[*c.Hooknum] == "" || c.Priority == nil || c.Policy == nil {
				return nil, false
			}
			prio := int32(*c.Priority)
			out.Type, out.Hook, out.Prio = string(c.Type), hooks[*c.Hooknum], &prio
			switch *c.Policy {
			case nftables.ChainPolicyAccept:
				out.Policy = "accept"
			case nftables.ChainPolicyDrop:
				out.Policy = "drop"
			default:
				return nil, false
			}
		}
		objs = append(objs, map[string]any{"chain": out})
	}
	b, err := json.Marshal(map[string]any{"nftables": objs})
	return b, err == nil
}

// nftFamilies are nft's names of the netfilter families (NFPROTO_*).
var nftFamilies = map[nftables.TableFamily]string{
	nftables.TableFamilyINet: "inet", nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6",
	nftables.TableFamilyARP: "arp", nftables.TableFamilyBridge: "bridge", nftables.TableFamilyNetdev: "netdev",
}

// nftHooks are nft's names of each family's hooks, by number
// (NF_INET_*, NF_ARP_*, NF_NETDEV_*).
var nftHooks = map[string][]string{
	"ip":     {"prerouting", "input", "forward", "output", "postrouting"},
	"ip6":    {"prerouting", "input", "forward", "output", "postrouting"},
	"inet":   {"prerouting", "input", "forward", "output", "postrouting", "ingress"},
	"bridge": {"prerouting", "input", "forward", "output", "postrouting"},
	"arp":    {"input", "output", "forward"},
	"netdev": {"ingress", "egress"},
}

// nftGeneration reads the ruleset's generation ID (NFT_MSG_GETGEN), which
// every committed change moves on.
func nftGeneration() (uint32, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}, // nfgenmsg
	})
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
		if err := ad.Err(); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("nftables: no generation ID in the answer")
}
