package test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// configMap is a configuration directory as Kubernetes mounts a ConfigMap: vrrpd.toml is a
// symlink to ..data/vrrpd.toml, and ..data a symlink to the directory of the current version.
type configMap struct {
	t   *testing.T
	dir string
}

// newConfigMap creates dir holding config as its first version.
func newConfigMap(t *testing.T, dir, config string) *configMap {
	t.Helper()
	m := &configMap{t: t, dir: dir}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m.update("..2026_12_04_v1", config)
	if err := os.Symlink("..data/vrrpd.toml", m.path()); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *configMap) path() string { return filepath.Join(m.dir, "vrrpd.toml") }

// update writes config as the version named version and makes it current as the kubelet does: a
// new ..data symlink renamed over the old one, in one step, and the old version removed.
func (m *configMap) update(version, config string) {
	m.t.Helper()
	old, _ := os.Readlink(filepath.Join(m.dir, "..data"))
	if err := os.Mkdir(filepath.Join(m.dir, version), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, version, "vrrpd.toml"), []byte(config), 0o644); err != nil {
		m.t.Fatal(err)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(m.dir, old)); err != nil {
			m.t.Fatal(err)
		}
	}
}

// With watch_config, a ConfigMap update (the ..data symlink swapped) is reloaded as SIGHUP would
// reload it: lb1's priority goes from 110 to 120 in place, so it stays master since the same
// moment, lb2 makes no transition and follows it at 120, and the client's pings go on. A later
// update that is invalid is logged once and changes nothing.
func TestWatchConfigMap(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	lb1 := func(prio int) string { return configWith("lb1", "watch_config = true\n", shared(prio, "200ms")) }
	dir := t.TempDir()
	m := newConfigMap(t, filepath.Join(dir, "config"), lb1(110))
	d1 := runDaemon(t, n.lb1, dir, m.path(), vrrpdBin)
	before := d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	backup := d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	ping, _ := n.watch(t, vip)
	transitions1, transitions2 := d1.transitions(), d2.transitions()

	m.update("..2026_12_04_v2", lb1(120))
	d1.waitFor(t, "VI_1", "at priority 120", 10*time.Second, func(in instance) bool { return in.Priority == 120 })
	d1.logged(t, time.Second, "the configuration file changed: reloading it")
	d2.waitFor(t, "VI_1", "following lb1 at 120", 5*time.Second, func(in instance) bool { return in.MasterPriority == 120 })
	time.Sleep(time.Second) // lb2 would have had time to act on anything it saw
	in, err := d1.instance("VI_1")
	if err != nil {
		t.Fatal(err)
	}
	if in.State != "MASTER" || in.Since != before.Since || in.EffectivePriority != 120 || d1.transitions() != transitions1 {
		t.Errorf("lb1 after the update: %s at %d since %s (was MASTER since %s), %d transitions",
			in.State, in.EffectivePriority, in.Since, before.Since, d1.transitions()-transitions1)
	}
	if in2, _ := d2.instance("VI_1"); in2.State != "BACKUP" || in2.Since != backup.Since || d2.transitions() != transitions2 {
		t.Errorf("lb2 after lb1's update: %s since %s (was BACKUP since %s), %d transitions",
			in2.State, in2.Since, backup.Since, d2.transitions()-transitions2)
	}
	if !hasAddr(t, n.lb1, vip) || hasAddr(t, n.lb2, vip) {
		t.Error("the VIP is not on lb1 alone")
	}
	stats := ping.Stop()
	t.Logf("client: %d replies, longest silence %s", stats.Received, stats.MaxGap)
	if stats.MaxGap > 500*time.Millisecond {
		t.Errorf("the client's longest silence was %s", stats.MaxGap)
	}

	m.update("..2026_12_04_v3", strings.Replace(lb1(130), "vrid = 51", "vrid = 300", 1))
	d1.logged(t, 10*time.Second, "reload: invalid configuration, still running the previous one", "vrid: 300 is out of range 1-255")
	time.Sleep(time.Second) // more events and settles: none may log it again
	if got := logLines(t, d1, "reload: invalid configuration"); got != 1 {
		t.Errorf("the invalid update was logged %d times, want once", got)
	}
	if in, _ := d1.instance("VI_1"); in.Priority != 120 || in.State != "MASTER" || in.Since != before.Since {
		t.Errorf("lb1 after the invalid update: %s at %d since %s", in.State, in.Priority, in.Since)
	}
}

// A daemon started with startup_delay = "3s" while lb2 is master waits: its status says so, it
// sends no advert, and lb2 stays master; but the VIP a killed predecessor left on it is removed
// at once. Then it takes part, preempts lb2 (110 over 100), and the client follows it.
func TestStartupDelay(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	lb1Addr := netip.MustParseAddr("10.0.4.20")
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	master := d2.waitState(t, "VI_1", "MASTER", 10*time.Second)
	transitions := d2.transitions()
	ping, capture := n.watch(t, vip)
	heard(t, capture, netip.MustParseAddr("10.0.4.21"))

	labtest.MustIP(t, n.lb1, "addr", "add", "10.0.4.99/24", "dev", "eth0") // a killed predecessor's
	d1 := startDaemon(t, n.lb1, configWith("lb1", "startup_delay = \"3s\"\n", shared(110, "200ms")))
	waited := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		events := capture.Events()
		in, err := d1.instance("VI_1")
		if err != nil { // not answering yet
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			continue
		}
		if !strings.HasPrefix(in.Reason, "waiting for startup_delay") {
			break
		}
		if waited == 0 && hasAddr(t, n.lb1, vip) {
			t.Error("lb1 kept the stale VIP while it waits for startup_delay")
		}
		waited++
		if in.State != "INIT" {
			t.Fatalf("lb1 is %s while it waits for startup_delay", in.State)
		}
		if sent := adverts(events, lb1Addr); len(sent) > 0 {
			t.Fatalf("lb1 sent an advert at %s while its status said %q", sent[0].Time.Format("15:04:05.000"), in.Reason)
		}
		if in2, _ := d2.instance("VI_1"); in2.State != "MASTER" || in2.Since != master.Since {
			t.Fatalf("lb2 is %s since %s while lb1 waits (was MASTER since %s)", in2.State, in2.Since, master.Since)
		}
	}
	if waited == 0 {
		t.Fatal("lb1's status never said it waits for startup_delay")
	}
	d1.logged(t, time.Second, "waiting for startup_delay before taking part", "startup_delay=3s")
	if got := d2.transitions(); got != transitions {
		t.Errorf("lb2 made %d transitions while lb1 waited", got-transitions)
	}

	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitState(t, "VI_1", "BACKUP", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb1.MAC)
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Fatalf("client cannot reach the VIP on lb1: %v", err)
	}
	if len(adverts(capture.Events(), lb1Addr)) == 0 {
		t.Error("the capture saw no advert from lb1 once it took part")
	}
}

// adverts lists the VRRP packets from src among events.
func adverts(events []lab.Event, src netip.Addr) []lab.Event {
	var out []lab.Event
	for _, e := range lab.Filter(events, lab.VRRP) {
		if e.IP == src {
			out = append(out, e)
		}
	}
	return out
}
