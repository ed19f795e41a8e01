package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// FormatVersion is the version of the state file format this package
// writes, "MAJOR.MINOR" like the JSON plan's. It goes up whenever a change
// would lose information in an older reader, so readers refuse any newer
// version, minor ones included, rather than drop what they do not know;
// older versions are migrated in decodeState. Files written before the
// version became a string say 1 (a number), which reads as "1.0".
const FormatVersion = "1.0"

// State is what netplan42 remembers of one computer.
type State struct {
	FormatVersion string `json:"format_version"`
	// Lineage is a random id chosen when the state is created; it never
	// changes, so a write can tell this state from another one.
	Lineage string `json:"lineage"`
	// Serial goes up by one with every write.
	Serial   uint64    `json:"serial"`
	Computer string    `json:"computer"` // computer.nas
	Updated  time.Time `json:"updated"`

	planner.Prior // resources, router
}

// New returns an empty state for computer (its address: computer.nas) with
// a fresh lineage.
func New(computer string) *State {
	return &State{
		FormatVersion: FormatVersion,
		Lineage:       newLineage(),
		Computer:      computer,
		Prior:         planner.Prior{Resources: []planner.Managed{}},
	}
}

func newLineage() string { return rand.Text() }

// Reader reads the current state.
type Reader interface {
	// Read returns the current state, or nil and no error when there is no
	// state yet.
	Read() (*State, error)
}

// Writer replaces the current state.
type Writer interface {
	// Write stores s as the current state. It bumps s.Serial, sets
	// s.Updated and s.FormatVersion, and chooses s.Lineage when s is the
	// first state and has none. It refuses, with ErrLineage, to replace a
	// state of another lineage, and, with ErrStale, one whose serial is
	// newer than s.Serial (someone wrote since s was read). Callers hold
	// the exclusive lock.
	Write(s *State) error
}

// Locker locks the state against other runs of netplan42.
type Locker interface {
	// Lock takes the lock. Every call is a holder of its own: two calls
	// conflict even from one process. A held lock fails at once with a
	// *LockedError, unless ctx has a deadline: then Lock retries until the
	// deadline. unlock releases the lock; calling it again does nothing.
	Lock(ctx context.Context, info LockInfo) (unlock func() error, err error)
}

// Store is a complete state backend.
type Store interface {
	Reader
	Writer
	Locker
}

// BackupReader is implemented by stores that keep the state before the last
// write.
type BackupReader interface {
	// ReadBackup returns the state as it was before the last write, or nil
	// and no error when there is none.
	ReadBackup() (*State, error)
}

// LockInfo says what a lock is for.
type LockInfo struct {
	// Operation names the command: "plan", "apply", "destroy".
	Operation string
	// Exclusive asks for a lock no one else may hold, for commands that
	// change the world or the state. A shared lock, for plan, only keeps
	// exclusive holders out.
	Exclusive bool
}

// Sentinel errors for what callers branch on; match them with errors.Is.
var (
	// ErrLocked: another holder has the lock. The error is a *LockedError.
	ErrLocked = errors.New("state is locked")
	// ErrLineage: the state belongs to another lineage than the one in hand.
	ErrLineage = errors.New("state lineage differs")
	// ErrStale: the state in hand is older than the stored one.
	ErrStale = errors.New("state changed since it was read")
	// ErrWrongComputer: the state belongs to another computer.
	ErrWrongComputer = errors.New("state belongs to another computer")
	// ErrCorrupt: a state or plan file cannot be read back as written.
	ErrCorrupt = errors.New("file is damaged")
)

// Load reads the state from r and checks it belongs to computer (its
// address: computer.nas). It returns nil and no error when there is no
// state yet. Readers that implement fmt.Stringer are named by it in errors.
func Load(r Reader, computer string) (*State, error) {
	s, err := r.Read()
	if err != nil || s == nil {
		return nil, err
	}
	if s.Computer != computer {
		return nil, fmt.Errorf("%s belongs to %s, not %s: pass --state to use another state file: %w",
			describe(r), s.Computer, computer, ErrWrongComputer)
	}
	return s, nil
}

func describe(r any) string {
	if s, ok := r.(fmt.Stringer); ok {
		return s.String()
	}
	return "state"
}

// checkReplace reports, as an error, why s must not replace old; where
// names the store in messages.
func checkReplace(where string, old, s *State) error {
	if old == nil {
		return nil
	}
	if s.Lineage != old.Lineage {
		return fmt.Errorf("write %s: it holds another state (lineage %s of %s, serial %d) than the one in hand (lineage %s); refusing to replace it: move it aside if it is really unwanted: %w",
			where, old.Lineage, old.Computer, old.Serial, orNone(s.Lineage), ErrLineage)
	}
	if s.Serial < old.Serial {
		return fmt.Errorf("write %s: it is at serial %d, newer than serial %d in hand; another netplan42 wrote it meanwhile, re-run: %w",
			where, old.Serial, s.Serial, ErrStale)
	}
	return nil
}

// stamped returns s as it must be stored in place of old: checked, with
// the serial bumped and the write time set. s itself is not changed, so a
// failed write leaves it as it was.
func stamped(where string, old, s *State, now time.Time) (*State, error) {
	if s == nil || s.Computer == "" {
		return nil, fmt.Errorf("write %s: state names no computer", where)
	}
	next := *s
	if next.Lineage == "" && old == nil {
		next.Lineage = newLineage()
	}
	if err := checkReplace(where, old, &next); err != nil {
		return nil, err
	}
	next.FormatVersion = FormatVersion
	next.Serial++
	next.Updated = now.UTC()
	return &next, nil
}

// encodeState returns s as indented JSON.
func encodeState(s *State) ([]byte, error) {
	c := *s
	if c.Resources == nil {
		c.Resources = []planner.Managed{}
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeState parses a state file; where names it in errors.
func decodeState(where string, b []byte) (*State, error) {
	var probe struct {
		FormatVersion json.RawMessage `json:"format_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("read %s: %v: %w; restore the .backup next to it or move it aside", where, err, ErrCorrupt)
	}
	v, ok := parseFormatVersion(probe.FormatVersion)
	switch {
	case !ok:
		return nil, fmt.Errorf("read %s: no format_version: not a netplan42 state file", where)
	case v.newer(current):
		return nil, fmt.Errorf("read %s: format version %s is newer than this netplan42 understands (%s): upgrade netplan42", where, probe.FormatVersion, FormatVersion)
	}
	// 1 (a number) and "1.0" are the same format; migrations from older
	// versions go here.
	var s State
	// The file's format_version, a number or a string, is read by the
	// probe; this field hides State's.
	disk := struct {
		FormatVersion json.RawMessage `json:"format_version"`
		*State
	}{State: &s}
	d := json.NewDecoder(bytes.NewReader(b))
	// Unknown fields come from a newer writer or a hand edit; dropping
	// them on the next write would lose what they record.
	d.DisallowUnknownFields()
	if err := d.Decode(&disk); err != nil {
		return nil, fmt.Errorf("read %s: %v: %w; restore the .backup next to it or move it aside", where, err, ErrCorrupt)
	}
	s.FormatVersion = FormatVersion
	upgrade(&s)
	if s.Lineage == "" || s.Computer == "" {
		return nil, fmt.Errorf("read %s: no lineage or computer: %w; restore the .backup next to it", where, ErrCorrupt)
	}
	return &s, nil
}

// upgrade fills in what files written by older versions of this format
// leave out.
func upgrade(s *State) {
	for i, r := range s.Resources {
		// Before Managed.Undescribed, a mapping made over NAT-PMP was
		// known as undescribed only by its protocol's name.
		if r.Kind == planner.KindMapping && r.Via == "natpmp" {
			s.Resources[i].Undescribed = true
		}
	}
}

// formatVersion is a state format version, MAJOR.MINOR.
type formatVersion struct{ major, minor int }

// current is FormatVersion parsed.
var current = formatVersion{1, 0}

func (v formatVersion) newer(than formatVersion) bool {
	return v.major > than.major || v.major == than.major && v.minor > than.minor
}

// parseFormatVersion reads a state file's format_version: a string
// "MAJOR.MINOR", or a number MAJOR as written before it became a string.
func parseFormatVersion(raw json.RawMessage) (formatVersion, bool) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return formatVersion{n, 0}, n >= 1
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return formatVersion{}, false
	}
	majS, minS, ok := strings.Cut(s, ".")
	maj, err1 := strconv.Atoi(majS)
	min, err2 := strconv.Atoi(minS)
	if !ok || err1 != nil || err2 != nil || maj < 1 || min < 0 {
		return formatVersion{}, false
	}
	return formatVersion{maj, min}, true
}

// Journal saves each Prior it is given into S through W: the state record
// apply keeps up to date after every change it makes.
type Journal struct {
	W Writer
	S *State
}

// Save replaces the state's Prior with p and writes the state.
func (j *Journal) Save(p planner.Prior) error {
	j.S.Prior = p
	return j.W.Write(j.S)
}
