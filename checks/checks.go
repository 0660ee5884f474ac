// Package checks runs health checks: probes of a process, a command, a TCP port, an HTTP endpoint
// or an address that answers ping, and keepalived's track file (the [[check]] table of SPEC.md);
// and Run, which runs any of them on its schedule, a probe with rise and fall counts, and reports
// when its state changes. What a state means for an instance's priority or FAULT is the policy's
// to decide, in package vrrp.
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
