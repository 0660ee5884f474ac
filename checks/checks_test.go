package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// startNamed runs a copy of /bin/sleep named name, so that its /proc/PID/comm is name (cut to 15
// bytes) and its argv[0] is the copy's path. It is killed when the test ends.
func startNamed(t testing.TB, name string) *exec.Cmd {
	t.Helper()
	bin, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// errString is err's message, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestProcess(t *testing.T) {
	labtest.LeakCheck(t)
	// Unique per run, so no other process on the machine has these names.
	suffix := strconv.Itoa(os.Getpid())
	short := "vt" + suffix                        // within comm's 15 bytes
	long := "vrrpd-test-long-process-" + suffix   // comm shows its first 15 bytes
	longTwin := "vrrpd-test-long-other-" + suffix // same first 15 bytes as long, not running
	gone := "vgone" + suffix                      // started, then stopped
	startNamed(t, short)
	startNamed(t, long)
	g := startNamed(t, gone)
	if err := g.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = g.Wait()

	tests := []struct {
		name    string
		wantErr string
	}{
		{short, ""},
		{long, ""},
		{longTwin, fmt.Sprintf("no process named %q", longTwin)},
		{long[:15], ""}, // comm itself
		{gone, fmt.Sprintf("no process named %q", gone)},
		{"vrrpd-no-such-" + suffix, fmt.Sprintf("no process named %q", "vrrpd-no-such-"+suffix)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Process(tt.name).Check(context.Background())
			if got := errString(err); got != tt.wantErr {
				t.Errorf("Check = %q, want %q", got, tt.wantErr)
			}
			if tt.wantErr != "" && !errors.Is(err, ErrNoProcess) {
				t.Errorf("Check = %v, want it to wrap ErrNoProcess", err)
			}
		})
	}

	t.Run("restarted", func(t *testing.T) {
		// The checker looks at the pid it found last first; that must not outlive the process.
		name := "vr" + suffix
		c := Process(name)
		var cmd *exec.Cmd
		for i, want := range []bool{true, true, false, true} {
			if i == 0 || i == 3 {
				cmd = startNamed(t, name)
			}
			if i == 2 {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()
			}
			if err := c.Check(context.Background()); (err == nil) != want {
				t.Errorf("probe %d: Check = %v, want healthy %t", i, err, want)
			}
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Process(short).Check(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Check = %v, want context.Canceled", err)
		}
	})
}

