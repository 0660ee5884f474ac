package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reload rewrites the daemon's configuration and sends SIGHUP.
func (d *daemon) reload(config string) {
	d.t.Helper()
	if err := os.WriteFile(d.conf, []byte(config), 0o644); err != nil {
		d.t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		d.t.Fatal(err)
	}
}

// `vrrpd status` answers "who is master and why" on both nodes, as a table and as JSON.
func TestStatus(t *testing.T) {
	t.Parallel()
	d1, d2 := startPair(t, newLAN(t, false), "100ms")
	for _, c := range []struct {
		d    *daemon
		line string
	}{
		{d1, `VI_1      eth0       51    MASTER  110       10.0.4.20  10.0.4.99/24`},
		{d2, `VI_1      eth0       51    BACKUP  100       10.0.4.20  10.0.4.99/24`},
	} {
		out, err := exec.Command(vrrpdBin, "status", "--socket", c.d.socket()).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", c.d.name, err, out)
		}
		lines := strings.Split(string(out), "\n")
		if !strings.HasPrefix(lines[0], "router "+c.d.name+", vrrpd ") || !strings.HasPrefix(lines[1], "INSTANCE  INTERFACE  VRID  STATE") ||
			!strings.HasPrefix(lines[2], c.line) {
			t.Errorf("%s's table:\n%s", c.d.name, out)
		}
	}
	s, err := d2.status()
	if err != nil {
		t.Fatal(err)
	}
	in := s.Instances[0]
	if s.RouterID != "lb2" || in.State != "BACKUP" || in.Reason != "master 10.0.4.20 has higher priority 110 (ours 100)" ||
		in.AdvertsReceived == 0 || in.MasterInterval != "100ms" || len(in.Trackers) != 1 || in.Trackers[0] != (tracker{"interface", "eth0", true, 0}) {
		t.Errorf("lb2's status: %+v", s)
	}
	if fi, err := os.Stat(d2.socket()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

// A reload that adds an instance never touches the running one: its VIP, polled every 2ms,
// never disappears, and it stays master since the same moment. An invalid reload changes
// nothing and lists every problem in the log.
func TestReloadWithoutFlap(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	web := vr{name: "web", vrid: 51, prio: 110, interval: "100ms", vips: []string{"10.0.4.99/24"}}
	api := vr{name: "api", vrid: 52, prio: 110, interval: "100ms", vips: []string{"10.0.4.98/24"}}
	d1 := startDaemon(t, n.lb1, config("lb1", web))
	before := d1.waitState(t, "web", "MASTER", 5*time.Second)

	stop := make(chan struct{})
	missing := make(chan string, 1)
	go func() { // poll the VIP on lb1's eth0 through the reload
		for {
			select {
			case <-stop:
				close(missing)
				return
			default:
			}
			if !hasAddr(t, n.lb1, vip) {
				missing <- time.Now().Format(time.StampMicro)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	d1.reload(config("lb1", web, api))
	d1.waitState(t, "api", "MASTER", 5*time.Second)
	close(stop)
	if at, ok := <-missing; ok {
		t.Fatalf("the running instance's VIP disappeared during the reload, at %s", at)
	}
	after, _ := d1.instance("web")
	if after.State != "MASTER" || after.Since != before.Since {
		t.Errorf("web after the reload: %s since %s, want MASTER since %s", after.State, after.Since, before.Since)
	}
	d1.logged(t, 2*time.Second, `msg="configuration applied" added=[api]`)

	d1.reload(config("lb1", web, api) + "\n[[instance]]\nname = \"bad\"\nvrid = 300\nprioritty = 5\n")
	d1.logged(t, 2*time.Second, `problem="instance \"bad\": vrid: 300 is out of range 1-255"`)
	d1.logged(t, 2*time.Second, `problem="instance \"bad\": unknown key \"prioritty\" (did you mean \"priority\"?)"`)
	s, err := d1.status()
	if err != nil || len(s.Instances) != 2 || s.Instances[0].State != "MASTER" || s.Instances[1].State != "MASTER" {
		t.Errorf("after an invalid reload: %+v %v", s, err)
	}
	d1.reload(config("lb1", web))
	d1.logged(t, 2*time.Second, `removed=[api]`)
	if hasAddr(t, n.lb1, netip.MustParseAddr("10.0.4.98")) {
		t.Error("the removed instance's VIP stayed")
	}
}

// A reload that raises the backup's priority above the master's makes it preempt, in place.
func TestReloadPriority(t *testing.T) {
	t.Parallel()
	d1, d2 := startPair(t, newLAN(t, false), "100ms")
	d2.reload(config("lb2", shared(120, "100ms")))
	in := d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	if in.Priority != 120 || in.Reason != "preempted master 10.0.4.20, whose priority 110 is lower than ours (120)" {
		t.Errorf("lb2 after the reload: priority %d, reason %q", in.Priority, in.Reason)
	}
	d1.waitState(t, "VI_1", "BACKUP", 2*time.Second)
	d2.logged(t, time.Second, `msg="reload: instance changed" instance=VI_1 changes="[priority: 100 -> 120]" restart=false`)
}

// Prometheus metrics: state, priorities and the counters, moving.
func TestMetrics(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1 := startDaemon(t, n.lb1, configWith("lb1", "metrics = \"10.0.4.20:9650\"\n", shared(110, "100ms")))
	d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
	scrape := func() map[string]float64 {
		t.Helper()
		// The socket must be created in lb1's namespace; net/http would dial from another
		// goroutine, so speak HTTP on a connection opened here.
		var conn net.Conn
		if err := n.lb1.Do(func() (err error) {
			conn, err = net.Dial("tcp", "10.0.4.20:9650")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "GET /metrics HTTP/1.0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
		}
		m := map[string]float64{}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
				v, _ := strconv.ParseFloat(line[i+1:], 64)
				m[line[:i]] = v
			}
		}
		return m
	}
	// Prometheus prints labels in alphabetical order.
	series := func(name, label string) string {
		if label != "" {
			label += ","
		}
		return name + `{instance="VI_1",interface="eth0",` + label + `vrid="51"}`
	}
	first := scrape()
	want := map[string]float64{
		series("vrrpd_instance_state", `state="MASTER"`):                         1,
		series("vrrpd_instance_state", `state="BACKUP"`):                         0,
		series("vrrpd_instance_priority", ""):                                    110,
		series("vrrpd_instance_effective_priority", ""):                          110,
		series("vrrpd_transitions_total", `to="MASTER"`):                         1,
		series("vrrpd_garp_bursts_total", ""):                                    1,
		series("vrrpd_garp_packets_total", ""):                                   5,
		series("vrrpd_drops_total", `reason="ttl"`):                              0,
		`vrrpd_socket_drops_total{family="ipv4",interface="eth0",reason="vrid"}`: 0,
	}
	for k, v := range want {
		if got, ok := first[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the snapshot's second
	second := scrape()
	k := series("vrrpd_adverts_sent_total", "")
	if second[k]-first[k] < 5 {
		t.Errorf("adverts sent moved from %v to %v in 1.5s at 100ms", first[k], second[k])
	}
	if first[series("vrrpd_instance_last_transition_timestamp_seconds", "")] == 0 {
		t.Error("no last transition timestamp")
	}
}
