// Package etcd keeps a fleet's shared data in an etcd v3 cluster, the
// configuration's backend "etcd" block: each computer's state and its
// lock, and the ports handed out for port = "auto".
//
// Keys, under the block's prefix (default /netplan42):
//
//	PREFIX/computers/NAME/state          the state, JSON as in a state file
//	PREFIX/computers/NAME/state.backup   the state before the last write
//	PREFIX/computers/NAME/lock/LEASE     exclusive holders (a concurrency.Mutex); the owner's value is its holder
//	PREFIX/computers/NAME/readers/LEASE  shared holders (plans)
//	PREFIX/networks/NET/ports/PROTO/PORT a port claim: the computer and service holding PORT
//
// The etcd client is large (grpc, protobuf, zap); only the CLI imports
// this package, and only a configuration with a backend block reaches it.
package etcd
