package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/notify/child"
)

// outputGrace bounds how long a finished command's output is still read. Its process group is
// killed when it ends, so the pipes close at once unless a process escaped the group (setsid).
const outputGrace = 500 * time.Millisecond

// maxOutput is how much of a command's output is kept to explain a failure.
const maxOutput = 4096

// Exec returns a Checker that runs argv without a shell and is healthy if it exits 0. The command
// runs in its own process group, which is killed with SIGKILL when the command exits or ctx ends, so a
// probe leaves nothing behind. A command that cannot be started fails with ErrCannotStart.
func Exec(argv []string, opts ...CommandOption) Checker {
	return newCommand(append([]string(nil), argv...), false, opts)
}

// Script returns a Checker that runs cmdline with /bin/sh -c and is healthy if it exits 0, as Exec
// does. Exit status 126 and 127, the shell's "cannot execute" and "not found", mean the check
// cannot start.
func Script(cmdline string, opts ...CommandOption) Checker {
	return newCommand([]string{"/bin/sh", "-c", cmdline}, true, opts)
}

// CommandOption configures an Exec or Script check.
type CommandOption func(*command)

// WithCredential runs the command as another user (global.script_user): its uid, gid and
// supplementary groups, set in the child before exec. nil, the default, runs it as the daemon's
// own user. Switching needs root, or CAP_SETUID and CAP_SETGID; a command that cannot switch
// fails with ErrCannotStart. The environment stays the daemon's: HOME and USER are not changed.
func WithCredential(cred *syscall.Credential) CommandOption {
	return func(c *command) {
		if cred != nil {
			c.cred = &syscall.Credential{Uid: cred.Uid, Gid: cred.Gid, Groups: append([]uint32(nil), cred.Groups...), NoSetGroups: cred.NoSetGroups}
		}
	}
}

// command runs a program in its own process group. When it exits, or when ctx is done, the whole
// group is killed with SIGKILL, so a check leaves nothing behind, whatever it started.
// WithReaper tells the command the daemon's reaper (when it is PID 1), so that it does not reap
// the command's own process.
func WithReaper(r *child.Reaper) CommandOption {
	return func(c *command) { c.reaper = r }
}

type command struct {
	argv   []string
	shell  bool
	cred   *syscall.Credential // nil: the daemon's own user
	reaper *child.Reaper
}

func newCommand(argv []string, shell bool, opts []CommandOption) *command {
	c := &command{argv: argv, shell: shell}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func (c *command) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(c.argv) == 0 || c.argv[0] == "" {
		return fmt.Errorf("%w: no command", ErrCannotStart)
	}
	var out output // one writer for both, so one goroutine writes
	p, err := child.Start(c.argv, child.Options{Credential: c.cred, Stdout: &out, Stderr: &out, OutputGrace: outputGrace, Reaper: c.reaper})
	if err != nil {
		if c.cred != nil {
			return fmt.Errorf("%w: %w (as uid %d, gid %d)", ErrCannotStart, err, c.cred.Uid, c.cred.Gid)
		}
		return fmt.Errorf("%w: %w", ErrCannotStart, err)
	}
	killed, err := p.Wait(ctx, true)
	if killed {
		return fmt.Errorf("%s killed: %w", c.argv[0], ctx.Err())
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		msg := exitErr.ProcessState.String()
		if line := out.lastLine(); line != "" {
			msg += ": " + line
		}
		if code := exitErr.ExitCode(); c.shell && (code == 126 || code == 127) {
			return fmt.Errorf("%w: %s", ErrCannotStart, msg)
		}
		return errors.New(msg)
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0; a process that left its group holds the output open. Still healthy.
		return nil
	default:
		return err
	}
}

// output keeps the first maxOutput bytes of a command's output.
type output struct {
	buf []byte
}

func (o *output) Write(p []byte) (int, error) {
	if room := maxOutput - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// lastLine is the last line of the output with something printable on it, as child.Printable
// leaves it (escape sequences dropped, cut to child.MaxPrintable): usually the command's
// conclusion, such as curl's "curl: (22) The requested URL returned error: 503".
func (o *output) lastLine() string {
	lines := strings.Split(string(o.buf), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if line := strings.TrimSpace(child.Printable(lines[i])); line != "" {
			return line
		}
	}
	return ""
}
