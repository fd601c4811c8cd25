package sitefile

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every [*Error] Parse returns.
var ErrInvalid = errors.New("sitefile: invalid site file")

// FieldError is one problem found in a site file.
type FieldError struct {
	// File is the name given to Parse.
	File string
	// Line and Column are 1-based; 0 when unknown (Column is unknown for
	// YAML syntax errors).
	Line, Column int
	// Field is the path of the field, such as "circuits[1].limit.l1_a",
	// or "" for errors about the file as a whole.
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e FieldError) String() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Error lists every problem found in a site file, sorted by position.
type Error struct {
	Errors []FieldError
}

// Error gives one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }
