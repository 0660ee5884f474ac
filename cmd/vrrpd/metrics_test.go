package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vrrpd/vrrpd/vip"

	"github.com/vrrpd/vrrpd/vrrp"
)

// The hand-written exposition is what Prometheus's own parser reads and its linter accepts: every
// family whole and typed, labels escaped, the values where they belong. (Prometheus's libraries
// are only the tests' dependencies; the daemon does not link them.)
func TestExposition(t *testing.T) {
	master := vrrp.InstanceStatus{
		Config: vrrp.InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 51, Machine: vrrp.Config{Priority: 110}},
		Status: vrrp.Status{State: vrrp.Master, Priority: 120, Since: time.Unix(1700000000, 500_000_000)},
		Counters: vrrp.Counters{
			AdvertsSent: 42, Announces: 1, Announced: 5,
			Duplicates: []vip.Duplicate{{VIP: netip.MustParseAddr("10.0.4.99"), MACs: []net.HardwareAddr{{2, 0, 0, 0, 0, 9}}, Seen: 400}},
		},
	}
	master.Drops[vrrp.DropTTL] = 3
	master.Transitions[vrrp.Master] = 1
	backup := vrrp.InstanceStatus{
		Config: vrrp.InstanceConfig{Name: "VI_2", Interface: "eth1", VRID: 52, Machine: vrrp.Config{Priority: 100}},
		Status: vrrp.Status{State: vrrp.Backup, Priority: 100},
	}
	sock := vrrp.SocketStatus{Interface: "eth0"}
	sock.Drops[vrrp.DropVRID] = 7
	checks := map[string]bool{"nginx": true, `odd "name"\` + "\n": false}

	control := newRefusals(slog.New(slog.DiscardHandler), "control")
	control.refuse("size", "request too large")

	var buf bytes.Buffer
	e := exposition{bufio.NewWriter(&buf)}
	e.vrrp([]vrrp.InstanceStatus{master, backup}, []vrrp.SocketStatus{sock}, checks)
	e.refusals([]*refusals{control})
	e.process()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	text := buf.String()

	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser rejects the exposition: %v\n%s", err, text)
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v, %v", problems, err)
	}

	// value finds the one series of family name with exactly these labels.
	value := func(name string, labels map[string]string) (float64, bool) {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Errorf("no family %s", name)
			return 0, false
		}
	series:
		for _, m := range f.Metric {
			if len(m.Label) != len(labels) {
				continue
			}
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.Counter.GetValue(), true
			case dto.MetricType_GAUGE:
				return m.Gauge.GetValue(), true
			}
		}
		return 0, false
	}
	inst := func(name, ifname, vrid string, more ...string) map[string]string {
		l := map[string]string{"instance": name, "interface": ifname, "vrid": vrid}
		for i := 0; i+1 < len(more); i += 2 {
			l[more[i]] = more[i+1]
		}
		return l
	}
	vi1 := func(more ...string) map[string]string { return inst("VI_1", "eth0", "51", more...) }
	vi2 := func(more ...string) map[string]string { return inst("VI_2", "eth1", "52", more...) }
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vrrpd_instance_state", vi1("state", "MASTER"), 1},
		{"vrrpd_instance_state", vi1("state", "BACKUP"), 0},
		{"vrrpd_instance_state", vi2("state", "BACKUP"), 1},
		{"vrrpd_instance_priority", vi1(), 110},
		{"vrrpd_instance_effective_priority", vi1(), 120},
		{"vrrpd_instance_last_transition_timestamp_seconds", vi1(), 1700000000.5},
		{"vrrpd_adverts_sent_total", vi1(), 42},
		{"vrrpd_drops_total", vi1("reason", "ttl"), 3},
		{"vrrpd_drops_total", vi2("reason", "ttl"), 0},
		{"vrrpd_socket_drops_total", map[string]string{"interface": "eth0", "family": "ipv4", "reason": "vrid"}, 7},
		{"vrrpd_transitions_total", vi1("to", "MASTER"), 1},
		{"vrrpd_garp_bursts_total", vi1(), 1},
		{"vrrpd_garp_packets_total", vi1(), 5},
		{"vrrpd_send_errors_total", vi2(), 0},
		{"vrrpd_duplicate_vip", vi1("vip", "10.0.4.99", "mac", "02:00:00:00:00:09"), 1},
		{"vrrpd_duplicate_vip_answers", vi1("vip", "10.0.4.99"), 400},
		{"vrrpd_check_up", map[string]string{"check": "nginx"}, 1},
		{"vrrpd_check_up", map[string]string{"check": `odd "name"\` + "\n"}, 0},
		{"vrrpd_refused_total", map[string]string{"door": "control", "reason": "size"}, 1},
		{"go_goroutines", nil, -1},
		{"process_resident_memory_bytes", nil, -1},
		{"process_cpu_seconds_total", nil, -1},
	} {
		got, ok := value(c.name, c.labels)
		switch {
		case !ok:
			t.Errorf("%s%v: missing", c.name, c.labels)
		case c.want >= 0 && got != c.want:
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		case c.want < 0 && got <= 0:
			t.Errorf("%s = %v, want more than 0", c.name, got)
		}
	}
	// A backup that has never changed state has no transition time, and its drops exclude the
	// socket's own reason.
	if _, ok := value("vrrpd_instance_last_transition_timestamp_seconds", vi2()); ok {
		t.Error("VI_2 has a transition timestamp though it never changed state")
	}
	if _, ok := value("vrrpd_drops_total", vi1("reason", "vrid")); ok {
		t.Error("vrrpd_drops_total has reason vrid, which only a socket counts")
	}
	// Prometheus prints labels sorted by name; so do we, so that a series is always the same line.
	if want := `vrrpd_instance_state{instance="VI_1",interface="eth0",state="MASTER",vrid="51"} 1` + "\n"; !strings.Contains(text, want) {
		t.Errorf("no line %q in\n%s", want, text)
	}
}

// A scrape with nothing configured is still a valid, empty-bodied set of families.
func TestExpositionEmpty(t *testing.T) {
	var buf bytes.Buffer
	e := exposition{bufio.NewWriter(&buf)}
	e.vrrp(nil, nil, nil)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(&buf); err != nil {
		t.Errorf("Prometheus's parser rejects an empty exposition: %v", err)
	}
}

// countingDriver counts the snapshots a scrape takes.
type countingDriver struct{ calls atomic.Int32 }

func (c *countingDriver) Status() (*vrrp.Snapshot, error) {
	c.calls.Add(1)
	return &vrrp.Snapshot{}, nil
}

// Scrapes read the driver's state at most once a second, however many there are; connections
// beyond the limit are closed and counted; the server's timeouts are set.
func TestMetricsServerBounds(t *testing.T) {
	drv := &countingDriver{}
	refused := newRefusals(slog.New(slog.DiscardHandler), "metrics")
	h := &metricsHandler{driver: drv, refused: []*refusals{refused}}
	for range 50 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("scrape: %d", rec.Code)
		}
	}
	if n := drv.calls.Load(); n != 1 {
		t.Errorf("50 scrapes at once read the driver %d times, want 1", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := serveMetrics(ctx, addr, h, refused, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	for range metricsConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		time.Sleep(10 * time.Millisecond) // accepted in this order
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// One more closes the oldest, and is answered.
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprintf(extra, "GET /metrics HTTP/1.0\r\n\r\n")
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(extra); !bytes.HasPrefix(b, []byte("HTTP/1.0 200 OK")) {
		t.Errorf("a connection beyond the limit: %q, want a scrape", b)
	}
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the oldest connection: %v, want the server to close it", err)
	}
	if got := refused.counted()["connections"]; got != 1 {
		t.Errorf("%d refused connections counted, want 1", got)
	}
	// The others are cut off at the read timeout.
	held[1].SetReadDeadline(time.Now().Add(metricsReadTimeout + 5*time.Second))
	if _, err := held[1].Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a silent connection: %v, want the server to close it", err)
	}
	for _, a := range []struct {
		addr string
		want bool
	}{{"127.0.0.1:9650", false}, {"[::1]:9650", false}, {"0.0.0.0:9650", true}, {"10.0.4.20:9650", true}} {
		tcp, _ := net.ResolveTCPAddr("tcp", a.addr)
		if got := beyondLoopback(tcp); got != a.want {
			t.Errorf("beyondLoopback(%s) = %v", a.addr, got)
		}
	}
}
