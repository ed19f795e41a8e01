package host

import (
	"encoding/binary"
	"os"
)

// Local inspects this machine: Inspect on /proc, naming users from the
// user database.
func Local() (*Snapshot, error) {
	return Inspect(os.DirFS("/proc"), binary.NativeEndian, userName)
}

// LocalNeighbors is Neighbors on this machine's /proc.
func LocalNeighbors() ([]Neighbor, error) {
	return Neighbors(os.DirFS("/proc"))
}
