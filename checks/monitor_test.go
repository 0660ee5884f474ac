package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// step is one probe of a fakeChecker.
type step func(ctx context.Context) error

var (
	pass step = func(context.Context) error { return nil }
	fail step = func(context.Context) error { return errors.New("backend down") }
	// hang returns only when its probe's context ends.
	hang step = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	// broken cannot start.
	broken step = func(context.Context) error {
		return fmt.Errorf("%w: fork/exec /nonexistent: no such file", ErrCannotStart)
	}
)

// fakeChecker runs its steps in order, one per probe. After the last it ends the Monitor's
// context, so Run returns having seen exactly the steps.
type fakeChecker struct {
	steps  []step
	stop   context.CancelFunc
	n      int
	active atomic.Int32 // probes running now
	most   atomic.Int32 // the most probes ever running at once
	starts []time.Time
}

func (f *fakeChecker) Check(ctx context.Context) error {
	if n := f.active.Add(1); n > f.most.Load() {
		f.most.Store(n)
	}
	defer f.active.Add(-1)
	f.starts = append(f.starts, time.Now())
	if f.n == len(f.steps) {
		f.stop()
		<-ctx.Done()
		return ctx.Err()
	}
	f.n++
	return f.steps[f.n-1](ctx)
}

// run runs a Monitor over steps and returns its reports and the number of error log lines.
func run(t *testing.T, s Spec, steps ...step) (*fakeChecker, []Report, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeChecker{steps: steps, stop: cancel}
	s.Checker = f
	log := &countHandler{}
	var reports []Report
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, s, slog.New(log), func(r Report) { reports = append(reports, r) })
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if f.n != len(steps) {
		t.Fatalf("Run returned after %d probes, want %d", f.n, len(steps))
	}
	return f, reports, log.errors()
}

