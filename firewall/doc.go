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
//     in the chain carries its tag, "netplan42:<computer>/<service>". And,
//     as below for nftables, in each native nftables table whose input
//     chain would drop our traffic, a regular chain netplan42 plus one
//     tagged jump.
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
// # iptables beside native nftables tables
//
// The kernel runs every base chain on the input hook: iptables-nft's
// tables, iptables-legacy's, and native nftables tables (an admin's table
// inet filter) alike, and a packet must pass all of them. So the iptables
// backend, like the nftables backend and with the same code, also hooks
// every native nftables table whose input chain would drop our traffic:
// chain netplan42 there holds the same accepts as NETPLAN42, reached by one
// tagged jump. With the nf_tables variant iptables-nft's own tables are
// left to iptables-restore; with the legacy variant they are as foreign as
// native ones and are hooked the same way. Tables a firewall manager owns
// (firewalld, flag owner) are still left alone, with a warning.
//
// Observe reports Hooked false when such a table lacks our chain or our
// jump, or its chain netplan42 differs from NETPLAN42, so a plan shows the
// drift and apply repairs it. Sync reads the native tables (the chains,
// over netlink as nft -j list chains prints them, then with nft only the
// tables that filter input or hold our chain) before it changes
// anything, then runs one iptables-restore per family and one nft
// transaction. Because the rules go into nft too, nft's comment limit
// (128 bytes) applies whenever a native table needs them. Rules of the
// other iptables variant beside nf_tables are named in Warnings, not
// written.
package firewall
