// Package textout writes output for people and machines: formatted text
// that remembers the first write error, ANSI colour only when asked, and
// indented JSON. The planner, diagnose and the CLI share it so that every
// command looks and fails alike.
package textout

import (
	"encoding/json"
	"fmt"
	"io"
)

// ANSI attributes for Paint.
const (
	Reset  = "\x1b[0m"
	Bold   = "\x1b[1m"
	Red    = "\x1b[31m"
	Green  = "\x1b[32m"
	Yellow = "\x1b[33m"
	Cyan   = "\x1b[36m"
)

// Printer writes formatted text to W. After the first write error it writes
// nothing more and keeps the error in Err, so renderers check once.
type Printer struct {
	W     io.Writer
	Color bool
	Err   error
}

// F writes like fmt.Fprintf.
func (p *Printer) F(format string, a ...any) {
	if p.Err == nil {
		_, p.Err = fmt.Fprintf(p.W, format, a...)
	}
}

// Paint wraps s in the ANSI attribute code when the printer has colour.
func (p *Printer) Paint(code, s string) string {
	return Paint(p.Color, code, s)
}

// Paint wraps s in the ANSI attribute code when color is set.
func Paint(color bool, code, s string) string {
	if !color || s == "" {
		return s
	}
	return code + s + Reset
}

// JSON writes v as indented JSON.
func JSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
