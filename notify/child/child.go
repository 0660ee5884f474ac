// Package child runs the programs vrrpd starts, its notify hooks and its exec and script checks,
// so that none of them can outlive what they were started for. Each runs in a process group of
// its own, which is killed with SIGKILL when it must stop, so that whatever it started goes with
// it. It lives under notify, but it is not notify's: package checks uses it too.
package child

import (
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options say how to start a program.
type Options struct {
	Env        []string            // its environment; nil: the daemon's own
	Credential *syscall.Credential // the user it runs as; nil: the daemon's own
	Stdout     io.Writer           // nil: discarded
	Stderr     io.Writer           // nil: discarded
	// OutputGrace bounds how long its output is still read after it exits, while something it
	// started in the background holds stdout or stderr open. 0 means no bound.
	OutputGrace time.Duration
	// Reaper, where the daemon is PID 1, reaps orphans; it must know the children it must not
	// reap. nil: no reaper.
	Reaper *Reaper
}

// Process is a started program.
type Process struct {
	cmd    *exec.Cmd
	Pid    int // its pid, which is also its process group's id
	reaper *Reaper
}

// Start starts argv (argv[0] is the path of the program; no shell, no $PATH search) in a process
// group of its own. Its environment never holds NOTIFY_SOCKET: systemd's readiness socket is
// the daemon's, and a child that wrote to it would speak for vrrpd.
func Start(argv []string, o Options) (*Process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "NOTIFY_SOCKET=") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: o.Credential}
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	cmd.WaitDelay = o.OutputGrace
	o.Reaper.lock() // so that the reaper cannot take the child before it is known as ours
	defer o.Reaper.unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	o.Reaper.started(cmd.Process.Pid)
	return &Process{cmd: cmd, Pid: cmd.Process.Pid, reaper: o.Reaper}, nil
}

// Wait waits until the program exits or ctx is done. If ctx ended it, its whole process group
// is killed; with group, the group is also killed after the program exits by itself, so that
// nothing it started in the background is left. Then the program is reaped. killed says whether
// ctx ended it; err is exec.Cmd.Wait's (an *exec.ExitError for a status other than 0, or
// exec.ErrWaitDelay if its output was held open past OutputGrace).
func (p *Process) Wait(ctx context.Context, group bool) (killed bool, err error) {
	select {
	case <-exited(p.Pid):
	case <-ctx.Done():
		killed = true
	}
	if killed || group {
		// The negative pid addresses the process group the program leads. The program is not
		// reaped yet, so its pid, the group's id, cannot have been reused by anything else.
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	err = p.cmd.Wait()
	p.reaper.done(p.Pid)
	return killed, err
}

// exited returns a channel that is closed when the child pid has exited. It does not reap the child
// (WNOWAIT), so until Wait does, the pid cannot be reused and killing its process group is safe.
func exited(pid int) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		defer close(c)
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
	}()
	return c
}
