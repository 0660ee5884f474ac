package main

import (
	"log/slog"
	"maps"
	"net"
	"slices"
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

// connLimit holds a door's open connections, oldest first, at most max of them. One more takes
// the oldest out for the door to close: whoever holds a connection open is the one cut off,
// never the next to ask, since a real request is answered in milliseconds.
type connLimit struct {
	max  int
	mu   sync.Mutex
	list []net.Conn
}

// add adds c, and returns the oldest connection, taken out, if there were max already.
func (l *connLimit) add(c net.Conn) (oldest net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) >= l.max {
		oldest = l.list[0]
		l.list = slices.Delete(l.list, 0, 1)
	}
	l.list = append(l.list, c)
	return oldest
}

// remove takes c out, unless add already did.
func (l *connLimit) remove(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.list, c); i >= 0 {
		l.list = slices.Delete(l.list, i, i+1)
	}
}