// BenchmarkProcess measures a probe in the worst case, "absent" (no such process, so every process's
// comm is read), and in the usual one, "running" (the process found by the previous probe still runs).
func BenchmarkProcess(b *testing.B) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	pids := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			pids++
		}
	}

	b.Run("absent", func(b *testing.B) {
		c := Process("vrrpd-bench-no-such-process")
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Check(context.Background()); !errors.Is(err, ErrNoProcess) {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(pids), "processes")
	})
	b.Run("running", func(b *testing.B) {
		// A long name, so that argv[0] is read too.
		name := "vrrpd-bench-long-name-" + strconv.Itoa(os.Getpid())
		startNamed(b, name)
		c := Process(name)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Check(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestCommand(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	noExec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		checker       Checker
		wantErr       string // exact, or a prefix when wantPrefix
		wantPrefix    bool
		wantCannotRun bool
	}{
		{name: "exec true", checker: Exec([]string{"/bin/true"})},
		{name: "exec false", checker: Exec([]string{"/bin/false"}), wantErr: "exit status 1"},
		{name: "exec output", checker: Exec([]string{"/bin/sh", "-c", "echo checking; echo 'backend down' >&2; exit 3"}), wantErr: "exit status 3: backend down"},
		{name: "exec output with escapes", checker: Exec([]string{"/bin/sh", "-c", `printf '\033[31mbackend\tdown\033[0m\n\033]0;owned\007\n'; exit 4`}), wantErr: "exit status 4: backend down"},
		{name: "exec args", checker: Exec([]string{"/bin/sh", "-c", `[ "$1" = "a b" ]`, "sh", "a b"})},
		{name: "exec missing", checker: Exec([]string{"/nonexistent/check"}), wantErr: "cannot start check: fork/exec /nonexistent/check: no such file or directory", wantCannotRun: true},
		{name: "exec not executable", checker: Exec([]string{noExec}), wantErr: "cannot start check: fork/exec " + noExec + ": permission denied", wantCannotRun: true},
		{name: "exec empty", checker: Exec(nil), wantErr: "cannot start check: no command", wantCannotRun: true},
		{name: "script true", checker: Script("true")},
		{name: "script pipeline", checker: Script("echo ok | grep -q ok")},
		{name: "script false", checker: Script("echo 'no upstream'; exit 2"), wantErr: "exit status 2: no upstream"},
		// The shell's own wording of "not found" differs between shells; the status is POSIX.
		{name: "script missing", checker: Script("/nonexistent/check.sh --quick"), wantErr: "cannot start check: exit status 127: ", wantPrefix: true, wantCannotRun: true},
		{name: "script not executable", checker: Script(noExec), wantErr: "cannot start check: exit status 126: ", wantPrefix: true, wantCannotRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.checker.Check(context.Background())
			got := errString(err)
			if tt.wantPrefix {
				if !strings.HasPrefix(got, tt.wantErr) {
					t.Errorf("Check = %q, want prefix %q", got, tt.wantErr)
				}
			} else if got != tt.wantErr {
				t.Errorf("Check = %q, want %q", got, tt.wantErr)
			}
			if errors.Is(err, ErrCannotStart) != tt.wantCannotRun {
				t.Errorf("errors.Is(%v, ErrCannotStart) = %t, want %t", err, !tt.wantCannotRun, tt.wantCannotRun)
			}
		})
	}
}

// TestCommandKillsProcessGroup checks that nothing a command started outlives its check: not on a
// timeout, and not when it exits leaving a child in the background.
func TestCommandKillsProcessGroup(t *testing.T) {
	labtest.LeakCheck(t)
	tests := []struct {
		name    string
		checker func(pidFile string) Checker
		timeout bool
	}{
		{
			name: "script timeout",
			checker: func(f string) Checker {
				return Script(`sleep 1000 & echo "$$ $!" > ` + f + `.tmp && mv ` + f + `.tmp ` + f + `; wait`)
			},
			timeout: true,
		},
		{
			name: "exec timeout",
			checker: func(f string) Checker {
				return Exec([]string{"/bin/sh", "-c", `sleep 1000 & echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"; wait`, "sh", f})
			},
			timeout: true,
		},
		{
			name: "background child after success",
			checker: func(f string) Checker {
				return Script(`sleep 1000 & echo "$$ $!" > ` + f)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if tt.timeout {
				ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
			}
			defer cancel()
			err := tt.checker(pidFile).Check(ctx)
			if tt.timeout {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Check = %v, want context.DeadlineExceeded", err)
				}
			} else if err != nil {
				t.Errorf("Check = %v, want nil", err)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pids := strings.Fields(string(b))
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
		})
	}
}

func TestTCP(t *testing.T) {
	labtest.LeakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	if err := TCP(ln.Addr().String()).Check(context.Background()); err != nil {
		t.Errorf("open port: Check = %v, want nil", err)
	}
	err = TCP(closedAddr).Check(context.Background())
	if want := "dial tcp " + closedAddr + ": connect: connection refused"; errString(err) != want {
		t.Errorf("closed port: Check = %q, want %q", errString(err), want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: Check = %v, want it to wrap ECONNREFUSED", err)
	}
}

func TestHTTP(t *testing.T) {
	labtest.LeakCheck(t)
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok2", http.StatusFound) })
	mux.HandleFunc("/ok2", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name          string
		url           string
		timeout       time.Duration
		wantErr       string
		wantCannotRun bool
		wantTimeout   bool
	}{
		{name: "200", url: srv.URL + "/ok"},
		{name: "204", url: srv.URL + "/nocontent"},
		{name: "503", url: srv.URL + "/down", wantErr: "GET " + srv.URL + "/down: 503 Service Unavailable"},
		{name: "302", url: srv.URL + "/redirect", wantErr: "GET " + srv.URL + "/redirect: 302 Found (redirect to /ok2 not followed)"},
		{name: "404", url: srv.URL + "/nothing", wantErr: "GET " + srv.URL + "/nothing: 404 Not Found"},
		{name: "refused", url: closedURL + "/ok", wantErr: "GET " + closedURL + "/ok: dial tcp " + strings.TrimPrefix(closedURL, "http://") + ": connect: connection refused"},
		{name: "bad url", url: "http://[::1", wantErr: `cannot start check: GET http://[::1: parse "http://[::1": missing ']' in host`, wantCannotRun: true},
		{name: "hang", url: srv.URL + "/hang", timeout: 100 * time.Millisecond, wantErr: "GET " + srv.URL + "/hang: context deadline exceeded", wantTimeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := HTTP(tt.url).Check(ctx)
			if got := errString(err); got != tt.wantErr {
				t.Errorf("Check = %q, want %q", got, tt.wantErr)
			}
			if errors.Is(err, ErrCannotStart) != tt.wantCannotRun {
				t.Errorf("errors.Is(%v, ErrCannotStart) = %t, want %t", err, !tt.wantCannotRun, tt.wantCannotRun)
			}
			if errors.Is(err, context.DeadlineExceeded) != tt.wantTimeout {
				t.Errorf("errors.Is(%v, DeadlineExceeded) = %t, want %t", err, !tt.wantTimeout, tt.wantTimeout)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times, want 0", n)
	}
	var se *StatusError
	if err := HTTP(srv.URL + "/down").Check(context.Background()); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Errorf("Check = %v, want a *StatusError with code 503", err)
	}
}

// TestHTTPPrintable: what a server writes, its reason phrase and a redirect's Location, reaches
// the error without escape sequences, format characters or invalid UTF-8. (net/http itself
// refuses control characters in a header.)
func TestHTTPPrintable(t *testing.T) {
	labtest.LeakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 302 Gone\x1b]0;owned\x07 \x1b[2Jaway\r\nLocation: /login\u202e\xffnigol\r\nContent-Length: 0\r\n\r\n")
	}()
	defer func() { ln.Close(); <-served }()

	url := "http://" + ln.Addr().String() + "/health"
	err = HTTP(url).Check(context.Background())
	if want := "GET " + url + ": 302 Gone away (redirect to /loginnigol not followed)"; errString(err) != want {
		t.Errorf("Check = %q, want %q", errString(err), want)
	}
}

// TestCommandCredential runs exec and script checks as another user (global.script_user): each
// writes who it runs as to a file, which must say so.
func TestCommandCredential(t *testing.T) {
	labtest.RequireRoot(t, "running checks as nobody")
	labtest.LeakCheck(t)
	dir, out := labtest.SharedDir(t), labtest.WritableDir(t)
	whoami := filepath.Join(dir, "whoami.sh")
	if err := os.WriteFile(whoami, []byte("#!/bin/sh\n{ id -u; id -g; id -G; } > \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rootOnly := filepath.Join(dir, "root-only.sh")
	if err := os.WriteFile(rootOnly, []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 4000000}}
	asNobody := []string{"65534", "65534", "65534 4000000"}
	asSelf := labtest.SelfIDs()
	for _, tc := range []struct {
		name    string
		checker func(file string) Checker
		want    []string // id -u, id -g, id -G
	}{
		{"exec as nobody", func(f string) Checker { return Exec([]string{whoami, f}, WithCredential(nobody)) }, asNobody},
		{"script as nobody", func(f string) Checker { return Script(whoami+" "+f, WithCredential(nobody)) }, asNobody},
		{"exec as itself", func(f string) Checker { return Exec([]string{whoami, f}, WithCredential(nil)) }, asSelf},
		{"script as itself", func(f string) Checker { return Script(whoami + " " + f) }, asSelf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(out, strings.ReplaceAll(tc.name, " ", "-"))
			if err := tc.checker(file).Check(context.Background()); err != nil {
				t.Fatalf("Check = %v", err)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSpace(string(b)), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ran as (-want +got):\n%s", diff)
			}
		})
	}

	// A program nobody may not run cannot start, and the error says as whom.
	err := Exec([]string{rootOnly}, WithCredential(nobody)).Check(context.Background())
	want := "cannot start check: fork/exec " + rootOnly + ": permission denied (as uid 65534, gid 65534)"
	if errString(err) != want || !errors.Is(err, ErrCannotStart) {
		t.Errorf("Check = %q (ErrCannotStart %t), want %q", errString(err), errors.Is(err, ErrCannotStart), want)
	}
	// Through the shell, nobody cannot execute it either: status 126.
	err = Script(rootOnly, WithCredential(nobody)).Check(context.Background())
	if !errors.Is(err, ErrCannotStart) || !strings.HasPrefix(errString(err), "cannot start check: exit status 126: ") {
		t.Errorf("Script Check = %q, want ErrCannotStart with exit status 126", errString(err))
	}
}
