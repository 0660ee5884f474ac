package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The control socket speaks one JSON request and one JSON response per connection:
//
//	-> {"command": "status"}
//	<- {"status": {...}}          or  {"error": "..."}
//
// New commands can be added without breaking old clients.
type request struct {
	Command string `json:"command"`
}

type response struct {
	Status *statusDoc `json:"status,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// errNoDaemon means nothing answers on the control socket.
var errNoDaemon = errors.New("no vrrpd is running")

// listenControl creates the control socket at path: mode 0600, or 0660 owned by group. A socket
// left behind by a killed daemon is replaced; one that still answers means another daemon runs.
func listenControl(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s answers: another vrrpd is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
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
	// The umask keeps the socket private from the moment it exists; chmod then sets the mode.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// serveControl answers requests until ctx is done, then closes ln.
func serveControl(ctx context.Context, ln net.Listener, log *slog.Logger, handle func(request) response) {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				log.Error("control socket accept failed", "err", err)
			}
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var req request
			resp := response{}
			if err := json.NewDecoder(c).Decode(&req); err != nil {
				resp.Error = "bad request: " + err.Error()
			} else {
				resp = handle(req)
			}
			if err := writeResponse(c, resp); err != nil {
				log.Debug("control socket: answer not sent", "err", err)
			}
		}()
	}
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
