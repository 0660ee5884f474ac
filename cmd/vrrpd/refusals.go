package main

import (
	"log/slog"
	"maps"
	"sync"
	"time"
)

// refusalLogEvery limits how often one reason a door refuses is logged: refusals are always
// counted, but whoever floods a door must not flood the log.
const refusalLogEvery = 10 * time.Second

// refusals counts what one door (the control socket, the metrics server) refused, by reason,
// for `vrrpd status` and metrics, and logs each reason at most once per refusalLogEvery.
type refusals struct {
	log  *slog.Logger
	door string // "control" or "metrics": the label of vrrpd_refused_total

	mu     sync.Mutex
	counts map[string]uint64
	logged map[string]time.Time
}

func newRefusals(log *slog.Logger, door string) *refusals {
	return &refusals{log: log, door: door, counts: map[string]uint64{}, logged: map[string]time.Time{}}
}

// refuse counts one refusal for reason, and logs it with attrs unless reason was logged lately.
func (r *refusals) refuse(reason, msg string, attrs ...any) {
	r.mu.Lock()
	r.counts[reason]++
	n, now := r.counts[reason], time.Now()
	log := now.Sub(r.logged[reason]) >= refusalLogEvery
	if log {
		r.logged[reason] = now
	}
	r.mu.Unlock()
	if log {
		r.log.Warn(r.door+": "+msg, append(attrs, "reason", reason, "refused_so_far", n)...)
	}
}

// counted returns the counts by reason.
func (r *refusals) counted() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}
