package vrrp

import (
	"container/heap"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// timers orders the instances by their machines' deadlines (a min-heap), so that one timer
// serves them all, and finding the next deadline, or the instances due, looks at a few of them
// instead of every one.
type timers []*instance

func (t timers) Len() int           { return len(t) }
func (t timers) Less(i, j int) bool { return earlier(t[i].m.Deadline(), t[j].m.Deadline()) }
func (t timers) Swap(i, j int) {
	t[i], t[j] = t[j], t[i]
	t[i].timer, t[j].timer = i, j
}

func (t *timers) Push(x any) {
	in := x.(*instance)
	in.timer = len(*t)
	*t = append(*t, in)
}

func (t *timers) Pop() any {
	old := *t
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*t = old[:len(old)-1]
	in.timer = -1
	return in
}

// earlier orders deadlines, with the zero deadline (none) last.
func earlier(a, b time.Time) bool {
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.Before(b)
}

// next is the earliest deadline, or zero if no instance has one.
func (t timers) next() time.Time {
	if len(t) == 0 {
		return time.Time{}
	}
	return t[0].m.Deadline()
}

// fix restores the heap after in's deadline changed.
func (t *timers) fix(in *instance) {
	if in.timer >= 0 {
		heap.Fix(t, in.timer)
	}
}

// due calls f for every instance whose deadline has passed. The due ones form a subtree at the
// root: a child is never due before its parent.
func (t timers) due(now time.Time, f func(*instance)) {
	var visit func(i int)
	visit = func(i int) {
		if i >= len(t) {
			return
		}
		if dl := t[i].m.Deadline(); dl.IsZero() || now.Before(dl) {
			return
		}
		f(t[i])
		visit(2*i + 1)
		visit(2*i + 2)
	}
	visit(0)
}

// Clock is the driver's time: what it is now, and an alarm that goes off at a given time. The
// driver reads the time only through it, so a test can step time instead of sleeping.
type Clock interface {
	Now() time.Time
	NewAlarm() (Alarm, error)
}

// Alarm is the driver's one timer, set to the earliest deadline of all its instances.
type Alarm interface {
	// Set makes the alarm go off at at, at once if that has passed, or never if at is zero. It
	// replaces the previous setting.
	Set(at time.Time)
	// C receives when the alarm goes off; one expiry waiting is enough.
	C() <-chan struct{}
	Close() error
}

// SystemClock is the real time, with a timerfd alarm.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) NewAlarm() (Alarm, error) { return newAlarm() }

// alarm is SystemClock's Alarm: a timerfd that the runtime's poller watches, and a goroutine that
// reports its expiries. A runtime timer would do, but the runtime's monitor thread (sysmon) wakes
// whenever the next runtime timer is due, which doubles the context switches of a daemon whose
// work is mostly that timer; and the runtime rounds its poller's timeout to milliseconds, where a
// timerfd keeps nanoseconds.
type alarm struct {
	f    *os.File
	rc   syscall.RawConn
	c    chan struct{}
	done chan struct{} // closed when run returns
}

func newAlarm() (*alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "vrrp alarm") // non-blocking: the runtime's poller watches it
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	a := &alarm{f: f, rc: rc, c: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a, nil
}

func (a *alarm) C() <-chan struct{} { return a.c }

func (a *alarm) Set(at time.Time) {
	var spec unix.ItimerSpec
	if !at.IsZero() {
		spec.Value = unix.NsecToTimespec(max(time.Until(at), 1).Nanoseconds())
	}
	a.rc.Control(func(fd uintptr) {
		// A raw system call, as the sockets' are (see queued). It cannot fail on a valid spec.
		unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	})
}

// run reports the expiries until the alarm is closed.
func (a *alarm) run() {
	defer close(a.done)
	var n uint64
	for {
		err := a.rc.Read(func(fd uintptr) bool {
			_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&n)), 8)
			return errno != unix.EAGAIN
		})
		if err != nil {
			return
		}
		select {
		case a.c <- struct{}{}:
		default:
		}
	}
}

// Close stops the alarm and waits for its goroutine.
func (a *alarm) Close() error {
	err := a.f.Close()
	<-a.done
	return err
}
