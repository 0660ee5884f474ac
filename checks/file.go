package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

var (
	// ErrNoNumber is FileValue's error for content that does not start with a number; such a
	// file counts as 0, as in keepalived.
	ErrNoNumber = errors.New("no number")
	// ErrNumberRange is FileValue's error for a number outside a 32-bit int; keepalived ignores
	// such content, and the file counts as what it held before.
	ErrNumberRange = errors.New("number out of range")
)

// fileReadMax is how much of a track file is read, as keepalived's process_track_file reads it
// (a 128-byte buffer, less its NUL).
const fileReadMax = 127

// File returns a Checker for keepalived's track_file (vrrp_track_file): the file at path holds an
// integer N, which FileValue reads from its first 127 bytes, as much as keepalived reads. A missing
// file counts as 0, and so does one that cannot be read or holds no number. The check is up while N is 0; the policy decides what N means (with
// weight 0, N != 0 is FAULT; otherwise N x weight is added to the priority).
//
// Run runs it unlike a probe, as keepalived does: with no timeout and no rise and fall, it reads
// the file at once and reports what it holds, then reads it again whenever something changes in
// its directory (inotify: a write closed, a rename over it, a symlink swapped, a delete; a
// Kubernetes ConfigMap, which swaps a symlink named ..data beside it) and every Spec.Interval in
// any case, and reports each change at once. Until the directory exists, the nearest ancestor that
// does is watched, so that it is seen when it appears. The report's Value is N.
//
// Write the file by renaming a new one over it: a writer that truncates and rewrites it in place
// can be read in between, when it holds nothing and counts as 0.
//
// Check reads the file once, and is healthy if N is 0.
func File(path string) Checker {
	return &fileChecker{path: path}
}

type fileChecker struct {
	path string
}

func (f *fileChecker) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s := readTrackFile(f.path, 0); s.value != 0 {
		return errors.New(s.why)
	}
	return nil
}

// FileValue parses a track file's content as keepalived's process_track_file does, with C's
// strtol(content, NULL, 0): leading white space (space, \t, \n, \v, \f, \r) is skipped; a sign
// may follow; then "0x" or "0X" starts a hexadecimal number, another leading 0 an octal one
// ("010" is 8), and anything else a decimal one. The number ends at the first byte that is not a
// digit of its base, and whatever follows is ignored ("1 # maintenance" is 1). Content with no
// number, an empty file included, is 0 with ErrNoNumber. A number outside a 32-bit int, which
// keepalived logs and ignores, gives ErrNumberRange.
func FileValue(content []byte) (int, error) {
	i := 0
	for i < len(content) && isCSpace(content[i]) {
		i++
	}
	neg := false
	if i < len(content) && (content[i] == '+' || content[i] == '-') {
		neg = content[i] == '-'
		i++
	}
	base := uint64(10)
	if i < len(content) && content[i] == '0' {
		base = 8
		if i+1 < len(content) && (content[i+1] == 'x' || content[i+1] == 'X') {
			// "0x" with no hexadecimal digit after it is the number 0, followed by "x...".
			if i+2 == len(content) || digit(content[i+2]) >= 16 {
				return 0, nil
			}
			base = 16
			i += 2
		}
	}
	limit := uint64(math.MaxInt32)
	if neg {
		limit++
	}
	var n uint64
	start := i
	for ; i < len(content) && digit(content[i]) < base; i++ {
		if n = n*base + digit(content[i]); n > limit {
			return 0, ErrNumberRange
		}
	}
	if i == start {
		return 0, ErrNoNumber
	}
	if neg {
		return -int(n), nil
	}
	return int(n), nil
}

// isCSpace reports whether c is white space to C's isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// digit is c's value as a digit of any base up to 36, or 36 if c is not a digit.
func digit(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c >= 'a' && c <= 'z':
		return uint64(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return uint64(c-'A') + 10
	}
	return 36
}

// trackFile is what one read of a track file found.
type trackFile struct {
	value   int    // what it counts as
	why     string // in words, after "check NAME: "
	problem bool   // it could not be read, or held a number out of range: worth a warning
}

