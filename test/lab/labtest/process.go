package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// LeakCheck fails t if goroutines started during it are still running when it ends (after the
// cleanups registered later, such as Close, have run).
func LeakCheck(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

// WaitGone waits up to 10s for pid to exit, failing t if it does not.
func WaitGone(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid has exited: it no longer exists, or it is a zombie waiting for
// a parent (init, in a container, may never reap it).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses, which may itself hold ") ".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// SharedDir returns a fresh directory that every user can search, in a parent every user can
// search (t.TempDir's parent is private to the test's user), so that a test can run programs in
// it as another user.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// WritableDir returns a fresh directory that every user can write, in a SharedDir: for the files
// a program running as another user writes.
func WritableDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(SharedDir(t), "out")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // Mkdir's mode is masked by the umask
		t.Fatal(err)
	}
	return dir
}

// SelfIDs returns this process's user, group and groups as `id -u`, `id -g` and `id -G` print
// them: the group first, then the other supplementary groups.
func SelfIDs() []string {
	groups, _ := os.Getgroups()
	ids := []string{strconv.Itoa(os.Getegid())}
	for _, g := range groups {
		if g != os.Getegid() {
			ids = append(ids, strconv.Itoa(g))
		}
	}
	return []string{strconv.Itoa(os.Geteuid()), strconv.Itoa(os.Getegid()), strings.Join(ids, " ")}
}
