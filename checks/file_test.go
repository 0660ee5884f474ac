package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

func TestFileValue(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		err  error
	}{
		{"0", 0, nil},
		{"1", 1, nil},
		{"1\n", 1, nil},
		{"42 # maintenance until Monday\n", 42, nil},
		{" \t\n\v\f\r7", 7, nil},
		{"+7", 7, nil},
		{"-3\n", -3, nil},
		{"-0", 0, nil},
		{"12abc", 12, nil},
		{"1.5", 1, nil},
		{"1e3", 1, nil},
		{"010", 8, nil}, // octal, as strtol with base 0 has it
		{"08", 0, nil},  // "0", then a byte that is no octal digit
		{"0b101", 0, nil},
		{"0x1f", 31, nil},
		{"0X1F", 31, nil},
		{"-0x10", -16, nil},
		{"0x", 0, nil},
		{"0xg", 0, nil},
		{"2147483647", math.MaxInt32, nil},
		{"-2147483648", math.MinInt32, nil},
		{"0x7fffffff", math.MaxInt32, nil},
		{"", 0, ErrNoNumber},
		{"\n", 0, ErrNoNumber},
		{"maintenance", 0, ErrNoNumber},
		{"x1", 0, ErrNoNumber},
		{"- 1", 0, ErrNoNumber},
		{"+-1", 0, ErrNoNumber},
		{"\x001", 0, ErrNoNumber},
		{"\u00a01", 0, ErrNoNumber}, // a no-break space is no C white space
		{"2147483648", 0, ErrNumberRange},
		{"-2147483649", 0, ErrNumberRange},
		{"0x80000000", 0, ErrNumberRange},
		{"040000000000", 0, ErrNumberRange},
		{"99999999999999999999999999", 0, ErrNumberRange},
	} {
		got, err := FileValue([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("FileValue(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// cNumber is what C's strtol(s, NULL, 0) reads: white space, a sign, then a hexadecimal, octal or
// decimal number. Go's strconv.ParseInt with base 0 reads such a number the same way.
var cNumber = regexp.MustCompile(`^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)`)

// FuzzFileValue checks FileValue against strconv.ParseInt, on what a regular expression finds of
// a number where strtol would look for one.
func FuzzFileValue(f *testing.F) {
	for _, s := range []string{"0", "1\n", " -42 x", "0x1F", "010", "08", "0x", "2147483648", "-2147483648", "", "abc", "+-1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		got, err := FileValue(content)
		m := cNumber.FindSubmatch(content)
		if m == nil {
			if got != 0 || !errors.Is(err, ErrNoNumber) {
				t.Fatalf("FileValue(%q) = %d, %v; want 0, ErrNoNumber", content, got, err)
			}
			return
		}
		want, perr := strconv.ParseInt(string(m[1])+string(m[2]), 0, 64)
		if perr != nil || want < math.MinInt32 || want > math.MaxInt32 {
			if got != 0 || !errors.Is(err, ErrNumberRange) {
				t.Fatalf("FileValue(%q) = %d, %v; want 0, ErrNumberRange", content, got, err)
			}
			return
		}
		if err != nil || int64(got) != want {
			t.Fatalf("FileValue(%q) = %d, %v; want %d", content, got, err, want)
		}
	})
}

func TestFileCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maint")
	c := File(path)
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("missing: Check = %v, want nil", err)
	}
	writeFile(t, path, "0\n")
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("0: Check = %v, want nil", err)
	}
	writeFile(t, path, "2\n")
	if err := c.Check(context.Background()); errString(err) != path+" holds 2" {
		t.Errorf("2: Check = %q, want %q", errString(err), path+" holds 2")
	}
}

// fileRun is a file check running under Run, and what it has reported so far.
type fileRun struct {
	t       *testing.T
	reports chan Report
	last    Report
}

// startFile runs a file check of path named maint until the test ends.
func startFile(t *testing.T, path string, interval time.Duration) *fileRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fileRun{t: t, reports: make(chan Report, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Spec{Name: "maint", Checker: File(path), Interval: interval}, slog.New(&countHandler{}), func(r Report) { f.reports <- r })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return f
}

// expect waits up to 2s for the report want. Reports on the way that only put the same state in
// other words are passed over (creating a file can be seen before it is written: it then holds
// no number, which counts as 0, as its absence did); any other report fails the test.
func (f *fileRun) expect(want Report) {
	f.t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case r := <-f.reports:
			if r == want {
				f.last = r
				return
			}
			if r.Up != f.last.Up || r.Value != f.last.Value {
				f.t.Fatalf("reported %+v, want %+v", r, want)
			}
			f.last = r
		case <-deadline:
			f.t.Fatalf("no report %+v within 2s (the last was %+v)", want, f.last)
		}
	}
}

