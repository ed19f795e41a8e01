// Package etcdtest starts real etcd servers for tests: Debian's etcd-server
// (the etcd binary on PATH), on loopback ports the test chose, each member
// with a fresh data directory under t.TempDir, waited for through its
// /health endpoint with a bounded wait, and stopped and removed when the
// test ends, whether it passed or not.
//
// Tests call Require (or Start, which calls it): without etcd a test skips
// and says why, and with NETPLAN42_LAB=required it fails instead, like the
// lab tests. NETPLAN42_LAB=off skips them.
//
// Measured on a busy 2-core machine with etcd 3.4.23: a single member is
// healthy 0.2-1.2 s after it is started, three members 0.7-2.7 s.
package etcdtest
