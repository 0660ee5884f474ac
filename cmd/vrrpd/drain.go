package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/vrrp"
)

// drainedFile is where state_dir keeps the drained instances, so that a drain lasts across
// restarts and reboots until undrain: {"VI_1": "2026-12-04T19:40:00Z"}.
const drainedFile = "drained.json"

// drainPoll is how often `vrrpd drain` asks the daemon whether another router took over.
const drainPoll = 50 * time.Millisecond

// loadDrained reads the drained instances a previous run kept in dir; none if it kept none.
func loadDrained(dir string) (map[string]time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, drainedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var drained map[string]time.Time
	if err := json.Unmarshal(b, &drained); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, drainedFile), err)
	}
	return drained, nil
}

// saveDrained keeps the drained instances in dir, replacing the file at once (a crash leaves the
// old one or the new one, never half of either).
func saveDrained(dir string, drained map[string]time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(drained, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, drainedFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, drainedFile))
}

// drain answers a drain or undrain request: it changes the driver, then keeps the drained set in
// state_dir; if that cannot be written, the change is undone, since it would not last.
func (d *daemon) drain(req request) response {
	dir := d.config().Global.StateDir
	if req.Command == "undrain" {
		before := d.driver.DrainedSet()
		names, err := d.driver.Undrain(req.Instances)
		if err != nil {
			return response{Error: err.Error()}
		}
		if err := saveDrained(dir, d.driver.DrainedSet()); err != nil {
			d.driver.Restore(before)
			return response{Error: fmt.Sprintf("cannot keep the drain in %s, so nothing changed: %v", dir, err)}
		}
		d.log.Info("undrained by the operator", "instances", names)
		return response{Drained: drainedDocs(names, nil)}
	}
	drained, err := d.driver.Drain(req.Instances, time.Now(), req.Force)
	if err != nil {
		return response{Error: err.Error()}
	}
	var names []string
	for _, x := range drained {
		names = append(names, x.Name)
	}
	if err := saveDrained(dir, d.driver.DrainedSet()); err != nil {
		d.driver.Undrain(names)
		return response{Error: fmt.Sprintf("cannot keep the drain in %s, so nothing changed: %v", dir, err)}
	}
	d.log.Info("drained by the operator", "instances", names, "force", req.Force)
	return response{Drained: drainedDocs(names, drained)}
}

// drainedDoc is one instance a drain or undrain request changed, and, for a drain, the longest
// time a peer may take to take over.
type drainedDoc struct {
	Name               string `json:"name"`
	MasterDownInterval string `json:"master_down_interval,omitempty"`
}

func drainedDocs(names []string, drained []vrrp.Drained) []drainedDoc {
	out := make([]drainedDoc, len(names))
	for i, n := range names {
		out[i].Name = n
		if i < len(drained) {
			out[i].MasterDownInterval = drained[i].MasterDownInterval.String()
		}
	}
	return out
}

// runDrain is `vrrpd drain` and `vrrpd undrain`: it asks the daemon at socket, and for a drain
// waits until another router has taken over every named instance that was master. It returns
// the exit code and writes what happened to stdout, and why it failed to stderr.
func runDrain(socket string, names []string, undrain, force bool, timeout time.Duration, stdout, stderr io.Writer) int {
	cmd := "drain"
	if undrain {
		cmd = "undrain"
	}
	resp, err := askDaemon(socket, request{Command: cmd, Instances: names, Force: force})
	if err != nil {
		fmt.Fprintf(stderr, "vrrpd %s: %v\n", cmd, err)
		return 1
	}
	if undrain {
		for _, x := range resp.Drained {
			fmt.Fprintf(stdout, "%s undrained: its priority is what the configuration and its trackers say\n", x.Name)
		}
		return 0
	}
	if timeout == 0 {
		for _, x := range resp.Drained {
			mdi, _ := time.ParseDuration(x.MasterDownInterval)
			timeout = max(timeout, 3*mdi)
		}
	}
	pending := map[string]bool{}
	for _, x := range resp.Drained {
		pending[x.Name] = true
	}
	deadline := time.Now().Add(timeout)
	var last map[string]instanceDoc
	for {
		st, err := askDaemon(socket, request{Command: "status"})
		if err != nil {
			fmt.Fprintf(stderr, "vrrpd drain: %v\n", err)
			return 1
		}
		last = map[string]instanceDoc{}
		for _, in := range st.Status.Instances {
			if pending[in.Name] {
				last[in.Name] = in
				if handedOver(in) {
					delete(pending, in.Name)
					fmt.Fprintf(stdout, "%s drained: %s\n", in.Name, drainedState(in))
				}
			}
		}
		if len(pending) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(drainPoll)
	}
	left := slices.Sorted(func(yield func(string) bool) {
		for n := range pending {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range left {
		fmt.Fprintf(stderr, "vrrpd drain: %s is still %s: no other router took over within %s. The peer may be down, "+
			"or have preempt off (a backup with preempt off never takes over from a live master). %s stays drained and keeps "+
			"serving, and hands over whenever a peer can take over; `vrrpd drain --force %s` yields at once.\n",
			n, last[n].State, timeout, n, n)
	}
	return 1
}

// handedOver reports whether a drained instance no longer serves: a backup under another
// master, or out of the election (FAULT).
func handedOver(in instanceDoc) bool {
	return in.State == "BACKUP" && in.Master != "" && in.Master != in.Source || in.State == "FAULT"
}

func drainedState(in instanceDoc) string {
	if in.State == "FAULT" {
		return "in FAULT (" + in.Reason + "), it serves nothing"
	}
	return "BACKUP, " + in.Master + " is master"
}

// cmdDrain is `vrrpd drain`, and with undrain `vrrpd undrain`.
func cmdDrain(o drainOptions, stdout, stderr io.Writer, undrain bool) int {
	return runDrain(o.socket, o.instances, undrain, o.force, o.timeout, stdout, stderr)
}
