package scheduler

import "errors"

// ErrInvalidInput is returned (wrapped, with one error per bad field) when
// [Input.Validate] rejects the input. Match it with errors.Is.
var ErrInvalidInput = errors.New("scheduler: invalid input")