// countHandler counts error records.
type countHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
func (h *countHandler) errors() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func TestMonitorRiseFall(t *testing.T) {
	labtest.LeakCheck(t)
	const (
		up1   = "check web up (1 success)"
		down1 = "check web down: backend down (1 failure)"
	)
	tests := []struct {
		name       string
		rise, fall int
		steps      []step
		want       []Report
	}{
		{
			name: "first result up, reported once", rise: 3, fall: 3,
			steps: []step{pass, pass, pass, pass},
			want:  []Report{{Up: true, Why: up1}},
		},
		{
			name: "first result down, set at once despite fall", rise: 3, fall: 3,
			steps: []step{fail, fail},
			want:  []Report{{Why: down1}},
		},
		{
			name: "rise 2 fall 2", rise: 2, fall: 2,
			steps: []step{pass, fail, pass, fail, fail, fail, pass, fail, pass, pass, pass},
			want: []Report{
				{Up: true, Why: up1},
				{Why: "check web down: backend down (2 failures)"},
				{Up: true, Why: "check web up (2 successes)"},
			},
		},
		{
			name: "rise 1 fall 1 reports every change", rise: 1, fall: 1,
			steps: []step{fail, pass, pass, fail, pass},
			want:  []Report{{Why: down1}, {Up: true, Why: up1}, {Why: down1}, {Up: true, Why: up1}},
		},
		{
			name: "fall 3 from up", rise: 1, fall: 3,
			steps: []step{pass, fail, fail, pass, fail, fail, fail, fail},
			want:  []Report{{Up: true, Why: up1}, {Why: "check web down: backend down (3 failures)"}},
		},
		{
			name: "rise 3 from down", rise: 3, fall: 1,
			steps: []step{fail, pass, pass, fail, pass, pass, pass},
			want:  []Report{{Why: down1}, {Up: true, Why: "check web up (3 successes)"}},
		},
		{
			name: "zero rise and fall mean 1", rise: 0, fall: 0,
			steps: []step{pass, fail, pass},
			want:  []Report{{Up: true, Why: up1}, {Why: down1}, {Up: true, Why: up1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, _ := run(t, Spec{Name: "web", Interval: time.Millisecond, Rise: tt.rise, Fall: tt.fall}, tt.steps...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMonitorInitFailReverse checks keepalived's init_fail and "weight W reverse" on a probe.
func TestMonitorInitFailReverse(t *testing.T) {
	labtest.LeakCheck(t)
	const (
		initFail   = "check web has not succeeded yet (init_fail)"
		revUp1     = "check web up: its probe failed, and the check is reversed (1 success)"
		revDown1   = "check web down: its probe succeeded, and the check is reversed (1 failure)"
		cannotRun1 = "check web down: cannot start check: fork/exec /nonexistent: no such file (1 failure)"
	)
	tests := []struct {
		name              string
		rise, fall        int
		initFail, reverse bool
		steps             []step
		want              []Report
	}{
		{
			name: "init_fail: down before any probe", rise: 2, initFail: true,
			steps: nil,
			want:  []Report{{Why: initFail}},
		},
		{
			name: "init_fail: rise successes turn it up", rise: 2, initFail: true,
			steps: []step{pass, pass, pass},
			want:  []Report{{Why: initFail}, {Up: true, Why: "check web up (2 successes)"}},
		},
		{
			name: "init_fail: failures keep it down without a report", rise: 2, fall: 2, initFail: true,
			steps: []step{fail, pass, fail, fail, pass, pass, fail},
			want:  []Report{{Why: initFail}, {Up: true, Why: "check web up (2 successes)"}},
		},
		{
			name: "init_fail with rise 1", rise: 1, initFail: true,
			steps: []step{pass, fail},
			want:  []Report{{Why: initFail}, {Up: true, Why: "check web up (1 success)"}, {Why: "check web down: backend down (1 failure)"}},
		},
		{
			name: "reverse: a failing probe is up, a passing one down", rise: 1, fall: 1, reverse: true,
			steps: []step{fail, fail, pass, fail},
			want:  []Report{{Up: true, Why: revUp1}, {Why: revDown1}, {Up: true, Why: revUp1}},
		},
		{
			name: "reverse: counted by rise and fall after the first result", rise: 2, fall: 2, reverse: true,
			steps: []step{pass, pass, fail, pass, fail, fail, pass, pass},
			want: []Report{
				{Why: revDown1},
				{Up: true, Why: "check web up: its probe failed, and the check is reversed (2 successes)"},
				{Why: "check web down: its probe succeeded, and the check is reversed (2 failures)"},
			},
		},
		{
			name: "reverse: a probe that cannot start still fails", rise: 1, fall: 1, reverse: true,
			steps: []step{broken, fail, broken},
			want:  []Report{{Why: cannotRun1}, {Up: true, Why: revUp1}, {Why: cannotRun1}},
		},
		{
			name: "init_fail and reverse", rise: 2, initFail: true, reverse: true,
			steps: []step{pass, fail, pass, fail, fail},
			want:  []Report{{Why: initFail}, {Up: true, Why: "check web up: its probe failed, and the check is reversed (2 successes)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Name: "web", Interval: time.Millisecond, Rise: tt.rise, Fall: tt.fall, InitFail: tt.initFail, Reverse: tt.reverse}
			_, got, _ := run(t, s, tt.steps...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMonitorTimeoutFails(t *testing.T) {
	labtest.LeakCheck(t)
	_, got, _ := run(t, Spec{Name: "slow", Interval: time.Millisecond, Timeout: 20 * time.Millisecond, Fall: 2},
		pass, hang, pass, hang, hang)
	want := []Report{
		{Up: true, Why: "check slow up (1 success)"},
		{Why: "check slow down: timed out after 20ms (2 failures)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

func TestMonitorCannotStartLoggedOnce(t *testing.T) {
	labtest.LeakCheck(t)
	_, got, errs := run(t, Spec{Name: "x", Interval: time.Millisecond},
		broken, broken, broken, broken, pass, broken, broken, fail, broken)
	want := []Report{
		{Why: "check x down: cannot start check: fork/exec /nonexistent: no such file (1 failure)"},
		{Up: true, Why: "check x up (1 success)"},
		{Why: "check x down: cannot start check: fork/exec /nonexistent: no such file (1 failure)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	// Once for the first run of broken probes, once for the second, once for the third.
	if errs != 3 {
		t.Errorf("%d error lines logged, want 3: one per run of probes that cannot start", errs)
	}
}

func TestMonitorSchedule(t *testing.T) {
	labtest.LeakCheck(t)
	const interval = 200 * time.Millisecond
	slow := func(context.Context) error { time.Sleep(150 * time.Millisecond); return nil }
	f, _, _ := run(t, Spec{Name: "s", Interval: interval, Timeout: time.Second}, slow, slow, slow)
	if m := f.most.Load(); m != 1 {
		t.Errorf("%d probes ran at once, want 1", m)
	}
	// Fixed rate: probes start an interval apart, the probe's own time included. A fixed delay
	// would put them 350ms apart; the bound leaves room for a slow machine.
	for i := 1; i < len(f.starts); i++ {
		gap := f.starts[i].Sub(f.starts[i-1])
		if gap < interval-5*time.Millisecond || gap > interval+120*time.Millisecond {
			t.Errorf("probe %d started %v after the one before, want about %v", i, gap, interval)
		}
	}

	// A probe longer than the interval: the next one starts at once, but never overlaps.
	long := func(context.Context) error { time.Sleep(30 * time.Millisecond); return nil }
	f, _, _ = run(t, Spec{Name: "l", Interval: 10 * time.Millisecond, Timeout: time.Second}, long, long, long)
	if m := f.most.Load(); m != 1 {
		t.Errorf("%d probes ran at once, want 1", m)
	}
}

func TestMonitorStops(t *testing.T) {
	labtest.LeakCheck(t)
	// A probe cut short by the end of Run is not reported: it says nothing about the check.
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var reports []Report
	done := make(chan struct{})
	c := checkerFunc(func(ctx context.Context) error { close(started); <-ctx.Done(); return ctx.Err() })
	go func() {
		defer close(done)
		Run(ctx, Spec{Name: "h", Checker: c, Interval: time.Hour}, slog.New(&countHandler{}),
			func(r Report) { reports = append(reports, r) })
	}()
	<-started
	cancel()
	<-done
	if len(reports) != 0 {
		t.Errorf("reports after cancel: %v, want none", reports)
	}
}

type checkerFunc func(ctx context.Context) error

func (f checkerFunc) Check(ctx context.Context) error { return f(ctx) }
