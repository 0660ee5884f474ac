// Package notify runs the hooks an operator configures for state changes (SPEC.md, "Notify hooks").
//
// A Runner never blocks its caller: Notify only queues the event. Each key (an instance, or a sync
// group) has its own bounded queue, drained in order by at most one worker goroutine, which is started
// when an event arrives and exits when the queue is empty, so idle instances cost nothing. Different
// keys run concurrently, so a slow hook on one instance cannot delay another's.
//
// Every hook runs without a shell, in its own process group, with a time limit. When the limit is
// reached the whole group (the hook and anything it started) is killed with SIGKILL. The hook's
// stdout and stderr are logged line by line.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/notify/child"
)

// ErrClosed is the error logged, as "err", for an event that arrives after Close: it is dropped.
var ErrClosed = errors.New("notify: runner closed")

// State names, as hooks see them in VRRPD_STATE and VRRPD_PREVIOUS_STATE.
const (
	StateMaster = "MASTER"
	StateBackup = "BACKUP"
	StateFault  = "FAULT"
	StateStop   = "STOP"
	StateInit   = "INIT" // only as Previous, for the first change after start-up
)

// DefaultQueueLen is how many events a key may have waiting before the oldest is dropped.
const DefaultQueueLen = 64

// Hooks is one instance's (or sync group's) hooks. Each is an argv run without a shell; argv[0] should
// be an absolute path. A nil or empty hook is not run.
type Hooks struct {
	Master []string // on becoming MASTER
	Backup []string // on becoming BACKUP
	Fault  []string // on entering FAULT
	Stop   []string // when the instance stops
	// Any runs after the state's own hook on every change, with keepalived's generic notify
	// arguments appended: INSTANCE <name> <state> <priority> for an instance, GROUP <name> <state>
	// for a sync group.
	Any []string
	// Reassert runs while master, after another master was heard and answered (a healed split
	// brain): where announcing is not enough, as on a cloud, it re-claims the address.
	// keepalived's notify_master_rx_lower_pri.
	Reassert []string
	// Priority runs when the effective priority changes; VRRPD_PRIORITY is the new one.
	Priority []string
	// Timeout limits each hook's run; a hook still running then is killed with its process group.
	// Zero or negative means no limit, which only Close can end.
	Timeout time.Duration
	// Credential is the user the hooks run as (global.script_user): its uid, gid and supplementary
	// groups, set in the child before exec. nil runs them as the daemon's own user. Switching needs
	// root, or CAP_SETUID and CAP_SETGID; a hook that cannot switch fails to start, and that is
	// logged. The environment is the Runner's either way: HOME, USER and the rest stay the
	// daemon's, so a hook should not rely on them.
	Credential *syscall.Credential
}

// Event is one state change.
type Event struct {
	// Hook is the hook the event is for: "reassert" or "priority"; "" for a state change, which
	// runs the state's hook and then Any.
	Hook      string
	Instance  string   // the instance's name
	Interface string   // its interface
	State     string   // the new state: MASTER, BACKUP, FAULT or STOP
	Previous  string   // the state before: one of the above, or INIT at start-up
	Reason    string   // why, in words an operator understands; made printable, on one line
	Group     string   // the instance's sync group, "" if none
	VRID      int      // the virtual router ID
	Priority  int      // the effective priority
	VIPs      []string // the virtual addresses, e.g. "10.0.4.99/24"
}

// Option configures a Runner.
type Option func(*options)

type options struct {
	queueLen int
	environ  []string
	reaper   *child.Reaper
}

// WithReaper tells the Runner the daemon's reaper (when it is PID 1), so that it does not reap the
// hooks' own processes.
func WithReaper(r *child.Reaper) Option {
	return func(o *options) { o.reaper = r }
}

// WithQueueLen sets how many events may wait per key before the oldest is dropped (default
// DefaultQueueLen). Values below 1 mean 1.
func WithQueueLen(n int) Option {
	return func(o *options) { o.queueLen = max(n, 1) }
}

// WithEnviron sets the environment hooks inherit, in os.Environ's form, instead of the daemon's own.
// The VRRPD_* variables are always set by the Runner, whatever the base environment holds.
func WithEnviron(env []string) Option {
	return func(o *options) { o.environ = slices.Clone(env) }
}

