package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchSettle is how long the configuration's directory must be quiet before a change is
// read: an editor's save and a ConfigMap update are several events.
const watchSettle = 200 * time.Millisecond

// configWatch tells when the configuration file's content has changed (global.watch_config),
// so that the daemon reloads it as on SIGHUP. It watches the file's directory with inotify, not
// the file, so that it sees every way a file is replaced: written in place, renamed over,
// deleted and created again, and a Kubernetes ConfigMap update, which swaps the directory's
// ..data symlink so that the file's own symlink points at a new one.
type configWatch struct {
	path    string
	changed chan struct{} // a change of the content since the last one told
	last    [sha256.Size]byte
	log     *slog.Logger
}

// watchConfig starts watching path, whose content is now what the daemon runs.
func watchConfig(ctx context.Context, path string, log *slog.Logger) (*configWatch, error) {
	w := &configWatch{path: path, changed: make(chan struct{}, 1), log: log}
	w.last, _ = w.sum()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch_config: %w", os.NewSyscallError("inotify_init1", err))
	}
	dir := filepath.Dir(path)
	const mask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE | unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_MOVED_FROM
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch_config: watch %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: the runtime's poller reads it
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go w.run(f)
	return w, nil
}

// sum is a digest of the file's content, as a reload would read it.
func (w *configWatch) sum() ([sha256.Size]byte, error) {
	b, err := os.ReadFile(w.path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// run reads the directory's events until f closes, and tells of a change once the directory has
// been quiet for watchSettle and the content differs from the last one told.
func (w *configWatch) run(f *os.File) {
	name := filepath.Base(w.path)
	events := make(chan struct{}, 1)
	go func() {
		defer close(events)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			if concerns(buf[:n], name) {
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}
	}()
	var settle <-chan time.Time
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
			settle = time.After(watchSettle)
		case <-settle:
			settle = nil
			sum, err := w.sum()
			if err != nil {
				w.log.Warn("watch_config: cannot read the configuration", "path", w.path, "err", err)
				continue
			}
			if sum == w.last {
				continue
			}
			w.last = sum
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

// concerns reports whether inotify events name the configuration file, or one of the ..data
// entries of a Kubernetes ConfigMap volume.
func concerns(b []byte, name string) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			return false
		}
		n := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
		if n == name || strings.HasPrefix(n, "..") || ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			return true
		}
		b = b[end:]
	}
	return false
}
