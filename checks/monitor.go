package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Spec says how to run one check.
type Spec struct {
	Name     string        // the check's name, for logs and the why of a report
	Checker  Checker       // the probe
	Interval time.Duration // time from the start of one probe to the start of the next; must be > 0
	Timeout  time.Duration // a probe running longer fails; 0 means Interval
	Rise     int           // consecutive successes that turn the check up; below 1 means 1
	Fall     int           // consecutive failures that turn the check down; below 1 means 1
	// InitFail (keepalived's init_fail) starts the check down, reported before the first probe,
	// so that Rise successes are needed to turn it up. Without it the first result counts at once.
	InitFail bool
	// Reverse (keepalived's "weight W reverse") inverts every probe's outcome before Rise and Fall
	// count it: a failing probe is a success and a passing one a failure. A probe that cannot
	// start (ErrCannotStart) still fails: it says nothing about what the check looks at.
	Reverse bool
}

// Report is a check's state, as Run reports it.
type Report struct {
	Up    bool
	Value int    // a file check: the number the file holds (0 when it is missing); else 0
	Why   string // the state in words, e.g. "check nginx down: exit status 1 (2 failures)"
}

// Run probes s.Checker every s.Interval until ctx is done, and calls report with the check's state
// on its first result and on every change after that, never otherwise. It returns when ctx is done;
// run it in its own goroutine. report is called from Run's goroutine.
//
// The first result sets the state directly, so a daemon can wait for every check's first report
// before it starts its instances, and nothing flaps at start-up; with s.InitFail the check is
// reported down before the first probe instead. After that, Rise consecutive successes turn the
// check up and Fall consecutive failures turn it down.
//
// A file check (File) has no probe and no rise and fall: Run reads the file at once, again
// whenever inotify says something changed in its directory, and every s.Interval in any case,
// and reports each change of the number at once (see File). s.Timeout, Rise and Fall do not
// apply to it.
//
// Each probe gets a context that ends after s.Timeout; a probe still running then counts as failed.
// Probes never overlap. The schedule is fixed-rate: a probe starts s.Interval after the previous one
// started, or at once if that one took longer. A probe that cannot start (ErrCannotStart) fails
// too, and is logged once as an error, not every interval, until a probe starts again.
//
// Run panics if s.Interval is not positive, or if a file check has InitFail or Reverse (keepalived's
// reverse of a track_file works on its weight, which is the policy's); configs rejects InitFail.
func Run(ctx context.Context, s Spec, log *slog.Logger, report func(Report)) {
	if s.Interval <= 0 {
		panic(fmt.Sprintf("checks.Run: check %q: interval %v is not positive", s.Name, s.Interval))
	}
	log = log.With("check", s.Name)
	if f, ok := s.Checker.(*fileChecker); ok {
		if s.InitFail || s.Reverse {
			panic(fmt.Sprintf("checks.Run: check %q: a file check has no init_fail or reverse", s.Name))
		}
		f.run(ctx, s, log, report)
		return
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = s.Interval
	}
	h := hysteresis{name: s.Name, rise: max(s.Rise, 1), fall: max(s.Fall, 1), reverse: s.Reverse}
	if s.InitFail {
		report(h.initFail())
	}
	cannotStart := false // logged already

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := probe(ctx, s.Checker, timeout)
		if ctx.Err() != nil {
			return // the probe was cut short by the end of Run, not by the check
		}
		timer.Reset(time.Until(start.Add(s.Interval)))

		switch {
		case errors.Is(err, ErrCannotStart):
			if !cannotStart {
				log.Error("check cannot run its probe; it counts as failing until it can", "err", err)
				cannotStart = true
			}
		case err != nil:
			cannotStart = false
			log.Debug("check probe failed", "err", err)
		default:
			cannotStart = false
		}
		if r, ok := h.observe(err); ok {
			report(r)
		}
	}
}

// probe runs c once with the timeout. A probe that outlives it fails with ErrTimeout, whatever it
// returned.
func probe(ctx context.Context, c Checker, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := c.Check(pctx)
	if errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
	return err
}

// hysteresis turns probe results into a state with rise and fall counts.
type hysteresis struct {
	name       string
	rise, fall int
	reverse    bool

	known     bool // a first result was seen, or the state was set by init_fail
	up        bool
	successes int // consecutive
	failures  int // consecutive
}

// initFail sets the state down before any probe, and says so.
func (h *hysteresis) initFail() Report {
	h.known, h.up = true, false
	return Report{Why: fmt.Sprintf("check %s has not succeeded yet (init_fail)", h.name)}
}

// observe takes one probe result. ok is true, with the state, for the first result and for every
// change.
func (h *hysteresis) observe(err error) (r Report, ok bool) {
	success := err == nil
	reversed := h.reverse && !errors.Is(err, ErrCannotStart)
	if reversed {
		success = !success
	}
	if success {
		h.successes++
		h.failures = 0
	} else {
		h.failures++
		h.successes = 0
	}
	switch {
	case !h.known:
		h.known, h.up = true, success
	case !h.up && h.successes >= h.rise:
		h.up = true
	case h.up && h.failures >= h.fall:
		h.up = false
	default:
		return Report{}, false
	}
	var state, counted string
	switch {
	case h.up && reversed:
		state = "up: its probe failed, and the check is reversed"
	case h.up:
		state = "up"
	case reversed:
		state = "down: its probe succeeded, and the check is reversed"
	default:
		state = fmt.Sprintf("down: %v", err)
	}
	if h.up {
		counted = count(h.successes, "success", "successes")
	} else {
		counted = count(h.failures, "failure", "failures")
	}
	return Report{Up: h.up, Why: fmt.Sprintf("check %s %s (%s)", h.name, state, counted)}, true
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