// Runner runs hooks asynchronously, in order per key. Its methods are safe for concurrent use.
type Runner struct {
	log      *slog.Logger
	queueLen int
	environ  []string // the base environment, VRRPD_* removed
	reaper   *child.Reaper

	// kill is cancelled when Close gives up waiting: running hooks are killed and queued ones dropped.
	kill       context.Context
	cancelKill context.CancelFunc

	mu      sync.Mutex
	closed  bool
	queues  map[queueKey]*queue // only keys with a worker; removed when it exits
	workers sync.WaitGroup
}

// queueKey names a queue. Instances and groups are kept apart, so an instance named like a group
// cannot share its queue.
type queueKey struct {
	group bool
	name  string
}

// queue is one key's waiting jobs. It exists exactly while its worker goroutine runs.
type queue struct {
	jobs []job
}

// job is one event with the hooks to run for it.
type job struct {
	key   queueKey
	hooks Hooks
	ev    Event
}

// NewRunner returns a Runner that logs to log.
func NewRunner(log *slog.Logger, opts ...Option) *Runner {
	o := options{queueLen: DefaultQueueLen}
	for _, opt := range opts {
		opt(&o)
	}
	if o.environ == nil {
		o.environ = os.Environ()
	}
	kill, cancel := context.WithCancel(context.Background())
	return &Runner{
		log:        log,
		queueLen:   o.queueLen,
		reaper:     o.reaper,
		environ:    slices.DeleteFunc(o.environ, func(kv string) bool { return strings.HasPrefix(kv, "VRRPD_") }),
		kill:       kill,
		cancelKill: cancel,
		queues:     make(map[queueKey]*queue),
	}
}

// Notify queues the hooks of one instance for ev and returns at once; it never blocks. key is the
// instance's name: events with the same key run one after another, in the order they were queued.
// For ev.State the state's own hook runs first, then Any with INSTANCE <name> <state> <priority>
// appended, as keepalived's notify does.
func (r *Runner) Notify(key string, h Hooks, ev Event) {
	r.enqueue(job{key: queueKey{name: key}, hooks: h, ev: ev})
}

// NotifyGroup queues the hooks of the sync group ev.Group for ev, like Notify; the group's events run
// in order among themselves, apart from any instance's. Any gets GROUP <name> <state> appended, as
// keepalived's sync group notify does. ev.Instance may name the member that caused the change.
func (r *Runner) NotifyGroup(h Hooks, ev Event) {
	r.enqueue(job{key: queueKey{group: true, name: ev.Group}, hooks: h, ev: ev})
}

func (r *Runner) enqueue(j job) {
	// An event with no hook to run queues nothing and starts no worker: most instances have no
	// hooks, and at start-up hundreds of them change state at once.
	if _, argv := j.hooks.forEvent(j.ev); len(argv) == 0 && (j.ev.Hook != "" || len(j.hooks.Any) == 0) {
		return
	}
	// The caller may reuse its slices once we return.
	j.hooks.Master = slices.Clone(j.hooks.Master)
	j.hooks.Backup = slices.Clone(j.hooks.Backup)
	j.hooks.Fault = slices.Clone(j.hooks.Fault)
	j.hooks.Stop = slices.Clone(j.hooks.Stop)
	j.hooks.Any = slices.Clone(j.hooks.Any)
	j.hooks.Reassert, j.hooks.Priority = slices.Clone(j.hooks.Reassert), slices.Clone(j.hooks.Priority)
	if c := j.hooks.Credential; c != nil {
		j.hooks.Credential = &syscall.Credential{Uid: c.Uid, Gid: c.Gid, Groups: slices.Clone(c.Groups), NoSetGroups: c.NoSetGroups}
	}
	j.ev.VIPs = slices.Clone(j.ev.VIPs)

	var dropped *job
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.logger(j).Warn("notify event dropped", "state", j.ev.State, "previous", j.ev.Previous, "err", ErrClosed)
		return
	}
	q := r.queues[j.key]
	if q == nil {
		q = &queue{}
		r.queues[j.key] = q
		r.workers.Add(1)
		go r.work(j.key, q)
	}
	if len(q.jobs) >= r.queueLen {
		d := q.jobs[0]
		dropped = &d
		q.jobs = slices.Delete(q.jobs, 0, 1)
	}
	q.jobs = append(q.jobs, j)
	r.mu.Unlock()

	if dropped != nil {
		r.logger(*dropped).Warn("notify queue full: dropped the oldest waiting event, its hooks will not run",
			"state", dropped.ev.State, "previous", dropped.ev.Previous, "queue_len", r.queueLen)
	}
}

