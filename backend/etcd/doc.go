// Package etcd keeps a fleet's shared data in an etcd v3 cluster, the
// configuration's backend "etcd" block: each computer's state and its
// lock, the ports handed out for port = "auto", and each computer's report
// of its last pass.
//
// Keys, under the block's prefix (default /netplan42):
//
//	PREFIX/computers/NAME/state          the state, JSON as in a state file (NAME network-NET: a network's router part)
//	PREFIX/computers/NAME/state.backup   the state before the last write
//	PREFIX/computers/NAME/lock/LEASE     exclusive holders (as etcd's concurrency.Mutex); the owner's value is its holder
//	PREFIX/computers/NAME/readers/LEASE  shared holders (plans)
//	PREFIX/computers/NAME/report         the last pass's report, under a lease of report_ttl
//	PREFIX/computers/NAME/last-report    the same, kept after the lease expires
//	PREFIX/networks/NET/ports/PROTO/PORT a port claim: the computer and service holding PORT
//	PREFIX/networks/NET/services/COMPUTER/SERVICE  the port the service claimed
//
// It speaks etcd's v3 JSON gateway over net/http (gateway.go), which etcd
// 3.4 and later serve on their client URLs, rather than linking etcd's
// gRPC client (grpc, protobuf, zap: about 7 MB and 6 ms of start-up on
// every run). The lock keys are laid out as concurrency.Mutex lays them
// out (LEASE in hex), so holders using either see each other.
package etcd
