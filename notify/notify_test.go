package notify

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// record is one log record with its attributes (those added with With included) as strings.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// recorder is a slog.Handler that keeps every record, for exact assertions on what was logged.
type recorder struct {
	mu      *sync.Mutex
	records *[]record
	attrs   []slog.Attr
}

func newRecorder() *recorder {
	return &recorder{mu: new(sync.Mutex), records: new([]record)}
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	rec := record{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	h.mu.Unlock()
	return nil
}

func (h *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{mu: h.mu, records: h.records, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recorder) WithGroup(string) slog.Handler { return h }

// find returns the records with this message.
func (h *recorder) find(msg string) []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []record
	for _, r := range *h.records {
		if r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// script writes an executable POSIX shell script to dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// closeRunner closes r, failing the test if the queued hooks don't finish within a generous bound.
func closeRunner(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// waitFile waits until path exists and returns its content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear: %v", path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func event(prio int) Event {
	return Event{
		Instance: "VI_1", Interface: "eth0", State: StateMaster, Previous: StateBackup,
		Reason: "master down timer expired", VRID: 51, Priority: prio, VIPs: []string{"10.0.4.99/24"},
	}
}

func TestOrderPerKey(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hook := script(t, dir, "hook", `printf '%s\n' "$VRRPD_PRIORITY" >> "$1"`)
	r := NewRunner(slog.New(newRecorder()))

	const n = 60 // below the queue length, so nothing is dropped
	var want []string
	for i := 1; i <= n; i++ {
		r.Notify("VI_1", Hooks{Master: []string{hook, out}}, event(i))
		want = append(want, strconv.Itoa(i))
	}
	closeRunner(t, r)
	if diff := cmp.Diff(want, readLines(t, out)); diff != "" {
		t.Errorf("hooks ran out of order (-want +got):\n%s", diff)
	}
}

// An event whose state has no hook, and no Any hook, starts no worker: at start-up every instance
// changes state at once, and most have no hooks. One with only an Any hook still runs it.
func TestNoHookNoWorker(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hook := script(t, dir, "hook", `printf '%s\n' "$VRRPD_STATE" >> "$1"`)
	r := NewRunner(slog.New(newRecorder()))

	r.Notify("VI_1", Hooks{}, event(1))
	r.Notify("VI_2", Hooks{Backup: []string{hook, out}}, event(1)) // MASTER: no hook for it
	r.mu.Lock()
	queued := len(r.queues)
	r.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d queues after events with no hook to run, want 0", queued)
	}
	r.Notify("VI_3", Hooks{Any: []string{hook, out}}, event(1))
	closeRunner(t, r)
	if diff := cmp.Diff([]string{StateMaster}, readLines(t, out)); diff != "" {
		t.Errorf("hooks run (-want +got):\n%s", diff)
	}
}

func TestKeysRunConcurrently(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	slow := script(t, dir, "slow", `: > "$1"; exec sleep 1000`)
	fast := script(t, dir, "fast", `: > "$1"`)
	log := newRecorder()
	r := NewRunner(slog.New(log))

	r.Notify("A", Hooks{Master: []string{slow, filepath.Join(dir, "a-started")}}, event(1))
	waitFile(t, filepath.Join(dir, "a-started"))
	r.Notify("B", Hooks{Master: []string{fast, filepath.Join(dir, "b-done")}}, event(1))
	// B's hook runs although A's never ends.
	waitFile(t, filepath.Join(dir, "b-done"))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want context.DeadlineExceeded", err)
	}
	if got := len(log.find("notify hook killed at shutdown with its process group")); got != 1 {
		t.Errorf("%d hooks killed at shutdown, want 1", got)
	}
}

func TestNotifyNeverBlocks(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	hook := script(t, dir, "hang", `: > "$1"; exec sleep 1000`)
	log := newRecorder()
	r := NewRunner(slog.New(log))
	h := Hooks{Master: []string{hook, filepath.Join(dir, "started")}}

	r.Notify("VI_1", h, event(0))
	waitFile(t, filepath.Join(dir, "started"))
	start := time.Now()
	const n = 1000
	for i := 1; i <= n; i++ {
		r.Notify("VI_1", h, event(i))
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("%d Notify calls behind a hung hook took %v, want them not to wait for it", n, elapsed)
	}
	// The queue holds the newest DefaultQueueLen; every older waiting event was dropped and logged.
	if got, want := len(log.find("notify queue full: dropped the oldest waiting event, its hooks will not run")), n-DefaultQueueLen; got != want {
		t.Errorf("%d drops logged, want %d", got, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want context.DeadlineExceeded", err)
	}
	if got := len(log.find("notify event dropped at shutdown, its hooks will not run")); got != DefaultQueueLen {
		t.Errorf("%d events dropped at shutdown, want %d", got, DefaultQueueLen)
	}
}

func TestQueueFullDropsOldest(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	// The first event's hook waits at the gate (a FIFO opens for reading only when a writer comes).
	hook := script(t, dir, "hook", `
if [ "$VRRPD_PRIORITY" = 0 ]; then : > "$1.started"; read x < "$2"; fi
printf '%s\n' "$VRRPD_PRIORITY" >> "$1"`)
	log := newRecorder()
	r := NewRunner(slog.New(log), WithQueueLen(2))
	h := Hooks{Backup: []string{hook, out, gate}}
	ev := func(prio int) Event { e := event(prio); e.State = StateBackup; return e }

	r.Notify("VI_1", h, ev(0))
	waitFile(t, out+".started")
	for i := 1; i <= 5; i++ {
		r.Notify("VI_1", h, ev(i))
	}
	f, err := os.OpenFile(gate, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	closeRunner(t, r)

	if diff := cmp.Diff([]string{"0", "4", "5"}, readLines(t, out)); diff != "" {
		t.Errorf("hooks run (-want +got):\n%s", diff)
	}
	var dropped []map[string]string
	for _, rec := range log.find("notify queue full: dropped the oldest waiting event, its hooks will not run") {
		dropped = append(dropped, rec.Attrs)
	}
	drop := map[string]string{"instance": "VI_1", "state": "BACKUP", "previous": "BACKUP", "queue_len": "2"}
	if diff := cmp.Diff([]map[string]string{drop, drop, drop}, dropped); diff != "" {
		t.Errorf("drops logged (-want +got):\n%s", diff)
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	// The hook starts a grandchild, records both pids, and hangs.
	hook := script(t, dir, "hook", `
sleep 1000 &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
wait`)
	log := newRecorder()
	r := NewRunner(slog.New(log))
	r.Notify("VI_1", Hooks{Fault: []string{hook, pidFile}, Timeout: 300 * time.Millisecond}, Event{Instance: "VI_1", State: StateFault})
	pids := strings.Fields(waitFile(t, pidFile))
	closeRunner(t, r) // the timeout, not Close, ends the hook

	if len(pids) != 2 {
		t.Fatalf("pid file holds %q, want two pids", pids)
	}
	for _, p := range pids {
		pid, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		labtest.WaitGone(t, pid)
	}
	recs := log.find("notify hook timed out: killed it and its process group")
	want := []record{{Level: slog.LevelError, Msg: "notify hook timed out: killed it and its process group", Attrs: map[string]string{
		"instance": "VI_1", "hook": "fault", "path": hook, "timeout": "300ms", "pid": pids[0],
	}}}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("timeout log (-want +got):\n%s", diff)
	}
}

func TestArguments(t *testing.T) {
	labtest.LeakCheck(t)
	tests := []struct {
		name  string
		group bool
		state string
		hook  string // Event.Hook
		hooks func(s string) Hooks
		want  []string // each hook's arguments, then "--"
	}{
		{
			name: "reassert hook, not any", state: StateMaster, hook: "reassert",
			hooks: func(s string) Hooks {
				return Hooks{Reassert: []string{s, "claim"}, Master: []string{s, "wrong"}, Any: []string{s, "wrong"}}
			},
			want: []string{"claim", "--"},
		},
		{
			name: "priority hook", state: StateBackup, hook: "priority",
			hooks: func(s string) Hooks { return Hooks{Priority: []string{s, "prio"}, Backup: []string{s, "wrong"}} },
			want:  []string{"prio", "--"},
		},
		{
			name: "no priority hook: nothing runs", state: StateBackup, hook: "priority",
			hooks: func(s string) Hooks { return Hooks{Backup: []string{s, "wrong"}, Any: []string{s, "wrong"}} },
			want:  nil,
		},
		{
			name: "master hook only", state: StateMaster,
			hooks: func(s string) Hooks { return Hooks{Master: []string{s, "x", "y z"}, Backup: []string{s, "wrong"}} },
			want:  []string{"x", "y z", "--"},
		},
		{
			name: "backup then any", state: StateBackup,
			hooks: func(s string) Hooks { return Hooks{Backup: []string{s, "b"}, Any: []string{s, "any"}} },
			want:  []string{"b", "--", "any", "INSTANCE", "VI_1", "BACKUP", "90", "--"},
		},
		{
			name: "fault", state: StateFault,
			hooks: func(s string) Hooks { return Hooks{Fault: []string{s, "f"}, Master: []string{s, "wrong"}} },
			want:  []string{"f", "--"},
		},
		{
			name: "stop with any", state: StateStop,
			hooks: func(s string) Hooks { return Hooks{Stop: []string{s}, Any: []string{s}} },
			want:  []string{"--", "INSTANCE", "VI_1", "STOP", "90", "--"},
		},
		{
			name: "any only", state: StateMaster,
			hooks: func(s string) Hooks { return Hooks{Any: []string{s, "--flag"}} },
			want:  []string{"--flag", "INSTANCE", "VI_1", "MASTER", "90", "--"},
		},
		{
			name: "no hook for the state", state: StateFault,
			hooks: func(s string) Hooks { return Hooks{Master: []string{s}} },
			want:  nil,
		},
		{
			name: "group", group: true, state: StateMaster,
			hooks: func(s string) Hooks { return Hooks{Master: []string{s, "gm"}, Any: []string{s}} },
			want:  []string{"gm", "--", "GROUP", "G1", "MASTER", "--"},
		},
		{
			name: "group any only", group: true, state: StateBackup,
			hooks: func(s string) Hooks { return Hooks{Any: []string{s, "g"}} },
			want:  []string{"g", "GROUP", "G1", "BACKUP", "--"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			s := script(t, dir, "hook", `for a in "$@"; do printf '%s\n' "$a"; done >> "$OUT"; echo -- >> "$OUT"`)
			r := NewRunner(slog.New(newRecorder()), WithEnviron([]string{"PATH=" + os.Getenv("PATH"), "OUT=" + out}))
			ev := Event{Hook: tt.hook, Instance: "VI_1", State: tt.state, Previous: StateInit, Priority: 90, Group: "G1"}
			if tt.group {
				r.NotifyGroup(tt.hooks(s), ev)
			} else {
				r.Notify("VI_1", tt.hooks(s), ev)
			}
			closeRunner(t, r)
			var got []string
			if tt.want != nil {
				got = readLines(t, out)
			} else if _, err := os.Stat(out); err == nil {
				got = readLines(t, out)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("arguments (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	labtest.LeakCheck(t)
	tests := []struct {
		name  string
		group bool
		ev    Event
		want  []string
	}{
		{
			name: "instance",
			ev: Event{
				Instance: "VI_1", Interface: "eth0", State: StateMaster, Previous: StateInit,
				Reason: "higher priority 120\nfrom 10.0.4.21\r\n", VRID: 51, Priority: 80,
				VIPs: []string{"10.0.4.99/24", "10.0.4.100/32"},
			},
			want: []string{
				"BASE=kept",
				"VRRPD_INSTANCE=VI_1",
				"VRRPD_INTERFACE=eth0",
				"VRRPD_PREVIOUS_STATE=INIT",
				"VRRPD_PRIORITY=80",
				"VRRPD_REASON=higher priority 120 from 10.0.4.21 ",
				"VRRPD_STATE=MASTER",
				"VRRPD_VIPS=10.0.4.99/24 10.0.4.100/32",
				"VRRPD_VRID=51",
			},
		},
		{
			name: "instance in a group",
			ev: Event{
				Instance: "VI_2", Interface: "eth1", State: StateBackup, Previous: StateMaster,
				Reason: "higher priority 200 from fe80::2", Group: "G1", VRID: 7, Priority: 100,
				VIPs: []string{"2001:db8::1/64"},
			},
			want: []string{
				"BASE=kept",
				"VRRPD_GROUP=G1",
				"VRRPD_INSTANCE=VI_2",
				"VRRPD_INTERFACE=eth1",
				"VRRPD_PREVIOUS_STATE=MASTER",
				"VRRPD_PRIORITY=100",
				"VRRPD_REASON=higher priority 200 from fe80::2",
				"VRRPD_STATE=BACKUP",
				"VRRPD_VIPS=2001:db8::1/64",
				"VRRPD_VRID=7",
			},
		},
		{
			name:  "group hooks",
			group: true,
			ev:    Event{Instance: "VI_2", Interface: "eth1", State: StateFault, Previous: StateBackup, Reason: "interface eth1 down", Group: "G1", VRID: 7, Priority: 100},
			want: []string{
				"BASE=kept",
				"VRRPD_GROUP=G1",
				"VRRPD_INSTANCE=VI_2",
				"VRRPD_INTERFACE=eth1",
				"VRRPD_PREVIOUS_STATE=BACKUP",
				"VRRPD_PRIORITY=100",
				"VRRPD_REASON=interface eth1 down",
				"VRRPD_STATE=FAULT",
				"VRRPD_VIPS=",
				"VRRPD_VRID=7",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "env")
			s := script(t, dir, "hook", `env > "$1"`)
			// A stale VRRPD_ variable in the daemon's own environment must not reach hooks.
			r := NewRunner(slog.New(newRecorder()), WithEnviron([]string{"PATH=" + os.Getenv("PATH"), "BASE=kept", "VRRPD_GROUP=stale"}))
			h := Hooks{Master: []string{s, out}, Backup: []string{s, out}, Fault: []string{s, out}}
			if tt.group {
				r.NotifyGroup(h, tt.ev)
			} else {
				r.Notify(tt.ev.Instance, h, tt.ev)
			}
			closeRunner(t, r)
			var got []string
			for _, kv := range readLines(t, out) {
				// The shell adds a few of its own (PWD, SHLVL, _); keep ours.
				if strings.HasPrefix(kv, "VRRPD_") || strings.HasPrefix(kv, "BASE=") {
					got = append(got, kv)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogging(t *testing.T) {
	labtest.LeakCheck(t)
	tests := []struct {
		name  string
		body  string // script body; "" means the hook path does not exist
		mode  os.FileMode
		group bool
		want  []record
	}{
		{
			name: "output lines",
			body: `echo "first line"; echo "to stderr" >&2; printf 'two\nlines\n'; printf 'no newline'`,
			mode: 0o755,
			want: []record{
				{slog.LevelInfo, "first line", map[string]string{"instance": "VI_1", "hook": "master", "stream": "stdout"}},
				{slog.LevelInfo, "two", map[string]string{"instance": "VI_1", "hook": "master", "stream": "stdout"}},
				{slog.LevelInfo, "lines", map[string]string{"instance": "VI_1", "hook": "master", "stream": "stdout"}},
				{slog.LevelInfo, "no newline", map[string]string{"instance": "VI_1", "hook": "master", "stream": "stdout"}},
				{slog.LevelWarn, "to stderr", map[string]string{"instance": "VI_1", "hook": "master", "stream": "stderr"}},
			},
		},
		{
			name:  "group output",
			body:  `echo "hello"`,
			mode:  0o755,
			group: true,
			want: []record{
				{slog.LevelInfo, "hello", map[string]string{"group": "G1", "hook": "master", "stream": "stdout"}},
			},
		},
		{
			name: "non-zero exit",
			body: `exit 3`,
			mode: 0o755,
			want: []record{{slog.LevelWarn, "notify hook failed", map[string]string{"instance": "VI_1", "hook": "master", "status": "exit status 3"}}},
		},
		{
			name: "missing",
			want: []record{{slog.LevelError, "cannot start notify hook", map[string]string{"instance": "VI_1", "hook": "master"}}},
		},
		{
			name: "not executable",
			body: `exit 0`,
			mode: 0o644,
			want: []record{{slog.LevelError, "cannot start notify hook", map[string]string{"instance": "VI_1", "hook": "master"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "hook")
			if tt.body != "" {
				if err := os.WriteFile(path, []byte("#!/bin/sh\n"+tt.body+"\n"), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			log := newRecorder()
			r := NewRunner(slog.New(log))
			ev := Event{Instance: "VI_1", State: StateMaster, Group: "G1"}
			if tt.group {
				r.NotifyGroup(Hooks{Master: []string{path}}, ev)
			} else {
				r.Notify("VI_1", Hooks{Master: []string{path}}, ev)
			}
			closeRunner(t, r)

			var got []record
			for _, rec := range *log.records {
				if rec.Level < slog.LevelInfo {
					continue
				}
				delete(rec.Attrs, "elapsed")
				if p, ok := rec.Attrs["path"]; ok {
					if p != path {
						t.Errorf("%q logged path %q, want %q", rec.Msg, p, path)
					}
					delete(rec.Attrs, "path")
				}
				if e, ok := rec.Attrs["err"]; ok {
					if !strings.Contains(e, path) {
						t.Errorf("%q: err %q does not name the hook's path", rec.Msg, e)
					}
					delete(rec.Attrs, "err")
				}
				got = append(got, rec)
			}
			// Each stream keeps its order; stdout and stderr are read apart, so order them by stream.
			sort.SliceStable(got, func(i, j int) bool { return got[i].Attrs["stream"] > got[j].Attrs["stream"] })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLongLineSplit(t *testing.T) {
	log := newRecorder()
	l := &lineLogger{log: slog.New(log), level: slog.LevelInfo}
	long := strings.Repeat("a", maxLine+10)
	if _, err := l.Write([]byte("x" + long[:5])); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte(long[5:] + "\r\nend")); err != nil {
		t.Fatal(err)
	}
	l.flush()
	var got []string
	for _, r := range *log.records {
		got = append(got, r.Msg)
	}
	want := []string{"x" + long[:maxLine-1], long[maxLine-1:], "end"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestClose(t *testing.T) {
	t.Run("waits for queued hooks", func(t *testing.T) {
		labtest.LeakCheck(t)
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		hook := script(t, dir, "hook", `sleep 1; printf '%s\n' "$VRRPD_PRIORITY" >> "$1"`)
		r := NewRunner(slog.New(newRecorder()))
		for i := 1; i <= 3; i++ {
			r.Notify("VI_1", Hooks{Master: []string{hook, out}}, event(i))
		}
		closeRunner(t, r)
		if diff := cmp.Diff([]string{"1", "2", "3"}, readLines(t, out)); diff != "" {
			t.Errorf("hooks run before Close returned (-want +got):\n%s", diff)
		}
		// Idempotent.
		closeRunner(t, r)
	})

	t.Run("kills a hung hook at the deadline", func(t *testing.T) {
		labtest.LeakCheck(t)
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pid")
		hang := script(t, dir, "hang", `echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 1000`)
		log := newRecorder()
		r := NewRunner(slog.New(log))
		r.Notify("VI_1", Hooks{Master: []string{hang, pidFile}, Any: []string{hang, pidFile}}, event(1))
		r.Notify("VI_1", Hooks{Master: []string{hang, pidFile}}, event(2))
		pid, err := strconv.Atoi(strings.TrimSpace(waitFile(t, pidFile)))
		if err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("Close took %v after its deadline", elapsed)
		}
		// Close reaped the hook: the pid is gone, not even a zombie.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("hook %d still exists after Close: kill 0 = %v", pid, err)
		}
		for msg, want := range map[string]int{
			"notify hook killed at shutdown with its process group":    1, // master of event 1; its any hook does not run
			"notify event dropped at shutdown, its hooks will not run": 1, // event 2
		} {
			if got := len(log.find(msg)); got != want {
				t.Errorf("%q logged %d times, want %d", msg, got, want)
			}
		}

		// After Close, events are dropped and logged.
		r.Notify("VI_1", Hooks{Master: []string{hang, pidFile}}, event(3))
		recs := log.find("notify event dropped")
		if len(recs) != 1 || recs[0].Attrs["err"] != ErrClosed.Error() {
			t.Errorf("Notify after Close logged %v, want one drop with err %q", recs, ErrClosed)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	})
}

// TestCredential runs hooks as another user (global.script_user) and checks who they ran as.
func TestCredential(t *testing.T) {
	labtest.RequireRoot(t, "running hooks as nobody")
	labtest.LeakCheck(t)
	dir, out := labtest.SharedDir(t), labtest.WritableDir(t)
	// Each hook writes who it runs as to the file named by its first argument.
	hook := script(t, dir, "whoami.sh", `{ id -u; id -g; id -G; } > "$1.tmp" && mv "$1.tmp" "$1"`)
	for _, tc := range []struct {
		name string
		cred *syscall.Credential
		want []string // id -u, id -g, id -G
	}{
		{"the daemon's own user", nil, labtest.SelfIDs()},
		{"nobody", &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}, []string{"65534", "65534", "65534"}},
		{"nobody with more groups", &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 4000000}},
			[]string{"65534", "65534", "65534 4000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRunner(slog.New(newRecorder()))
			defer closeRunner(t, r)
			master, anyHook := filepath.Join(out, tc.name+".master"), filepath.Join(out, tc.name+".any")
			r.Notify("VI_1", Hooks{Master: []string{hook, master}, Any: []string{hook, anyHook}, Credential: tc.cred, Timeout: 10 * time.Second}, event(100))
			for _, p := range []string{master, anyHook} {
				waitFile(t, p)
				if diff := cmp.Diff(tc.want, readLines(t, p)); diff != "" {
					t.Errorf("%s ran as (-want +got):\n%s", filepath.Base(p), diff)
				}
			}
		})
	}
}

// TestCredentialCannotStart checks what is logged when a hook cannot start as its user: here
// nobody may not execute it.
func TestCredentialCannotStart(t *testing.T) {
	labtest.RequireRoot(t, "running hooks as nobody")
	dir := labtest.SharedDir(t)
	hook := filepath.Join(dir, "root-only.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	log := newRecorder()
	r := NewRunner(slog.New(log))
	r.Notify("VI_1", Hooks{Master: []string{hook}, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}, event(100))
	closeRunner(t, r)
	want := []record{{slog.LevelError, "cannot start notify hook", map[string]string{"instance": "VI_1", "hook": "master",
		"uid": "65534", "gid": "65534", "path": hook, "err": "fork/exec " + hook + ": permission denied"}}}
	if diff := cmp.Diff(want, log.find("cannot start notify hook")); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}
