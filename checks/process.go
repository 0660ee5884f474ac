package checks

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// commLen is the longest name /proc/PID/comm shows: the kernel's TASK_COMM_LEN (16) less the NUL.
const commLen = 15

// Process returns a Checker that is healthy while a process with this name runs: one whose
// /proc/PID/comm is the name, or, for a name longer than the 15 bytes comm keeps, whose comm is the
// name's first 15 bytes and whose argv[0] has the name as its base name. It forks nothing and reads
// /proc with reused buffers, so it is cheap enough to run every 100ms (see BenchmarkProcess). While
// the process runs, a probe reads only its own comm: the pid found last time is looked at first.
func Process(name string) Checker {
	p := &processChecker{name: name, comm: []byte(name)}
	if len(name) > commLen {
		p.comm = p.comm[:commLen]
	}
	return p
}

type processChecker struct {
	name string
	comm []byte // name as /proc/PID/comm shows it

	mu   sync.Mutex // guards the buffers, for a Checker shared by several Monitors
	dirs []byte     // getdents64 records of /proc
	path []byte     // "PID/comm" or "PID/cmdline", or those under "/proc/"
	file []byte     // content of one of those
	last []byte     // the pid that matched last, "" if none
}

func (p *processChecker) Check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirs == nil {
		p.dirs = make([]byte, 32<<10)
		p.file = make([]byte, 4096) // argv[0] is at most PATH_MAX
	}

	if len(p.last) > 0 {
		if p.matches(unix.AT_FDCWD, "/proc/", p.last) {
			return nil
		}
		p.last = p.last[:0]
	}

	proc, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: open /proc: %w", ErrCannotStart, err)
	}
	defer unix.Close(proc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := unix.Getdents(proc, p.dirs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: read /proc: %w", ErrCannotStart, err)
		}
		if n == 0 {
			return fmt.Errorf("%w named %q", ErrNoProcess, p.name)
		}
		// Each record is struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, then
		// d_name, NUL-terminated and padded to d_reclen (getdents64(2)).
		for b := p.dirs[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return fmt.Errorf("%w: read /proc: malformed directory record", ErrCannotStart)
			}
			typ, name := b[18], b[19:reclen]
			b = b[reclen:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if typ == unix.DT_DIR && isPID(name) && p.matches(proc, "", name) {
				p.last = append(p.last[:0], name...)
				return nil
			}
		}
	}
}

// matches reports whether process pid has the name. Its /proc directory is dir+pid, relative to dirfd.
func (p *processChecker) matches(dirfd int, dir string, pid []byte) bool {
	comm, ok := p.read(dirfd, dir, pid, "/comm")
	if !ok || !bytes.Equal(bytes.TrimSuffix(comm, []byte("\n")), p.comm) {
		return false
	}
	if len(p.name) <= commLen {
		return true
	}
	// comm is cut to 15 bytes: compare argv[0]'s base name, the first NUL-terminated string of cmdline.
	cmdline, ok := p.read(dirfd, dir, pid, "/cmdline")
	if !ok {
		return false
	}
	if i := bytes.IndexByte(cmdline, 0); i >= 0 {
		cmdline = cmdline[:i]
	}
	if i := bytes.LastIndexByte(cmdline, '/'); i >= 0 {
		cmdline = cmdline[i+1:]
	}
	return string(cmdline) == p.name
}

// read reads the start of dir+pid+file, relative to dirfd, into p.file. A process that has gone since
// the directory was read, or that we may not look at, gives false.
func (p *processChecker) read(dirfd int, dir string, pid []byte, file string) ([]byte, bool) {
	p.path = append(append(append(p.path[:0], dir...), pid...), file...)
	fd, err := unix.Openat(dirfd, string(p.path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Read(fd, p.file)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, false
		}
		return p.file[:n], true
	}
}

// isPID reports whether a /proc entry names a process: all digits.
func isPID(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
