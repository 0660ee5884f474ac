package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/notify/child"
	"github.com/vrrpd/vrrpd/vrrp"
)

// Restart in place (SPEC.md, SIGUSR2): the daemon executes its binary again, from the path it
// was started with, in the same process, and hands its state to the new image through a
// memory file that survives the exec. The new image resumes every instance where it stood, so no
// peer or client sees a transition. If the new binary does not answer or rejects the
// configuration, nothing stops; if it cannot be executed, the old image executes itself again.

const (
	// handoverEnv names the descriptor a restarted image reads its handover from.
	handoverEnv = "VRRPD_HANDOVER_FD"
	// fallbackEnv names a descriptor of the previous image's binary, which the new image
	// executes again, with the same handover, if it cannot resume.
	fallbackEnv = "VRRPD_FALLBACK_FD"
	// handoverVersion is the handover's format: a new binary must speak it to take over.
	handoverVersion = "1"
	// precheckTimeout bounds each check of the new binary before the old one lets go.
	precheckTimeout = 15 * time.Second
	// restartHookWait bounds how long a restart waits for running hooks: they are killed with
	// their process groups after it, since the new image cannot wait for them.
	restartHookWait = time.Second
)

// errRestart is what the daemon's run returns once it has frozen for a restart in place.
var errRestart = errors.New("restarting in place")

// startedAs is the absolute path of the binary, as the daemon was started: a new binary
// installed there is what a restart executes.
func startedAs() (string, error) {
	arg0 := os.Args[0]
	if !strings.Contains(arg0, "/") {
		return exec.LookPath(arg0)
	}
	return filepath.Abs(arg0)
}

// precheck asks the binary at path whether it can take over: it must speak this handover's
// format, and accept the configuration as `vrrpd check` does.
func precheck(path, config string, reaper *child.Reaper) error {
	for _, args := range [][]string{{"__handover-version"}, {"check", "--config", config}} {
		var out bytes.Buffer
		p, err := child.Start(append([]string{path}, args...), child.Options{Stdout: &out, Stderr: &out, Reaper: reaper})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), precheckTimeout)
			var killed bool
			killed, err = p.Wait(ctx, true)
			cancel()
			if killed {
				err = fmt.Errorf("no answer within %s", precheckTimeout)
			}
		}
		words := child.Printable(strings.TrimSpace(out.String()))
		switch {
		case err != nil:
			return fmt.Errorf("%s %s: %v: %s", path, strings.Join(args, " "), err, words)
		case args[0] == "__handover-version" && words != handoverVersion:
			return fmt.Errorf("%s does not speak this daemon's handover (version %q, want %s): restart the service instead", path, words, handoverVersion)
		}
	}
	return nil
}

// monotonic is CLOCK_MONOTONIC, which a process shares with the image it executes.
func monotonic() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// freeze checks that the binary the daemon was started as can take over, then freezes the
// driver: from here the peers' Master_Down_Interval runs, until the new image resumes.
func (d *daemon) freeze() error {
	if err := precheck(d.exe, d.path, d.reaper); err != nil {
		return fmt.Errorf("the new binary cannot take over, so the running one goes on: %w", err)
	}
	h, err := d.driver.Freeze()
	if err != nil {
		return err
	}
	h.At = monotonic()
	d.handover = h
	return nil
}

// execNew executes the binary at d.exe with the handover, or, if that fails, the running image
// again (/proc/self/exe, which is the old binary even once replaced on disk). It returns only if
// neither can be executed.
func (d *daemon) execNew() error {
	data, err := json.Marshal(d.handover)
	if err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("vrrpd-handover", 0) // no MFD_CLOEXEC: the new image inherits it
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	f := os.NewFile(uintptr(fd), "vrrpd-handover")
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	self, err := unix.Open("/proc/self/exe", unix.O_RDONLY, 0) // likewise inherited
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, handoverEnv+"=") || strings.HasPrefix(kv, fallbackEnv+"=")
	})
	env = append(env, handoverEnv+"="+strconv.Itoa(fd), fallbackEnv+"="+strconv.Itoa(self))
	d.log.Info("restarting in place", "binary", d.exe, "instances", len(d.handover.Instances))
	err = syscall.Exec(d.exe, os.Args, env)
	d.log.Error("cannot execute the new binary: going on with the running one", "binary", d.exe, "err", err)
	err2 := execFD(self, env)
	return errors.Join(err, err2)
}

// execFD executes the binary open at fd, with the daemon's arguments.
func execFD(fd int, env []string) error {
	argv, err := cstrings(os.Args)
	if err != nil {
		return err
	}
	envv, err := cstrings(env)
	if err != nil {
		return err
	}
	empty := []byte{0}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
	return os.NewSyscallError("execveat", errno)
}

// cstrings is ss as execve takes it: NUL-terminated strings, then a nil.
func cstrings(ss []string) ([]*byte, error) {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return append(out, nil), nil
}

// resumed is a handover a restarted image received, and what it takes to go back.
type resumed struct {
	h        *vrrp.Handover
	elapsed  time.Duration // since the previous image froze
	fd       int           // the handover's memory file
	fallback int           // the previous image's binary; -1 if none
}

// readHandover reads the handover a previous image left, if this image was started by a restart
// in place. It takes the variables out of the environment, so that nothing this image runs
// inherits them.
func readHandover() (*resumed, error) {
	v, ok := os.LookupEnv(handoverEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(handoverEnv)
	r := &resumed{fallback: -1}
	if fb, ok := os.LookupEnv(fallbackEnv); ok {
		os.Unsetenv(fallbackEnv)
		if n, err := strconv.Atoi(fb); err == nil {
			r.fallback = n
			syscall.CloseOnExec(n)
		}
	}
	fd, err := strconv.Atoi(v)
	if err != nil {
		return r, fmt.Errorf("%s=%q is not a descriptor", handoverEnv, v)
	}
	r.fd = fd
	syscall.CloseOnExec(fd)
	data, err := io.ReadAll(io.NewSectionReader(os.NewFile(uintptr(fd), "vrrpd-handover"), 0, 1<<30))
	if err != nil {
		return r, fmt.Errorf("reading the handover: %w", err)
	}
	var h vrrp.Handover
	if err := json.Unmarshal(data, &h); err != nil {
		return r, fmt.Errorf("reading the handover: %w", err)
	}
	r.h, r.elapsed = &h, monotonic()-h.At
	return r, nil
}

// fallBack executes the previous image again, with the same handover, when this one cannot
// resume: it returns only if that fails too.
func (r *resumed) fallBack() error {
	if r == nil || r.fallback < 0 {
		return errors.New("there is no previous image to go back to")
	}
	env := append(os.Environ(), handoverEnv+"="+strconv.Itoa(r.fd))
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETFD, 0); err != nil { // inherited again
		return err
	}
	return execFD(r.fallback, env)
}
