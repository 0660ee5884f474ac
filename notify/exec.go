package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// outputGrace is how long a finished hook's output is still read while something it started in the
// background keeps stdout or stderr open. After that the pipes are closed and the hook counts as done,
// so a background child cannot hold up the hooks queued behind it.
const outputGrace = time.Second

// maxLine is the longest output line logged as one; a longer one is logged in pieces.
const maxLine = 4096

// sysProcAttr returns the process attributes of a hook: its own process group, so that a timeout
// kills everything the hook started, and the user it runs as, if not the daemon's.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// run runs one hook of h to completion, or until its timeout or the Runner's kill, and logs what
// happened.
func (r *Runner) run(log *slog.Logger, hook string, argv, env []string, h Hooks) {
	log = log.With("hook", hook)
	timeout := h.Timeout
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr(h.Credential)
	cmd.WaitDelay = outputGrace
	stdout := &lineLogger{log: log.With("stream", "stdout"), level: slog.LevelInfo}
	stderr := &lineLogger{log: log.With("stream", "stderr"), level: slog.LevelWarn}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if h.Credential != nil {
			log = log.With("uid", h.Credential.Uid, "gid", h.Credential.Gid)
		}
		log.Error("cannot start notify hook", "path", argv[0], "err", err)
		return
	}
	pid := cmd.Process.Pid
	log.Debug("notify hook started", "path", argv[0], "pid", pid)

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var killedBy string
	select {
	case <-exited(pid):
	case <-expired:
		killedBy = "timeout"
	case <-r.kill.Done():
		killedBy = "shutdown"
	}
	if killedBy != "" {
		// The negative pid addresses the process group the hook leads (Setpgid), so whatever it
		// started dies with it. The hook is not reaped yet, so its pid, the group's id, cannot
		// have been reused.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	err := cmd.Wait()
	stdout.flush()
	stderr.flush()
	elapsed := time.Since(start).Round(time.Millisecond)

	var exitErr *exec.ExitError
	switch {
	case killedBy == "timeout":
		log.Error("notify hook timed out: killed it and its process group", "path", argv[0], "timeout", timeout, "pid", pid)
	case killedBy == "shutdown":
		log.Error("notify hook killed at shutdown with its process group", "path", argv[0], "pid", pid, "elapsed", elapsed)
	case errors.As(err, &exitErr):
		log.Warn("notify hook failed", "path", argv[0], "status", exitErr.ProcessState.String(), "elapsed", elapsed)
	case errors.Is(err, exec.ErrWaitDelay):
		log.Warn("notify hook exited, but a process it left behind holds its output open: stopped reading it",
			"path", argv[0], "elapsed", elapsed)
	case err != nil:
		log.Error("notify hook failed", "path", argv[0], "err", err, "elapsed", elapsed)
	default:
		log.Debug("notify hook done", "path", argv[0], "elapsed", elapsed)
	}
}

// exited returns a channel that is closed when the child pid has exited. It does not reap the child
// (WNOWAIT), so until cmd.Wait does, the pid cannot be reused and killing its process group is safe.
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

// lineLogger logs what is written to it, one record per line. exec.Cmd writes to each one from a
// single goroutine, so it needs no lock.
type lineLogger struct {
	log   *slog.Logger
	level slog.Level
	buf   []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := maxLine - len(l.buf)
		i := bytes.IndexByte(p, '\n')
		switch {
		case i >= 0 && i <= room: // a whole line
			l.buf = append(l.buf, p[:i]...)
			p = p[i+1:]
			l.flush()
		case len(p) < room: // the start of a line
			l.buf = append(l.buf, p...)
			p = nil
		default: // a line too long: log what fits
			l.buf = append(l.buf, p[:room]...)
			p = p[room:]
			l.flush()
		}
	}
	return n, nil
}

// flush logs the buffered partial line, if any.
func (l *lineLogger) flush() {
	if len(l.buf) == 0 {
		return
	}
	l.log.Log(context.Background(), l.level, string(bytes.TrimSuffix(l.buf, []byte("\r"))))
	l.buf = l.buf[:0]
}
