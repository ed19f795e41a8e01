package state

import "time"

// This file exports, for stores in other packages, the encoding and the
// checks the file store uses, so that every backend stores the same bytes
// and refuses the same writes.

// Encode returns s as the JSON a store keeps: what FileStore writes.
func Encode(s *State) ([]byte, error) { return encodeState(s) }

// Decode parses a stored state; where names it in errors ("etcd key
// /netplan42/computers/nas/state").
func Decode(where string, b []byte) (*State, error) { return decodeState(where, b) }

// Stamp returns s as it must be stored in place of old (nil when there is
// none): checked with ErrLineage and ErrStale as Writer describes, with the
// serial bumped and the write time set to now. s is not changed; a store
// copies the result into s once the write succeeded.
func Stamp(where string, old, s *State, now time.Time) (*State, error) {
	return stamped(where, old, s, now)
}

// CurrentHolder returns this process as the holder of a lock taken for op.
func CurrentHolder(op string) Holder { return currentHolder(op) }
