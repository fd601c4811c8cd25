package site

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors returned by stores and validation; match with errors.Is.
var (
	// ErrNotFound: the resource does not exist.
	ErrNotFound = errors.New("site: not found")
	// ErrAlreadyExists: a resource with that name (or a charger with that
	// OCPP identity) exists already.
	ErrAlreadyExists = errors.New("site: already exists")
	// ErrConflict: the etag (generation) given does not match the stored one,
	// or a concurrent writer won a race; re-read and retry.
	ErrConflict = errors.New("site: generation mismatch")
	// ErrInvalid: the input breaks a rule; the error is a *ValidationError.
	ErrInvalid = errors.New("site: invalid")
	// ErrFailedPrecondition: the change is well formed but the current state
	// forbids it (deleting a circuit that still has children or chargers).
	ErrFailedPrecondition = errors.New("site: failed precondition")
	// ErrUnavailable: the state store cannot be reached; retryable.
	ErrUnavailable = errors.New("site: store unavailable")
)

// FieldViolation is one broken rule on one field.
type FieldViolation struct {
	// Field is a dotted path such as "circuits[2].limit.l1" or
	// "grid_limit.l2", in the API's snake_case.
	Field string
	// Rule says what was expected, in plain words.
	Rule string
}

// ValidationError lists every rule an input breaks. errors.Is(err,
// ErrInvalid) holds for it.
type ValidationError struct {
	Violations []FieldViolation
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("site: invalid: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", v.Field, v.Rule)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Add records a violation.
func (e *ValidationError) Add(field, rule string, args ...any) {
	if len(args) > 0 {
		rule = fmt.Sprintf(rule, args...)
	}
	e.Violations = append(e.Violations, FieldViolation{Field: field, Rule: rule})
}

// Err returns e if it holds a violation, else nil.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Violations) == 0 {
		return nil
	}
	return e
}
