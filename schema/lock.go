package schema

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/netplan42/netplan42/internal/userfile"
)

// LockFileName is the name of the lock file, in the configuration's
// directory. It records the ports handed out for port = "auto" so that
// every computer, and every later plan, agrees on them; it is meant to be
// committed alongside the configuration.
const LockFileName = "netplan42.lock.hcl"

// lockHeader opens every lock file netplan42 writes.
const lockHeader = `# netplan42.lock.hcl: the ports netplan42 handed out for port = "auto".
# Maintained by netplan42 plan; commit it, so that every computer agrees.
# An assignment stays while its service exists; delete one to free its port.
`

// AssignmentKey identifies a service whose port is "auto".
type AssignmentKey struct {
	Network  string
	Computer string // the computer's address: computer.desktop, computer.desk["alice"]
	Service  string
}

// String names the service for messages: computer.desktop service "crashplan".
func (k AssignmentKey) String() string {
	return fmt.Sprintf("%s service %q", k.Computer, k.Service)
}

func (k AssignmentKey) compare(o AssignmentKey) int {
	return cmp.Or(
		strings.Compare(k.Network, o.Network),
		strings.Compare(k.Computer, o.Computer),
		strings.Compare(k.Service, o.Service),
	)
}

// Assignment is a port handed out to a service.
type Assignment struct {
	Key  AssignmentKey
	Port uint16
	// DeclRange is where the lock file records the assignment; zero for
	// one made since it was read.
	DeclRange hcl.Range
}

// Lock is the content of the lock file.
type Lock struct {
	// Assignments are sorted by key, at most one per key.
	Assignments []Assignment
	// File is the parsed lock file, for rendering diagnostics about it;
	// nil when there was none. Its name is File's key in a files map.
	File *hcl.File
	// Filename is the lock file's path; "" when it was not read.
	Filename string
}

// Lookup returns the assignment for k.
func (l *Lock) Lookup(k AssignmentKey) (Assignment, bool) {
	i, ok := slices.BinarySearchFunc(l.Assignments, k, func(a Assignment, k AssignmentKey) int {
		return a.Key.compare(k)
	})
	if !ok {
		return Assignment{}, false
	}
	return l.Assignments[i], true
}

// Bytes returns the lock file's content: sorted, so that the same
// assignments always give the same bytes.
func (l *Lock) Bytes() []byte {
	return lockBytes(l.Assignments)
}

var (
	lockSchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "assignment", LabelNames: []string{"network", "computer", "service"}},
		},
	}
	assignmentSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "port", Required: true}},
	}
)

// ParseLock parses the content of a lock file; filename names it in
// diagnostics.
func ParseLock(src []byte, filename string) (*Lock, hcl.Diagnostics) {
	if lock, ok := parseCanonicalLock(src, filename); ok {
		return lock, nil
	}
	return parseLockHCL(src, filename)
}

// parseLockHCL parses any lock file through HCL, with full diagnostics.
func parseLockHCL(src []byte, filename string) (*Lock, hcl.Diagnostics) {
	lock := &Lock{Filename: filename}
	if diags := conflictMarkers(src, filename); diags.HasErrors() {
		lock.File = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		return lock, diags
	}
	f, diags := parseConfig(src, filename, hcl.InitialPos)
	lock.File = f
	if diags.HasErrors() {
		if f == nil {
			lock.File = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		}
		for _, d := range diags {
			d.Detail += " " + lockFixHint
		}
		return lock, diags
	}
	content, more := f.Body.Content(lockSchema)
	diags = append(diags, more...)
	seen := map[AssignmentKey]hcl.Range{}
	for _, b := range content.Blocks {
		k := AssignmentKey{Network: b.Labels[0], Computer: b.Labels[1], Service: b.Labels[2]}
		switch {
		case !validName(k.Network):
			diags = append(diags, errorAt(b.LabelRanges[0], "Invalid lock file entry",
				"%q is not a network name. Fix the entry, or delete it to have its port assigned anew.", k.Network))
			continue
		case !strings.HasPrefix(k.Computer, "computer.") || len(k.Computer) == len("computer."):
			diags = append(diags, errorAt(b.LabelRanges[1], "Invalid lock file entry",
				"%q is not a computer address like \"computer.nas\". Fix the entry, or delete it to have its port assigned anew.", k.Computer))
			continue
		case !validName(k.Service):
			diags = append(diags, errorAt(b.LabelRanges[2], "Invalid lock file entry",
				"%q is not a service name. Fix the entry, or delete it to have its port assigned anew.", k.Service))
			continue
		}
		if prev, ok := seen[k]; ok {
			diags = append(diags, errorAt(b.DefRange, "Duplicate lock file entry",
				"%s in network %q is already assigned a port at line %d. Delete one of the two entries.",
				k, k.Network, prev.Start.Line))
			continue
		}
		seen[k] = b.DefRange

		body, more := b.Body.Content(assignmentSchema)
		diags = append(diags, more...)
		a := body.Attributes["port"]
		if a == nil {
			continue
		}
		lit, ok := a.Expr.(*hclsyntax.LiteralValueExpr)
		if _, quoted := a.Expr.(*hclsyntax.TemplateExpr); quoted {
			lit, ok = &hclsyntax.LiteralValueExpr{Val: cty.StringVal("")}, true // reported as not a number below
		}
		if !ok {
			diags = append(diags, errorAt(a.Expr.Range(), "Invalid lock file entry",
				"port must be a plain number from 1 to 65535, not an expression: netplan42 writes the lock file and reads only what it writes. Fix the entry, or delete it to have its port assigned anew."))
			continue
		}
		v := lit.Val
		if v.Type() != cty.Number || v.IsNull() {
			diags = append(diags, errorAt(a.Expr.Range(), "Invalid lock file entry",
				"port must be a number from 1 to 65535. Fix the entry, or delete it to have its port assigned anew."))
			continue
		}
		p, err := portFromNumber(v)
		if err != nil {
			diags = append(diags, errorAt(a.Expr.Range(), "Invalid lock file entry",
				"port = %s %s. Fix the entry, or delete it to have its port assigned anew.", numberText(v), err))
			continue
		}
		lock.Assignments = append(lock.Assignments, Assignment{Key: k, Port: p, DeclRange: b.DefRange})
	}
	slices.SortFunc(lock.Assignments, func(a, b Assignment) int { return a.Key.compare(b.Key) })
	return lock, tidy(diags)
}

