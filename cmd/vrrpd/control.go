package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The control socket speaks one JSON request and one JSON response per connection:
//
//	-> {"command": "status"}
//	<- {"status": {...}}          or  {"error": "..."}
//	-> {"command": "drain", "instances": ["VI_1"], "force": false}   ("undrain" likewise)
//	<- {"drained": [{"name": "VI_1", "master_down_interval": "3.99609375s"}]}
//
// New commands can be added without breaking old clients.
type request struct {
	Command   string   `json:"command"`
	Instances []string `json:"instances,omitempty"` // drain, undrain: none means all
	Force     bool     `json:"force,omitempty"`     // drain: yield at once
}

type response struct {
	Status  *statusDoc   `json:"status,omitempty"`
	Drained []drainedDoc `json:"drained,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// errNoDaemon means nothing answers on the control socket.
var errNoDaemon = errors.New("no vrrpd is running")

// The control socket's bounds. A request is one short line of JSON, and the people and programs
// that ask (an operator, shell completion, a monitoring poller) ask one at a time: whatever is
// beyond these bounds is refused, counted and logged, and never makes the daemon grow or wait.
const (
	maxRequest       = 4 << 10          // bytes of one request: the longest, a drain of many instances, is far below
	maxControlConns  = 16               // connections served at once; one more closes the oldest
	requestTimeout   = 2 * time.Second  // to send the whole request
	responseTimeout  = 10 * time.Second // to read the whole answer, a status of a thousand instances included
	acceptBackoffMax = time.Second      // the longest wait before accepting again after an error
)

// errRequestTooLarge is a request longer than maxRequest.
var errRequestTooLarge = fmt.Errorf("request longer than %d bytes", maxRequest)

// listenControl creates the control socket at path: mode 0600, or 0660 owned by group. Its
// directory must belong to root or to vrrpd's own user, and be writable by nobody else, since
// whoever can write there can replace the socket. A socket left behind by a killed daemon is
// replaced; one that still answers means another daemon runs; anything else at path (a file, a
// link, a directory) is refused and left as it is.
func listenControl(path, group string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	switch fi, err := os.Lstat(path); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("control socket: %w", err)
	case fi.Mode().Type() != os.ModeSocket:
		return nil, fmt.Errorf("control socket %s: something else is there (%s); remove it or choose another path", path, fi.Mode().Type())
	default:
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s answers: another vrrpd is running", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	mode, gid := os.FileMode(0o600), -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("control socket group: %w", err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("control socket group %s: %w", group, err)
		}
		mode = 0o660
	}
	// The umask gives the socket its final mode as it is created: it is never more open. Nothing
	// else runs yet that creates files.
	old := syscall.Umask(int(0o777 &^ mode))
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if gid >= 0 {
		// Without following a link: if someone swapped the path for one, it changes nothing else.
		if err := unix.Fchownat(unix.AT_FDCWD, path, -1, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: chown %s: %w", path, err)
		}
	}
	return ln, nil
}

// privateDir checks that only root and this process's user can change what dir holds.
func privateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	switch perm := fi.Mode().Perm(); {
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("its directory %s belongs to uid %d, who could replace it: chown root %[1]s", dir, st.Uid)
	case perm&0o002 != 0 || perm&0o020 != 0 && st.Gid != 0:
		return fmt.Errorf("its directory %s is writable by others (mode %04o): chmod go-w %[1]s", dir, perm)
	}
	return nil
}

// serveControl answers requests until ctx is done, then closes ln. It serves at most
// maxControlConns at once; Accept errors (EMFILE) are retried with a growing pause, as net/http
// does, so the control socket outlives a shortage of file descriptors.
func serveControl(ctx context.Context, ln net.Listener, refused *refusals, handle func(request) response) {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	live := &connLimit{max: maxControlConns}
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
			refused.refuse("accept", "accept failed; trying again", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		oldest := live.add(c)
		if oldest != nil {
			refused.refuse("connections", "too many connections at once: closed the oldest", "limit", maxControlConns)
			oldest.Close()
		}
		go func() {
			defer func() { live.remove(c); c.Close() }()
			c.SetReadDeadline(time.Now().Add(requestTimeout))
			req, err := readRequest(c)
			var resp response
			switch {
			case errors.Is(err, errRequestTooLarge):
				refused.refuse("size", "request too large", "limit", maxRequest)
				resp.Error = "bad request: " + err.Error()
			case errors.Is(err, os.ErrDeadlineExceeded):
				refused.refuse("timeout", "request not sent in time", "timeout", requestTimeout)
				return
			case err != nil:
				refused.refuse("malformed", "malformed request", "err", err)
				resp.Error = "bad request: " + err.Error()
			default:
				resp = handle(req)
			}
			c.SetWriteDeadline(time.Now().Add(responseTimeout))
			if err := writeResponse(c, resp); err != nil {
				refused.refuse("write", "answer not sent", "err", err)
			}
		}()
	}
}

// readRequest decodes one request of at most maxRequest bytes.
func readRequest(r io.Reader) (request, error) {
	var req request
	lr := &limitedReader{r: r, n: maxRequest}
	if err := json.NewDecoder(lr).Decode(&req); err != nil {
		if lr.over {
			return request{}, errRequestTooLarge
		}
		return request{}, err
	}
	return req, nil
}

// limitedReader reads at most n bytes, and remembers if the reader had more.
type limitedReader struct {
	r    io.Reader
	n    int
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.over = true
		return 0, errRequestTooLarge
	}
	n, err := l.r.Read(p[:min(len(p), l.n)])
	l.n -= n
	return n, err
}

// writeResponse writes resp as json.Encoder would, on one line, but a status document's
// instances one at a time, so that a document of many instances is never held encoded whole. The
// rest of the document is encoded with no instances, and they go into its empty list.
func writeResponse(w io.Writer, resp response) error {
	bw := bufio.NewWriter(w)
	if resp.Status == nil || len(resp.Status.Instances) == 0 {
		if err := json.NewEncoder(bw).Encode(resp); err != nil {
			return err
		}
		return bw.Flush()
	}
	rest := *resp.Status
	rest.Instances = []instanceDoc{}
	b, err := json.Marshal(response{Status: &rest})
	if err != nil {
		return err
	}
	// Found only where the key is: inside a string, the quotes would be escaped.
	at := bytes.Index(b, []byte(`"instances":[`)) + len(`"instances":[`)
	bw.Write(b[:at])
	for i, in := range resp.Status.Instances {
		if i > 0 {
			bw.WriteByte(',')
		}
		ib, err := json.Marshal(in)
		if err != nil {
			return err
		}
		bw.Write(ib)
	}
	bw.Write(b[at:])
	bw.WriteByte('\n')
	return bw.Flush()
}

// askDaemon sends one request to the daemon at path.
func askDaemon(path string, req request) (response, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return response{}, fmt.Errorf("%w (nothing answers on %s)", errNoDaemon, path)
		}
		return response{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return response{}, err
	}
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return response{}, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}