// work runs q's jobs in order and exits when q is empty, removing it.
func (r *Runner) work(key queueKey, q *queue) {
	defer r.workers.Done()
	for {
		r.mu.Lock()
		if len(q.jobs) == 0 {
			delete(r.queues, key)
			r.mu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs[0] = job{}
		q.jobs = q.jobs[1:]
		r.mu.Unlock()

		if r.kill.Err() != nil {
			r.logger(j).Warn("notify event dropped at shutdown, its hooks will not run",
				"state", j.ev.State, "previous", j.ev.Previous)
			continue
		}
		r.runJob(j)
	}
}

// runJob runs the event's hook: a state's own, then Any; or the reassert or priority hook.
func (r *Runner) runJob(j job) {
	log := r.logger(j)
	name, argv := j.hooks.forEvent(j.ev)
	if name == "" {
		log.Warn("notify event has an unknown state: only the any hook runs", "state", j.ev.State)
	}
	env := r.env(j.ev)
	if len(argv) > 0 {
		r.run(log, name, argv, env, j.hooks)
	}
	if j.ev.Hook == "" && len(j.hooks.Any) > 0 && r.kill.Err() == nil {
		r.run(log, "any", anyArgs(j), env, j.hooks)
	}
}

// forEvent names the hook an event runs first and returns its argv.
func (h Hooks) forEvent(ev Event) (name string, argv []string) {
	switch ev.Hook {
	case "reassert":
		return "reassert", h.Reassert
	case "priority":
		return "priority", h.Priority
	}
	return h.forState(ev.State)
}

// forState names the hook for a state and returns its argv; "" and nil for an unknown state.
func (h Hooks) forState(state string) (name string, argv []string) {
	switch state {
	case StateMaster:
		return "master", h.Master
	case StateBackup:
		return "backup", h.Backup
	case StateFault:
		return "fault", h.Fault
	case StateStop:
		return "stop", h.Stop
	}
	return "", nil
}

// anyArgs is the Any hook's argv with keepalived's generic notify arguments appended.
func anyArgs(j job) []string {
	argv := slices.Clip(j.hooks.Any)
	if j.key.group {
		return append(argv, "GROUP", j.ev.Group, j.ev.State)
	}
	return append(argv, "INSTANCE", j.ev.Instance, j.ev.State, strconv.Itoa(j.ev.Priority))
}

// env is a hook's environment: the base environment plus the event's VRRPD_* variables.
func (r *Runner) env(ev Event) []string {
	env := slices.Grow(slices.Clip(r.environ), 9)
	env = append(env,
		"VRRPD_INSTANCE="+ev.Instance,
		"VRRPD_STATE="+ev.State,
		"VRRPD_PREVIOUS_STATE="+ev.Previous,
		"VRRPD_PRIORITY="+strconv.Itoa(ev.Priority),
		"VRRPD_VRID="+strconv.Itoa(ev.VRID),
		"VRRPD_INTERFACE="+ev.Interface,
		"VRRPD_VIPS="+strings.Join(ev.VIPs, " "),
		"VRRPD_REASON="+child.Printable(ev.Reason),
	)
	if ev.Group != "" {
		env = append(env, "VRRPD_GROUP="+ev.Group)
	}
	return env
}

// logger tags log lines with the key: the instance, or the sync group.
func (r *Runner) logger(j job) *slog.Logger {
	if j.key.group {
		return r.log.With("group", j.key.name)
	}
	return r.log.With("instance", j.key.name)
}

// Close stops accepting events and lets the queued hooks run until ctx is done. Then it kills the
// hooks still running (with their process groups), drops the events still waiting, and returns
// ctx's error once every worker has exited. It returns nil if everything ran. Close may be called
// more than once, and concurrently.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		r.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	r.cancelKill()
	<-done
	return fmt.Errorf("notify: hooks still running or queued were killed or dropped: %w", ctx.Err())
}