// readTrackFile reads the track file at path; before is what it counted as until now, which a
// number out of range leaves as it was.
func readTrackFile(path string, before int) trackFile {
	// O_NONBLOCK, as keepalived opens it, so that a FIFO put there cannot hang the check.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return trackFile{why: path + " is missing (counts as 0)"}
	}
	var buf [fileReadMax]byte
	n := 0
	if err == nil {
		n, err = readRetry(fd, buf[:])
		unix.Close(fd)
	}
	if err != nil {
		return trackFile{why: fmt.Sprintf("%s cannot be read (counts as 0): %v", path, err), problem: true}
	}
	v, err := FileValue(buf[:n])
	switch {
	case errors.Is(err, ErrNoNumber):
		return trackFile{why: path + " holds no number (counts as 0)"}
	case errors.Is(err, ErrNumberRange):
		return trackFile{value: before, why: fmt.Sprintf("%s holds a number out of range, ignored (it still counts as %d)", path, before), problem: true}
	}
	return trackFile{value: v, why: fmt.Sprintf("%s holds %d", path, v)}
}

func readRetry(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		if !errors.Is(err, unix.EINTR) {
			return max(n, 0), err
		}
	}
}

// run is Run for a file check.
func (f *fileChecker) run(ctx context.Context, s Spec, log *slog.Logger, report func(Report)) {
	w := watchDir(f.path, log)
	defer w.close()
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()

	var last Report
	for first := true; ; first = false {
		// Watch before reading, so that no change between the two goes unseen.
		w.rewatch()
		t := readTrackFile(f.path, last.Value)
		if r := (Report{Up: t.value == 0, Value: t.value, Why: "check " + s.Name + ": " + t.why}); first || r != last {
			if t.problem {
				log.Warn("the track file cannot be used as it is", "why", t.why)
			}
			report(r)
			last = r
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.changed:
		}
	}
}

// Watch masks: of the track file's directory, for anything that can change what the path holds,
// and of an ancestor, while the directory does not exist, for a directory appearing in it.
const (
	dirEvents      = unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	ancestorEvents = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
)

// dirWatch watches a track file's directory with inotify. Any event is a reason to read the
// file again, and to watch again, in case the directory itself went or came.
type dirWatch struct {
	path    string
	log     *slog.Logger
	fd      int           // the inotify instance; -1 if there is none
	file    *os.File      // fd, for reading through the runtime's poller
	wd      int           // the current watch; -1 if none
	warned  bool          // a failure to watch is logged already
	changed chan struct{} // a value after events; nil without inotify
	done    chan struct{} // closed when the reader has stopped
}

// watchDir starts a dirWatch for path. Without inotify (its limits reached, say), it logs why,
// and the file is read at the interval only.
func watchDir(path string, log *slog.Logger) *dirWatch {
	w := &dirWatch{path: path, log: log, fd: -1, wd: -1}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		log.Warn("cannot watch the track file for changes; it is read at the check's interval only", "file", path, "err", err)
		return w
	}
	w.fd, w.file = fd, os.NewFile(uintptr(fd), "inotify")
	w.changed, w.done = make(chan struct{}, 1), make(chan struct{})
	go w.read()
	return w
}

// read turns events into a value on w.changed until the watch is closed. Which events they are
// does not matter: the file is read again.
func (w *dirWatch) read() {
	defer close(w.done)
	buf := make([]byte, 4096) // a whole number of events: at least one of the largest
	for {
		if _, err := w.file.Read(buf); err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.log.Warn("cannot read inotify events; the track file is read at the check's interval only", "file", w.path, "err", err)
			}
			return
		}
		select {
		case w.changed <- struct{}{}:
		default: // a value is waiting already
		}
	}
}

// rewatch watches the file's directory, or if it does not exist the nearest ancestor that does,
// and stops watching what it watched before if that is now something else.
func (w *dirWatch) rewatch() {
	if w.fd < 0 {
		return
	}
	dir, mask := filepath.Dir(w.path), uint32(dirEvents)
	for {
		wd, err := unix.InotifyAddWatch(w.fd, dir, mask)
		if err == nil {
			if w.wd >= 0 && w.wd != wd {
				_, _ = unix.InotifyRmWatch(w.fd, uint32(w.wd)) // EINVAL if the kernel removed it already
			}
			w.wd, w.warned = wd, false
			return
		}
		parent := filepath.Dir(dir)
		if (!errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR)) || parent == dir {
			if !w.warned {
				w.log.Warn("cannot watch the track file's directory; it is read at the check's interval until it can", "dir", dir, "err", err)
				w.warned = true
			}
			return
		}
		dir, mask = parent, ancestorEvents
	}
}

func (w *dirWatch) close() {
	if w.file != nil {
		w.file.Close()
		<-w.done
	}
}
