package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// writeResponse writes what json.Encoder writes, byte for byte, though it encodes a status's
// instances one at a time; strings that look like the key it looks for do not mislead it.
func TestWriteResponse(t *testing.T) {
	tricky := `"instances":[],<b>&"`
	doc := func(n int) *statusDoc {
		d := &statusDoc{RouterID: tricky, Version: "v1", PID: 7, Started: "2026-11-22T10:00:00Z", Instances: []instanceDoc{}, Sockets: []socketDoc{{Interface: "eth0"}}}
		for i := range n {
			d.Instances = append(d.Instances, instanceDoc{Name: tricky, Interface: "eth0", VRID: i + 1, VIPs: []string{"10.0.4.99/24"}, Reason: "line\nbreak"})
		}
		return d
	}
	for _, resp := range []response{
		{Error: "unknown command \"x\""},
		{Status: doc(0)},
		{Status: doc(1)},
		{Status: doc(3)},
	} {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(resp); err != nil {
			t.Fatal(err)
		}
		if err := writeResponse(&got, resp); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.String(), got.String()); diff != "" {
			t.Errorf("writeResponse differs from json.Encoder (-want +got):\n%s", diff)
		}
	}
}

// staleSocket leaves a socket at path that nothing listens on, as a killed daemon does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}

// listenControl refuses a path that holds anything but a stale socket, and leaves it as it is;
// and a directory that others could write in.
func TestListenControlRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("precious"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(file, link)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	for _, tt := range []struct {
		path, want string
	}{
		{file, "something else is there"},
		{link, "something else is there (L"},
		{sub, "something else is there (d"},
		{filepath.Join(open, "vrrpd.sock"), "is writable by others (mode 0777): chmod go-w"},
	} {
		ln, err := listenControl(tt.path, "")
		if err == nil {
			ln.Close()
			t.Errorf("%s: listened", tt.path)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.path, err, tt.want)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "precious" {
		t.Errorf("the file became %q", b)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Errorf("the link is gone: %v", err)
	}
}

// serveControl refuses a request that is too large, a malformed one, one that never comes, and
// connections beyond its limit; each refusal is counted, and it still answers afterwards.
func TestServeControlBounds(t *testing.T) {
	release := make(chan struct{})
	sock, refused := serveTestControl(t, nil, func(req request) response {
		if req.Command == "hold" {
			<-release
		}
		return response{Status: &statusDoc{RouterID: "lb1"}}
	})

	big := `{"command": "status", "x": "` + strings.Repeat("a", 1<<20) + `"}`
	if got := rawAsk(t, sock, big); !strings.Contains(got, "bad request: request longer than 4096 bytes") {
		t.Errorf("a 1 MiB request: %q", got)
	}
	if got := rawAsk(t, sock, "{nonsense"); !strings.Contains(got, "bad request") {
		t.Errorf("a malformed request: %q", got)
	}
	// A client that connects and says nothing is cut off at requestTimeout.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(requestTimeout + 5*time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a silent client: read %d, %v; want the daemon to close it", n, err)
	}
	c.Close()

	// maxControlConns requests held at once: the next connection closes the oldest, and is
	// answered.
	var held []net.Conn
	for range maxControlConns {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(c, `{"command": "hold"}`)
		held = append(held, c)
		time.Sleep(10 * time.Millisecond) // accepted in this order
	}
	if got := rawAsk(t, sock, `{"command": "status"}`); !strings.Contains(got, `"router_id":"lb1"`) {
		t.Errorf("a connection beyond the limit: %q, want an answer", got)
	}
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the oldest connection: %v, want it closed", err)
	}
	close(release)
	for _, c := range held {
		c.Close()
	}
	if resp, err := askDaemon(sock, request{Command: "status"}); err != nil || resp.Status.RouterID != "lb1" {
		t.Errorf("after the refusals: %+v, %v", resp, err)
	}
	got := refused.counted()
	for _, reason := range []string{"size", "malformed", "timeout", "connections"} {
		if got[reason] == 0 {
			t.Errorf("refusals %v: none counted for %s", got, reason)
		}
	}
}

// rawAsk sends text as a request and returns the answer.
func rawAsk(t *testing.T, sock, text string) string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, text+"\n") // the daemon may stop reading a long one
	b, _ := io.ReadAll(c)
	return string(b)
}

// Accept errors, as EMFILE gives, do not end the control server: it waits and accepts again.
func TestServeControlAcceptErrors(t *testing.T) {
	flaky := func(ln net.Listener) net.Listener { return &flakyListener{Listener: ln, fail: 5} }
	sock, refused := serveTestControl(t, flaky, func(req request) response {
		return response{Status: &statusDoc{RouterID: "lb1"}}
	})
	if resp, err := askDaemon(sock, request{Command: "status"}); err != nil || resp.Status.RouterID != "lb1" {
		t.Errorf("after 5 accept errors: %+v, %v", resp, err)
	}
	if got := refused.counted()["accept"]; got != 5 {
		t.Errorf("%d accept errors counted, want 5", got)
	}
}

// serveTestControl serves handle on a control socket in a temporary directory until the test
// ends, through wrap's listener unless wrap is nil, and returns the socket's path and what it
// refused.
func serveTestControl(t *testing.T, wrap func(net.Listener) net.Listener, handle func(request) response) (string, *refusals) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vrrpd.sock")
	ln, err := listenControl(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	refused := newRefusals(slog.New(slog.DiscardHandler), "control")
	go serveControl(ctx, ln, refused, handle)
	return sock, refused
}

type flakyListener struct {
	net.Listener
	fail int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fail > 0 {
		l.fail--
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// A request is decoded from at most maxRequest bytes; anything else the socket gets is refused
// with an error, never a panic.
func FuzzControlRequest(f *testing.F) {
	f.Add([]byte(`{"command": "status"}` + "\n"))
	f.Add([]byte(`{"command": "drain", "instances": ["VI_1"], "timeout": "3s", "force": true}`))
	f.Add([]byte(`{"command":`))
	f.Add([]byte(strings.Repeat("[", 5000)))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := readRequest(bytes.NewReader(in))
		if err != nil {
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readRequest(bytes.NewReader(b))
		if err != nil || !cmp.Equal(req, again, cmpopts.EquateEmpty()) { // [] and none both mean all instances
			t.Fatalf("%q decoded to %+v, which encodes to %s and decodes to %+v, %v", in, req, b, again, err)
		}
	})
}
