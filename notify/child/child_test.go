package child

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child never sees NOTIFY_SOCKET, whether it gets the daemon's environment or one of its own.
func TestNoNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	for _, env := range [][]string{nil, {"A=1", "NOTIFY_SOCKET=/run/systemd/notify"}} {
		var out bytes.Buffer
		p, err := Start([]string{"/usr/bin/env"}, Options{Env: env, Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "NOTIFY_SOCKET") || env != nil && !strings.Contains(out.String(), "A=1") {
			t.Errorf("environment %q: the child saw:\n%s", env, out.String())
		}
	}
}

// The group goes: when ctx ends the program, and with group when it exits by itself; without
// group, what it left running stays.
func TestProcessGroup(t *testing.T) {
	for _, tt := range []struct {
		name       string
		script     string
		group      bool
		cancel     bool
		wantKilled bool
		wantGone   bool
	}{
		{"ctx ends it", "sleep 1000 & echo $!; sleep 1000", false, true, true, true},
		{"exits, group killed", "sleep 1000 & echo $!", true, false, false, true},
		{"exits, group left", "sleep 1000 & echo $!", false, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p, err := Start([]string{"/bin/sh", "-c", tt.script}, Options{Stdout: &out, OutputGrace: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			defer cancel()
			killed, err := p.Wait(ctx, tt.group)
			if killed != tt.wantKilled {
				t.Errorf("killed %v, want %v (err %v)", killed, tt.wantKilled, err)
			}
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
				t.Errorf("Wait: %v", err)
			}
			// The background sleep, in the program's group, printed its pid.
			pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
			if err != nil {
				t.Fatalf("the script printed %q", out.String())
			}
			defer syscall.Kill(pid, syscall.SIGKILL)
			if got := gone(pid); got != tt.wantGone {
				t.Errorf("the program's background child is gone: %v, want %v", got, tt.wantGone)
			}
		})
	}
}

// gone reports whether pid has exited, waiting a moment for a SIGKILL to land: it no longer
// exists, or it is a zombie that its new parent has yet to reap.
func gone(pid int) bool {
	for range 100 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
