package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"time"

	"github.com/vrrpd/vrrpd/notify/child"
)

// outputGrace is how long a finished hook's output is still read while something it started in the
// background keeps stdout or stderr open. After that the pipes are closed and the hook counts as done,
// so a background child cannot hold up the hooks queued behind it.
const outputGrace = time.Second

// maxLine is the longest output line logged as one, as long as Printable keeps; a longer one is
// logged in pieces.
const maxLine = child.MaxPrintable

// run runs one hook of h to completion, or until its timeout or the Runner's kill, and logs what
// happened.
func (r *Runner) run(log *slog.Logger, hook string, argv, env []string, h Hooks) {
	log = log.With("hook", hook)
	stdout := &lineLogger{log: log.With("stream", "stdout"), level: slog.LevelInfo}
	stderr := &lineLogger{log: log.With("stream", "stderr"), level: slog.LevelWarn}
	start := time.Now()
	p, err := child.Start(argv, child.Options{Env: env, Credential: h.Credential, Stdout: stdout, Stderr: stderr, OutputGrace: outputGrace, Reaper: r.reaper})
	if err != nil {
		if h.Credential != nil {
			log = log.With("uid", h.Credential.Uid, "gid", h.Credential.Gid)
		}
		log.Error("cannot start notify hook", "path", argv[0], "err", err)
		return
	}
	log.Debug("notify hook started", "path", argv[0], "pid", p.Pid)

	ctx := r.kill
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	// A hook is killed with its process group when it times out or the Runner gives up on it,
	// so that whatever it started dies with it; a hook that exits by itself may leave a daemon.
	killed, err := p.Wait(ctx, false)
	stdout.flush()
	stderr.flush()
	elapsed := time.Since(start).Round(time.Millisecond)

	var exitErr *exec.ExitError
	switch {
	case killed && r.kill.Err() != nil:
		log.Error("notify hook killed at shutdown with its process group", "path", argv[0], "pid", p.Pid, "elapsed", elapsed)
	case killed:
		log.Error("notify hook timed out: killed it and its process group", "path", argv[0], "timeout", h.Timeout, "pid", p.Pid)
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
	l.log.Log(context.Background(), l.level, child.Printable(string(bytes.TrimSuffix(l.buf, []byte("\r")))))
	l.buf = l.buf[:0]
}