// quiet checks that nothing is reported for a while.
func (f *fileRun) quiet() {
	f.t.Helper()
	select {
	case r := <-f.reports:
		f.t.Fatalf("reported %+v after %+v, want nothing", r, f.last)
	case <-time.After(200 * time.Millisecond):
	}
}

func holds(path string, n int) Report {
	return Report{Up: n == 0, Value: n, Why: fmt.Sprintf("check maint: %s holds %d", path, n)}
}

func missing(path string) Report {
	return Report{Up: true, Why: "check maint: " + path + " is missing (counts as 0)"}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content to a new file and renames it over path.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	writeFile(t, path+".new", content)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestFileWatch changes a track file in every way there is and checks that each change is
// reported promptly. The interval is an hour: only inotify can see them.
func TestFileWatch(t *testing.T) {
	labtest.LeakCheck(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "maint")
	f := startFile(t, path, time.Hour)

	f.expect(missing(path))
	writeFile(t, path, "1\n")
	f.expect(holds(path, 1))
	writeFile(t, path, "2\n") // in place
	f.expect(holds(path, 2))
	writeFile(t, filepath.Join(dir, "other"), "9\n") // another file: read again, nothing changed
	f.quiet()
	replaceFile(t, path, "0\n")
	f.expect(holds(path, 0))
	replaceFile(t, path, "5\n")
	f.expect(holds(path, 5))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.expect(missing(path))

	// A symlink to the file, then swapped for one to another, by a rename over it.
	writeFile(t, filepath.Join(dir, "a"), "7\n")
	writeFile(t, filepath.Join(dir, "b"), "0\n")
	if err := os.Symlink("a", path); err != nil {
		t.Fatal(err)
	}
	f.expect(holds(path, 7))
	if err := os.Symlink("b", path+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	f.expect(holds(path, 0))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.expect(missing(path))

	// What is not a number counts as 0; a number out of range changes nothing.
	replaceFile(t, path, "maintenance\n")
	f.expect(Report{Up: true, Why: "check maint: " + path + " holds no number (counts as 0)"})
	replaceFile(t, path, "3\n")
	f.expect(holds(path, 3))
	replaceFile(t, path, "99999999999\n")
	f.expect(Report{Value: 3, Why: "check maint: " + path + " holds a number out of range, ignored (it still counts as 3)"})

	// What cannot be read counts as 0.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.expect(missing(path))
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	f.expect(Report{Up: true, Why: "check maint: " + path + " cannot be read (counts as 0): is a directory"})
}

// TestFileDirectoryLater: a track file whose directory does not exist yet, then is made, removed,
// and renamed into place; each is seen through inotify (the interval is an hour).
func TestFileDirectoryLater(t *testing.T) {
	labtest.LeakCheck(t)
	top := t.TempDir()
	dir := filepath.Join(top, "a", "b")
	path := filepath.Join(dir, "maint")
	f := startFile(t, path, time.Hour)

	f.expect(missing(path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "1\n")
	f.expect(holds(path, 1))

	if err := os.RemoveAll(filepath.Join(top, "a")); err != nil {
		t.Fatal(err)
	}
	f.expect(missing(path))

	// Made elsewhere, then renamed into place whole.
	staged := filepath.Join(top, "staged")
	if err := os.MkdirAll(filepath.Join(staged, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(staged, "b", "maint"), "4\n")
	if err := os.Rename(staged, filepath.Join(top, "a")); err != nil {
		t.Fatal(err)
	}
	f.expect(holds(path, 4))
	writeFile(t, path, "0\n") // and the new directory is watched
	f.expect(holds(path, 0))
}

// TestFileInterval: a change inotify cannot see, to the target of a symlink in another
// directory, is seen at the next interval.
func TestFileInterval(t *testing.T) {
	labtest.LeakCheck(t)
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "real")
	writeFile(t, target, "0\n")
	path := filepath.Join(dir, "maint")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	f := startFile(t, path, 100*time.Millisecond)
	f.expect(holds(path, 0))
	replaceFile(t, target, "6\n")
	f.expect(holds(path, 6))
	f.quiet() // and read again at every interval, but reported only when it changes
}

// A file check has no init_fail or reverse; Run refuses them as it refuses a bad interval.
func TestFileSpecPanics(t *testing.T) {
	for _, s := range []Spec{
		{Name: "f", Checker: File("/nonexistent"), Interval: time.Second, InitFail: true},
		{Name: "f", Checker: File("/nonexistent"), Interval: time.Second, Reverse: true},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Run(%+v) did not panic", s)
				}
			}()
			Run(context.Background(), s, slog.New(&countHandler{}), func(Report) {})
		}()
	}
}
