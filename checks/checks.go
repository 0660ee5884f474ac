// Package checks turns the state of the world into priority changes or FAULT: health checks that
// probe a process, a command, a TCP port or an HTTP endpoint (the [[check]] table of SPEC.md), a
// Monitor that runs one on its schedule with rise and fall counts, and the pure arithmetic that
// turns tracker states into an instance's effective priority.
package checks

import (
	"context"
	"errors"
)

// Checker probes once; a nil error means healthy. Check must return soon after ctx is done.
// The error says what is wrong in words an operator understands, without the check's name.
type Checker interface {
	Check(ctx context.Context) error
}

var (
	// ErrCannotStart is wrapped by the error of a probe that could not even run: a missing or
	// non-executable program, an unreadable /proc. A Monitor logs it once rather than every interval.
	ErrCannotStart = errors.New("cannot start check")
	// ErrNoProcess is wrapped by the error of a process check that found no such process.
	ErrNoProcess = errors.New("no process")
	// ErrTimeout is wrapped by the error a Monitor gives a probe that ran past its timeout.
	ErrTimeout = errors.New("timed out")
)