// lockFixHint ends every diagnostic about a lock file that does not parse.
const lockFixHint = "The lock file is written by netplan42: restore it from git (git checkout -- " + LockFileName + ") or fix this line by hand, then run netplan42 validate. Nothing was changed on the router or the firewall."

// conflictMarkers reports git's merge conflict markers in a lock file, one
// error per conflict, with what to do: a lock file has a block per
// assignment, so keeping both sides is almost always right.
func conflictMarkers(src []byte, filename string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	line, off := 1, 0
	var open *hcl.Range
	for off < len(src) {
		end := len(src)
		if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
			end = off + i
		}
		text := src[off:end]
		rng := hcl.Range{Filename: filename,
			Start: hcl.Pos{Line: line, Column: 1, Byte: off},
			End:   hcl.Pos{Line: line, Column: 1 + min(len(text), 7), Byte: off + min(len(text), 7)}}
		switch {
		case hasMarker(text, "<<<<<<<"):
			open = &rng
		case hasMarker(text, ">>>>>>>") || (open == nil && (hasMarker(text, "=======") || hasMarker(text, "|||||||"))):
			from := rng
			if open != nil {
				from = *open
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unresolved merge conflict in the lock file",
				Detail: fmt.Sprintf("%s holds git's conflict markers (<<<<<<<, =======, >>>>>>>) from line %d to %d: two branches assigned ports at once. "+
					"Resolve it by keeping the assignment blocks of both sides and deleting only the three marker lines, then run netplan42 validate: "+
					"it names any port now given to two computers, and you delete the newer of the two entries so that netplan42 plan assigns it a free port. "+
					"Then git add %s and commit. Nothing was changed on the router or the firewall.",
					filename, from.Start.Line, line, LockFileName),
				Subject: from.Ptr(),
			})
			open = nil
		}
		off = end + 1
		line++
	}
	if open != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unresolved merge conflict in the lock file",
			Detail:   fmt.Sprintf("%s holds a git conflict marker <<<<<<< at line %d without its end: resolve the merge (keep the assignment blocks of both sides, delete the marker lines), then run netplan42 validate.", filename, open.Start.Line),
			Subject:  open.Ptr(),
		})
	}
	return diags
}

// hasMarker reports whether a line starts with a git conflict marker: the
// seven characters alone or followed by a space.
func hasMarker(line []byte, marker string) bool {
	return bytes.HasPrefix(line, []byte(marker)) && (len(line) == len(marker) || line[len(marker)] == ' ' || line[len(marker)] == '\r')
}

// ReadLock reads the lock file in dir. A missing lock file is an empty lock.
func ReadLock(dir string) (*Lock, hcl.Diagnostics) {
	name := filepath.Join(dir, LockFileName)
	src, err := userfile.Read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &Lock{Filename: name}, nil
	}
	if err != nil {
		return &Lock{Filename: name}, hcl.Diagnostics{fileError("Cannot read lock file", name, err,
			"netplan42 keeps the ports it handed out in this file; it must be a plain file of at most 64 MiB. Restore it from git (git checkout -- "+LockFileName+"), or remove whatever stands in its place to start a new one.")}
	}
	return ParseLock(src, name)
}

// WriteLock writes lock to the lock file in dir, atomically: a reader sees
// the old file or the new one, never a torn one, even across a crash.
func WriteLock(dir string, lock *Lock) (err error) {
	name := filepath.Join(dir, LockFileName)
	f, err := os.CreateTemp(dir, "."+LockFileName+".*")
	if err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write lock file %s: %w", name, err)
	}
	if _, err := f.Write(lock.Bytes()); err != nil {
		return fmt.Errorf("write lock file %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write lock file %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write lock file %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("write lock file %s: %w", name, err)
	}
	// Make the rename itself durable. Some systems cannot sync a
	// directory; the file is in place regardless, so that is no error.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
