package child

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reapEvery is how often a Reaper looks for orphans besides when SIGCHLD says: signals coalesce.
const reapEvery = 10 * time.Second

// Reaper reaps the orphans that vrrpd's children leave behind, for a vrrpd that is PID 1 (a
// container started without an init): a hook that starts something in the background and
// exits hands it to PID 1, and when it exits, nobody else would wait for it, and zombies would
// pile up. It never reaps a child Start started with it: that one's Wait does.
type Reaper struct {
	mu   sync.Mutex   // held while a child of ours starts, and while orphans are reaped
	mine map[int]bool // the children Start started, until their Wait
}

// NewReaper returns a Reaper; Run runs it.
func NewReaper() *Reaper { return &Reaper{mine: map[int]bool{}} }

// Run reaps orphans whenever a child exits, until ctx is done.
func (r *Reaper) Run(ctx context.Context) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	tick := time.NewTicker(reapEvery)
	defer tick.Stop()
	for {
		r.reap()
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-tick.C:
		}
	}
}

// reap waits for every zombie child of this process that Start did not start.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || r.mine[pid] {
			continue
		}
		if zombieOf(pid, self) {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// zombieOf reports whether pid is a zombie whose parent is ppid, from /proc/pid/stat: "pid
// (comm) S ppid ...", where comm may hold anything, spaces and parentheses included.
func zombieOf(pid, ppid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := bytes.Fields(b[i+1:])
	return len(f) >= 2 && string(f[0]) == "Z" && string(f[1]) == strconv.Itoa(ppid)
}

// started records a child as ours, under r.mu, which the caller holds around its start.
func (r *Reaper) started(pid int) {
	if r != nil {
		r.mine[pid] = true
	}
}

func (r *Reaper) lock() {
	if r != nil {
		r.mu.Lock()
	}
}

func (r *Reaper) unlock() {
	if r != nil {
		r.mu.Unlock()
	}
}

// done forgets a child once its Wait has reaped it.
func (r *Reaper) done(pid int) {
	if r != nil {
		r.mu.Lock()
		delete(r.mine, pid)
		r.mu.Unlock()
	}
}
