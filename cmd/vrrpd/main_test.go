package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/vrrp"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckCommand(t *testing.T) {
	valid := writeFile(t, "ok.toml", `
[[instance]]
name = "VI_1"
interface = "eth0"
vrid = 51
vips = ["10.0.4.99/24"]
`)
	invalid := writeFile(t, "bad.toml", `
[[instance]]
name = "VI_1"
interface = "eth0"
vrid = 300
priority = 0
prioritty = 5
vips = ["10.0.4.99/24"]
`)
	tests := []struct {
		name   string
		path   string
		code   int
		stdout string
		stderr []string
	}{
		{"valid", valid, 0, valid + " is valid: 1 instance(s), 0 check(s), 0 sync group(s)\n", nil},
		{"every problem listed", invalid, 1, "", []string{
			invalid + ": 3 problem(s):",
			`  instance "VI_1": vrid: 300 is out of range 1-255`,
			`  instance "VI_1": priority: 0 is out of range 1-255`,
			`  instance "VI_1": unknown key "prioritty" (did you mean "priority"?)`,
		}},
		{"missing file", filepath.Join(t.TempDir(), "none.toml"), 1, "", []string{"vrrpd: open "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"check", "--config", tt.path}, nil, &stdout, &stderr); code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			for _, line := range tt.stderr {
				if !strings.Contains(stderr.String(), line) {
					t.Errorf("stderr lacks %q:\n%s", line, stderr.String())
				}
			}
		})
	}
}

// With no daemon, `vrrpd status` says so in one line and exits 1.
func TestStatusWithoutDaemon(t *testing.T) {
	var stdout, stderr bytes.Buffer
	sock := filepath.Join(t.TempDir(), "vrrpd.sock")
	if code := run([]string{"status", "--socket", sock}, nil, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "vrrpd status: no vrrpd is running (nothing answers on " + sock + ")\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q, want stderr %q", stdout.String(), stderr.String(), want)
	}
}

// The control socket is private (0600), replaces a stale socket, and refuses to start a
// second daemon while the first answers.
func TestControlSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "vrrpd.sock")
	os.MkdirAll(filepath.Dir(sock), 0o755)
	staleSocket(t, sock) // left behind by a killed daemon
	ln, err := listenControl(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("socket mode %o, want 600", mode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serveControl(ctx, ln, newRefusals(slog.New(slog.DiscardHandler), "control"), func(req request) response {
		if req.Command == "status" {
			return response{Status: &statusDoc{RouterID: "lb1"}}
		}
		return response{Error: "unknown command " + req.Command}
	})
	if _, err := listenControl(sock, ""); err == nil || !strings.Contains(err.Error(), "another vrrpd is running") {
		t.Errorf("second listen: %v", err)
	}
	resp, err := askDaemon(sock, request{Command: "status"})
	if err != nil || resp.Status.RouterID != "lb1" {
		t.Errorf("status: %+v, %v", resp, err)
	}
	if _, err := askDaemon(sock, request{Command: "dance"}); err == nil || err.Error() != "unknown command dance" {
		t.Errorf("unknown command: %v", err)
	}
}

func testStatus() vrrp.InstanceStatus {
	s := vrrp.InstanceStatus{
		Config: vrrp.InstanceConfig{
			Name: "VI_1", Interface: "eth0", VRID: 51, Src: netip.MustParseAddr("10.0.4.20"),
			Machine: vrrp.Config{Version: vrrp.V3, Priority: 100, Interval: time.Second},
			VIPs:    []netip.Prefix{netip.MustParsePrefix("10.0.4.99/24")},
		},
		Status: vrrp.Status{
			State: vrrp.Master, Since: time.Date(2026, 11, 22, 4, 17, 43, 0, time.UTC),
			Reason: "master down timer expired", Priority: 80, Master: netip.MustParseAddr("10.0.4.20"),
			MasterPriority: 80, MasterInterval: time.Second,
		},
	}
	s.AdvertsSent, s.Drops[vrrp.DropTTL], s.Transitions[vrrp.Master] = 1234, 3, 1
	return s
}

// The JSON document carries SPEC.md's stable fields, with SPEC's names and formats.
func TestStatusJSON(t *testing.T) {
	b, err := json.Marshal(instanceDocOf(testStatus()))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	want := map[string]any{
		"name": "VI_1", "interface": "eth0", "vrid": 51.0, "version": 3.0,
		"state": "MASTER", "priority": 100.0, "effective_priority": 80.0,
		"master": "10.0.4.20", "vips": []any{"10.0.4.99/24"},
		"since": "2026-11-22T04:17:43Z", "reason": "master down timer expired",
		"advert_interval": "1s", "master_advert_interval": "1s",
		"adverts_sent": 1234.0, "adverts_received": 0.0, "trackers": []any{},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	drops, _ := got["drops"].(map[string]any)
	for _, k := range []string{"ttl", "checksum", "version", "auth", "interval", "length", "peer"} {
		if _, ok := drops[k]; !ok {
			t.Errorf("drops lacks %q: %v", k, drops)
		}
	}
	if drops["ttl"] != 3.0 {
		t.Errorf("drops.ttl = %v, want 3", drops["ttl"])
	}
}

func TestStatusTable(t *testing.T) {
	in := instanceDocOf(testStatus())
	in.PriorityReason = "check nginx down (weight -20): priority 100 -> 80"
	doc := &statusDoc{RouterID: "lb1", Version: "v1", PID: 42, Instances: []instanceDoc{in}}
	var b bytes.Buffer
	writeTable(&b, doc, time.Date(2026, 11, 22, 4, 20, 0, 0, time.UTC))
	want := []string{
		"router lb1, vrrpd v1, pid 42",
		"INSTANCE  INTERFACE  VRID  STATE   PRIORITY  MASTER     VIPS          FOR    REASON",
		"VI_1      eth0       51    MASTER  100→80    10.0.4.20  10.0.4.99/24  2m17s  master down timer expired (check nginx down (weight -20): priority 100 -> 80)",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(b.String()), "\n")); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
