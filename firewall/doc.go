// Package firewall opens the host firewall for netplan42's services: it
// observes and sets inbound allow rules (protocol, port, sources) with
// iptables, nftables or pf, and warns about foreign rules that decide the
// same traffic first.
//
// # Ownership
//
// netplan42 changes only what it owns, and can prove it: a test compares
// the whole ruleset before and after, apart from these objects.
//
//   - iptables: chain NETPLAN42 in the filter table (IPv4 and IPv6), and one
//     jump at the top of INPUT carrying the comment "netplan42". Every rule
//     in the chain carries its tag, "netplan42:<computer>/<service>".
//   - nftables: table inet netplan42; and, in each foreign table whose
//     input chain would drop our traffic, a regular chain netplan42 plus one
//     jump at the top of that input chain with the comment "netplan42".
//     A packet must be accepted by every base chain on the input hook, so an
//     accept in our own table alone does not open a port another table
//     drops.
//   - pf: the rules of anchor "netplan42"; pf.conf is the admin's and is
//     never edited.
//
// It never flushes, reorders or edits a rule it does not own and never
// changes a chain's policy. Each Sync is atomic per family (one
// iptables-restore --noflush), per ruleset (one nft transaction) or per
// anchor (one pfctl -f). Sync with no rules removes every object above.
//
// Our jump goes to the top once and stays where it is: if another tool
// later inserts a DROP above it, netplan42 does not move its jump over the
// admin's rule but says so in Warnings. Tables that a firewall manager owns
// (firewalld's) are left alone, with a warning naming the manager's own
// command; ufw's chains share iptables' filter table, where the one jump
// is the same as on any iptables host.
//
// The iptables backend does not write native nftables tables; when one of
// them also filters input it warns and recommends backend "nftables",
// which handles iptables-nft's tables as well.
package firewall
