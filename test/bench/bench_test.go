package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/configs/keepalived"
	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/vrrp"
)

func us(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// keepalived 2.2.7's Skew_Time (vrrp.h, VRRP_TIMER_SKEW) is in whole microseconds, and for v3 it
// scales the master's interval in centiseconds by 625/16 without rounding to centiseconds.
// vrrpd's is exact, in nanoseconds (RFC 5798 §6.1): the two agree to the microsecond.
func TestIdeals(t *testing.T) {
	ka, ours := keepalivedImpl("keepalived"), vrrpdImpl("vrrpd")
	for _, tc := range []struct {
		v                vrrp.Version
		prio             uint8
		interval         time.Duration
		kaSkew, oursSkew time.Duration
		kaDown, oursDown time.Duration
	}{
		// (256-100)/256 s = 609375µs exactly, for both.
		{vrrp.V2, 100, time.Second, us(609375), us(609375), us(3609375), us(3609375)},
		// 156 × 10cs × 625/16 = 60937.5µs: keepalived drops the half microsecond.
		{vrrp.V3, 100, ms(100), us(60937), us(60937) + 500, us(360937), us(360937) + 500},
		{vrrp.V3, 100, ms(30), us(18281), us(18281) + 250, us(108281), us(108281) + 250},
		// 156 × 1cs × 625/16 = 6093.75µs.
		{vrrp.V3, 100, ms(10), us(6093), us(6093) + 750, us(36093), us(36093) + 750},
		// The three routers' backups, 90 and 80, at 100ms: 64.84375ms and 68.75ms.
		{vrrp.V3, 90, ms(100), us(64843), us(64843) + 750, us(364843), us(364843) + 750},
		{vrrp.V3, 80, ms(100), us(68750), us(68750), us(368750), us(368750)},
		{vrrp.V2, 254, time.Second, us(7812), us(7812) + 500, us(3007812), us(3007812) + 500},
	} {
		got := []time.Duration{ka.skew(tc.v, tc.prio, tc.interval), ours.skew(tc.v, tc.prio, tc.interval),
			ka.masterDown(tc.v, tc.prio, tc.interval), ours.masterDown(tc.v, tc.prio, tc.interval)}
		want := []time.Duration{tc.kaSkew, tc.oursSkew, tc.kaDown, tc.oursDown}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("v%d priority %d at %s: skew and master down, keepalived and vrrpd (-want +got):\n%s",
				tc.v, tc.prio, tc.interval, diff)
		}
	}
}

// Both daemons get configurations that mean the same: keepalived's, converted by vrrpd's own
// converter, parses to exactly the instances of vrrpd's.
func TestConfigsAgree(t *testing.T) {
	for _, tc := range []struct {
		name      string
		insts     []inst
		garpDelay time.Duration
	}{
		{"v2 1s", []inst{{"VI_1", "eth0", 51, vrrp.V2, time.Second, []netip.Prefix{failVIP}}}, 0},
		{"v3 10ms", []inst{{"VI_1", "eth0", 51, vrrp.V3, ms(10), []netip.Prefix{failVIP}}}, 0},
		{"v3 100ms, two", []inst{
			{"VI_1", "eth0", 1, vrrp.V3, ms(100), []netip.Prefix{netip.MustParsePrefix("10.0.5.1/32")}},
			{"VI_2", "eth0", 2, vrrp.V3, ms(100), []netip.Prefix{netip.MustParsePrefix("10.0.5.2/32")}},
		}, 5 * time.Second},
		{"two LANs, 1000 VIPs", []inst{
			{"VI_1", "eth0", 1, vrrp.V2, time.Second, manyVIPs(1000)},
			{"VI_2", "eth1", 1, vrrp.V2, time.Second, []netip.Prefix{netip.MustParsePrefix("10.0.5.2/32")}},
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := nodeConf{name: "lb1", prio: 110, insts: tc.insts, garpDelay: tc.garpDelay, dir: "/run/bench/lb1"}
			ours, err := configs.Parse([]byte(vrrpdConf(c)))
			if err != nil {
				t.Fatalf("vrrpd configuration: %v", err)
			}
			conv, err := keepalived.Convert("keepalived.conf", []byte(keepalivedConf(c)), keepalived.Options{})
			if err != nil {
				t.Fatalf("converting keepalived's configuration: %v", err)
			}
			theirs, err := configs.Parse(conv.TOML)
			if err != nil {
				t.Fatalf("keepalived's configuration, converted: %v\n%s", err, conv.TOML)
			}
			if diff := cmp.Diff(ours.Instances, theirs.Instances, cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); diff != "" {
				t.Errorf("instances, vrrpd's configuration against keepalived's converted (-vrrpd +keepalived):\n%s", diff)
			}
			if len(ours.Instances) != len(tc.insts) || ours.Instances[0].Priority != 110 || ours.Instances[0].GARPDelay != tc.garpDelay {
				t.Errorf("vrrpd configuration: %+v, want %d instances at priority 110 with garp_delay %s", ours.Instances, len(tc.insts), tc.garpDelay)
			}
		})
	}
}

// keepalived itself accepts the configuration, where it is installed.
func TestKeepalivedAcceptsConf(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		if bin, err = "/usr/sbin/keepalived", nil; !exists(bin) {
			t.Skip("keepalived is not installed")
		}
	}
	// keepalived -t checks the interfaces on this host: eth0 only. An instance with more VIPs
	// than an advert holds is accepted with a note, and keepalived exits 5 (config warnings) for
	// it: the rest is moved to its excluded VIPs.
	const excess = "(VI_2) Number of VIPs (1000) exceeds maximum/space available in packet (max 255 addresses) - excess moved to eVIPs"
	for _, tc := range []struct {
		name  string
		insts []inst
		note  string
	}{
		{"two", []inst{{"VI_1", "eth0", 51, vrrp.V3, ms(10), []netip.Prefix{failVIP}}, {"VI_2", "eth0", 52, vrrp.V2, time.Second, manyVIPs(3)}}, ""},
		{"1000 VIPs", []inst{{"VI_1", "eth0", 51, vrrp.V3, ms(10), []netip.Prefix{failVIP}}, {"VI_2", "eth0", 52, vrrp.V2, time.Second, manyVIPs(1000)}}, excess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "keepalived.conf")
			c := nodeConf{name: "lb1", prio: 110, prios: map[string]int{"VI_2": 111}, insts: tc.insts, drainFile: filepath.Join(t.TempDir(), "drain")}
			if err := os.WriteFile(conf, []byte(keepalivedConf(c)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-t", "-f", conf).CombinedOutput()
			if got := strings.TrimSpace(string(out)); got != tc.note || (err != nil) != (tc.note != "") {
				t.Errorf("keepalived -t: %v\n%s\nwant %q", err, out, tc.note)
			}
		})
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses; fields are counted after the last ')'.
	line := "4242 (vrrp (x) d) S 17 4242 4242 0 -1 4194560 100 0 0 0 123 45 0 0 20 0 7 0 987654 0 0 18446744073709551615\n"
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := stat{state: "S", ppid: 17, utime: 123, stime: 45, start: 987654}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(stat{})); diff != "" {
		t.Errorf("parseStat (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "4242 vrrp S 1", "4242 (vrrp) S 1 2 3"} {
		if _, err := parseStat(bad); !errors.Is(err, errProc) {
			t.Errorf("parseStat(%q) = %v, want %v", bad, err, errProc)
		}
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\tkeepalived\nVmPeak:\t   14000 kB\nVmHWM:\t    6748 kB\nVmRSS:\t    6000 kB\n"
	if got, err := statusField(status, "VmHWM"); err != nil || got != 6748 {
		t.Errorf("VmHWM = %d, %v; want 6748", got, err)
	}
	if _, err := statusField(status, "VmSwap"); !errors.Is(err, errProc) {
		t.Errorf("VmSwap: %v, want %v", err, errProc)
	}
}

// The harness's own process reads sensibly: some CPU time, some RSS, itself at the root of its tree.
func TestOwnProcess(t *testing.T) {
	self := tree(os.Getpid())
	if len(self) == 0 || self[0].pid != os.Getpid() || !self[0].alive() {
		t.Fatalf("tree(self) = %v, want this process first, alive", self)
	}
	cpu, err := cpuTime(self[:1])
	if err != nil || cpu <= 0 {
		t.Errorf("cpuTime(self) = %s, %v; want more than 0", cpu, err)
	}
	rss, err := peakRSS(self[:1])
	if err != nil || rss < 1<<20 {
		t.Errorf("peakRSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
	if gone := (procID{pid: os.Getpid(), start: self[0].start + 1}); gone.alive() {
		t.Error("a pid with another start time counts as the same process")
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkMarshal/v2-2         	 1000	        16.10 ns/op	       0 B/op	       0 allocs/op
BenchmarkMarshal/v3v6-2       	 1000	        66.80 ns/op	       0 B/op	       0 allocs/op
BenchmarkUnmarshal/v3v4-2     	 1000	         7.008 ns/op	       0 B/op	       0 allocs/op
BenchmarkCheck-2              	 1000	        90.00 ns/op	      16 B/op	       1 allocs/op
PASS
`
	want := []codecBench{
		{name: "Marshal", maxAllocs: 0, minNs: 16.1, maxNs: 66.8, subBenchmarks: 2},
		{name: "Unmarshal", maxAllocs: 0, minNs: 7.008, maxNs: 7.008, subBenchmarks: 1},
		{name: "Check", maxAllocs: 1, minNs: 90, maxNs: 90, subBenchmarks: 1},
	}
	if diff := cmp.Diff(want, parseBench(out), cmp.AllowUnexported(codecBench{})); diff != "" {
		t.Errorf("parseBench (-want +got):\n%s", diff)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want options
		err  bool
	}{
		{args: nil, want: options{scenarios: allScenarios, trials: 5, edgeTrials: 3,
			intervals: []time.Duration{time.Second, ms(100), ms(30), ms(10)}, window: 20 * time.Second, settle: 6 * time.Second}},
		{args: []string{"-quick", "-scenarios", "failover", "-intervals", "100ms"}, want: options{scenarios: []string{"failover"},
			trials: 2, edgeTrials: 2, intervals: []time.Duration{ms(100)}, window: 5 * time.Second, settle: 6 * time.Second}},
		{args: []string{"-quick", "-trials", "7", "-intervals", "2s,40ms", "-keepalived", "none"}, want: options{
			scenarios: allScenarios, trials: 7, edgeTrials: 2, intervals: []time.Duration{2 * time.Second, ms(40)},
			keepalived: "none", window: 5 * time.Second, settle: 6 * time.Second}},
		{args: []string{"-quick", "-edge-trials", "3", "-scenarios", "three, reload,day2"}, want: options{
			scenarios: []string{"three", "reload", "day2"}, trials: 2, edgeTrials: 3,
			intervals: []time.Duration{time.Second, ms(100), ms(30), ms(10)}, window: 5 * time.Second, settle: 6 * time.Second}},
		{args: []string{"-edge-trials", "0"}, err: true},
		{args: []string{"-intervals", "15ms"}, err: true},
		{args: []string{"-intervals", "0s"}, err: true},
		{args: []string{"-scenarios", "speed"}, err: true},
		{args: []string{"-trials", "0"}, err: true},
		{args: []string{"extra"}, err: true},
	} {
		got, err := parseFlags(tc.args, io.Discard)
		if (err != nil) != tc.err {
			t.Errorf("parseFlags(%q): error %v, want error %v", tc.args, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(options{})); !tc.err && diff != "" {
			t.Errorf("parseFlags(%q) (-want +got):\n%s", tc.args, diff)
		}
	}
}

// A host-loss and a graceful trial, as the captures would record them. Events are deliberately
// out of order: kernel timestamps need not follow capture order.
func TestAnalyse(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	lb1, lb2, vip := nodePrefix(0, 0).Addr(), nodePrefix(1, 0).Addr(), failVIP.Addr()
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	advert := func(d time.Duration, from netip.Addr, prio uint8) lab.Event {
		return lab.Event{Time: at(d), Kind: lab.VRRP, IP: from, Version: 3, VRID: 51, Priority: prio}
	}
	garp := func(d time.Duration, mac net.HardwareAddr) lab.Event {
		return lab.Event{Time: at(d), Kind: lab.GARP, IP: vip, MAC: mac}
	}
	ping := lab.Event{Time: at(ms(200)), Kind: lab.Other}

	t.Run("host loss", func(t *testing.T) {
		// lb1's last advert 40ms before the unplug at t0; lb2's timer, 360ms, ends 321ms after t0.
		client := []lab.Event{garp(ms(322), mac2), advert(-ms(140), lb1, 110), advert(-ms(40), lb1, 110), ping,
			garp(ms(321)+us(400), mac2), advert(ms(321)+us(50), lb2, 100), garp(-ms(500), mac1)}
		own := []lab.Event{advert(-ms(40)+us(5), lb1, 110), advert(ms(321), lb2, 100), garp(ms(321)+us(390), mac2), advert(-ms(140)+us(5), lb1, 110)}
		got, err := analyse(hostLoss, client, own, t0, lb1, lb2, mac2, vip, ms(360))
		if err != nil {
			t.Fatal(err)
		}
		want := trial{delay: ms(361) + us(400), timerLate: ms(1) - us(5), advertGARP: us(390), garpWire: us(10)}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(trial{})); diff != "" {
			t.Errorf("analyse (-want +got):\n%s", diff)
		}
	})
	t.Run("graceful", func(t *testing.T) {
		// lb1 sends priority 0 at t0 + 1ms; an earlier advert from it does not count.
		client := []lab.Event{garp(ms(62), mac2), advert(-ms(50), lb1, 110), advert(ms(1), lb1, 0), advert(ms(61)+us(900), lb2, 100)}
		own := []lab.Event{advert(ms(1)+us(5), lb1, 0), garp(ms(61)+us(990), mac2), advert(ms(61)+us(895), lb2, 100), advert(-ms(50), lb1, 110)}
		got, err := analyse(graceful, client, own, t0, lb1, lb2, mac2, vip, ms(60))
		if err != nil {
			t.Fatal(err)
		}
		want := trial{delay: ms(61), timerLate: ms(1) - us(5+105), advertGARP: us(95), garpWire: us(10)}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(trial{})); diff != "" {
			t.Errorf("analyse (-want +got):\n%s", diff)
		}
	})
	t.Run("no failover", func(t *testing.T) {
		// A GARP from lb2 before the trial began is an earlier trial's.
		client := []lab.Event{advert(-ms(40), lb1, 110), garp(-ms(1), mac2)}
		if _, err := analyse(hostLoss, client, nil, t0, lb1, lb2, mac2, vip, ms(360)); !errors.Is(err, errNoFailover) {
			t.Errorf("analyse = %v, want %v", err, errNoFailover)
		}
	})
}

func TestMedianAndMet(t *testing.T) {
	for _, tc := range []struct {
		delays []time.Duration
		median time.Duration
		met    string // against 1.01 with an ideal of 100ms
	}{
		{[]time.Duration{ms(100)}, ms(100), "yes"},
		{[]time.Duration{ms(103), ms(100), ms(101)}, ms(101), "yes; worst misses"},
		{[]time.Duration{ms(104), ms(100), ms(102), ms(101)}, ms(101) + us(500), "NO"},
	} {
		f := &failResult{ideal: ms(100)}
		for _, d := range tc.delays {
			f.trials = append(f.trials, trial{delay: d})
		}
		if got := median(tc.delays); got != tc.median {
			t.Errorf("median(%v) = %s, want %s", tc.delays, got, tc.median)
		}
		if got := metRatio(f, 1.01); got != tc.met {
			t.Errorf("metRatio(%v) = %q, want %q", tc.delays, got, tc.met)
		}
	}
}

func TestTable(t *testing.T) {
	got := table([]string{"measure", "x"}, [][]string{{"a", "≤ 1"}, {"longer", ""}})
	want := "| measure | x   |\n|---------|-----|\n| a       | ≤ 1 |\n| longer  |     |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// The configurations say what the node's settings say: state_dir in the node's directory, the
// instance's interface and its own priority, every VIP; keepalived's drain file on every instance.
func TestNodeConf(t *testing.T) {
	insts := []inst{
		{"VI_1", "eth0", 1, vrrp.V2, time.Second, manyVIPs(2)},
		{"VI_2", "eth3", 255, vrrp.V2, time.Second, []netip.Prefix{netip.MustParsePrefix("10.0.8.255/32")}},
	}
	c := nodeConf{name: "lb2", prio: 100, prios: map[string]int{"VI_2": 101}, insts: insts, dir: "/run/bench/lb2", drainFile: "/run/bench/lb2/drain"}
	cfg, err := configs.Parse([]byte(vrrpdConf(c)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.StateDir != "/run/bench/lb2/state" {
		t.Errorf("state_dir = %q", cfg.Global.StateDir)
	}
	var got []string
	for _, in := range cfg.Instances {
		got = append(got, fmt.Sprintf("%s %s %d %d %v", in.Name, in.Interface, in.VRID, in.Priority, in.VIPs))
	}
	want := []string{"VI_1 eth0 1 100 [10.0.64.1/32 10.0.64.2/32]", "VI_2 eth3 255 101 [10.0.8.255/32]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vrrpd instances (-want +got):\n%s", diff)
	}
	ka := keepalivedConf(c)
	if n := strings.Count(ka, "track_file {\n        drain\n    }"); n != 2 || !strings.Contains(ka, "track_file drain {\n    file \"/run/bench/lb2/drain\"\n    weight -20\n}") {
		t.Errorf("keepalived's drain file is not tracked by both instances (%d):\n%s", n, ka)
	}
	if !strings.Contains(ka, "priority 101") || !strings.Contains(ka, "interface eth3") {
		t.Errorf("keepalived.conf lacks VI_2's own priority or interface:\n%s", ka)
	}
}

// The 1020-instance case is 255 instances on each of eth0 to eth3, VRIDs 1-255 on each, and every
// VIP its own; the 200-instance case keeps its 10.0.5.N VIPs on eth0.
func TestCostInsts(t *testing.T) {
	insts := scaleCost().insts()
	if len(insts) != 1020 {
		t.Fatalf("%d instances, want 1020", len(insts))
	}
	names, vips, vrids := map[string]bool{}, map[netip.Prefix]bool{}, map[string]bool{}
	perIface := map[string]int{}
	for _, in := range insts {
		key := fmt.Sprintf("%s/%d", in.iface, in.vrid)
		if names[in.name] || vips[in.vips[0]] || vrids[key] || in.vrid < 1 || in.vrid > 255 {
			t.Fatalf("instance %+v: name, VIP or VRID on its interface taken, or VRID out of range", in)
		}
		names[in.name], vips[in.vips[0]], vrids[key] = true, true, true
		perIface[in.iface]++
	}
	if diff := cmp.Diff(map[string]int{"eth0": 255, "eth1": 255, "eth2": 255, "eth3": 255}, perIface); diff != "" {
		t.Errorf("instances per interface (-want +got):\n%s", diff)
	}
	small := smallCosts()[1].insts()
	if got := small[199]; got.iface != "eth0" || got.vrid != 200 || got.vips[0] != netip.MustParsePrefix("10.0.5.200/32") {
		t.Errorf("the 200th of 200 instances: %+v", got)
	}
	if got := smallCosts()[0].insts(); len(got) != 1 || got[0].vips[0] != failVIP {
		t.Errorf("the single instance: %+v", got)
	}
}

func TestManyVIPs(t *testing.T) {
	vips := manyVIPs(1000)
	seen := map[netip.Prefix]bool{}
	for _, v := range vips {
		if seen[v] || v.Bits() != 32 || v.Addr().As4()[3] == 0 || v.Addr().As4()[3] > 250 {
			t.Fatalf("VIP %s repeated, not a /32, or ends in 0 or above 250", v)
		}
		seen[v] = true
	}
	if vips[0].String() != "10.0.64.1/32" || vips[999].String() != "10.0.67.250/32" {
		t.Errorf("VIPs run from %s to %s", vips[0], vips[999])
	}
}

func TestNodePrefix(t *testing.T) {
	got := []string{nodePrefix(0, 0).String(), nodePrefix(2, 0).String(), nodePrefix(1, 3).String()}
	if diff := cmp.Diff([]string{"10.0.4.20/24", "10.0.4.22/24", "10.0.34.21/24"}, got); diff != "" {
		t.Errorf("nodePrefix (-want +got):\n%s", diff)
	}
}

// Three routers on the client's wire: lb2 alone, lb2 and lb3 both, lb3 alone, and nobody.
func TestAnalyseThree(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	vip := failVIP.Addr()
	macs := []net.HardwareAddr{{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 3}}
	advert := func(d time.Duration, node int, prio uint8) lab.Event {
		return lab.Event{Time: at(d), Kind: lab.VRRP, Src: macs[node], IP: nodePrefix(node, 0).Addr(), VRID: 51, Priority: prio}
	}
	garp := func(d time.Duration, node int) lab.Event {
		return lab.Event{Time: at(d), Kind: lab.GARP, Src: macs[node], IP: vip, MAC: macs[node]}
	}
	before := []lab.Event{advert(-ms(1100), 0, 100), advert(-ms(100), 0, 100), garp(-ms(3000), 2)} // lb3's GARP is an earlier trial's
	for _, tc := range []struct {
		name  string
		after []lab.Event
		want  threeTrial
		err   error
	}{
		{"lb2", []lab.Event{garp(ms(3549), 1), advert(ms(3548)+us(500), 1, 90)}, threeTrial{masters: []string{"lb2"}, delay: ms(3649)}, nil},
		{"both", []lab.Event{advert(ms(3548), 1, 90), garp(ms(3549), 1), advert(ms(3549), 2, 80)}, threeTrial{masters: []string{"lb2", "lb3"}, delay: ms(3649)}, nil},
		{"lb3", []lab.Event{garp(ms(3588), 2), advert(ms(3587), 2, 80)}, threeTrial{masters: []string{"lb3"}}, nil},
		{"nobody", nil, threeTrial{}, errNoFailover},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := analyseThree(append(slices.Clone(before), tc.after...), t0, macs, vip)
			if !errors.Is(err, tc.err) {
				t.Fatalf("analyseThree: %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(threeTrial{}), cmpopts.EquateEmpty()); err == nil && diff != "" {
				t.Errorf("analyseThree (-want +got):\n%s", diff)
			}
			if clean := tc.name == "lb2"; got.clean() != clean {
				t.Errorf("clean = %v, want %v", got.clean(), clean)
			}
		})
	}
}

// A 1000-VIP takeover: GARPs out of capture order, repeated, one for a VIP not in the set and one
// from lb1 before the failure; first and last are from lb1's last advert.
func TestAnalyseVIPs(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	lb1, lb2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	vips := manyVIPs(3)
	advertFrame := advertV4(255)
	events := []lab.Event{
		{Time: at(-ms(50)), Kind: lab.VRRP, Src: lb1, IP: nodePrefix(0, 0).Addr(), VRID: 51, Priority: 110},
		{Time: at(-ms(60)), Kind: lab.GARP, IP: vips[2].Addr(), MAC: lb1},
		{Time: at(ms(3580)), Kind: lab.GARP, IP: vips[1].Addr(), MAC: lb2},
		{Time: at(ms(3570)), Kind: lab.GARP, IP: vips[0].Addr(), MAC: lb2},
		{Time: at(ms(3575)), Kind: lab.GARP, IP: vips[0].Addr(), MAC: lb2},
		{Time: at(ms(3576)), Kind: lab.GARP, IP: netip.MustParseAddr("10.0.4.99"), MAC: lb2},
		{Time: at(ms(3590)), Kind: lab.GARP, IP: vips[2].Addr(), MAC: lb2},
		{Time: at(ms(3595)), Kind: lab.GARP, IP: vips[1].Addr(), MAC: lb2},
		{Time: at(ms(3560)), Kind: lab.VRRP, Src: lb2, IP: nodePrefix(1, 0).Addr(), VRID: 51, Priority: 100, Frame: advertFrame},
	}
	got, err := analyseVIPs(events, t0, lb1, lb2, vips)
	if err != nil {
		t.Fatal(err)
	}
	want := vipsTrial{first: ms(3620), last: ms(3640), advert: ms(3610), garps: 4, advertised: 255}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(vipsTrial{})); diff != "" {
		t.Errorf("analyseVIPs (-want +got):\n%s", diff)
	}
	// Without the last VIP's GARP the takeover is incomplete.
	short := slices.DeleteFunc(slices.Clone(events), func(e lab.Event) bool { return e.Kind == lab.GARP && e.IP == vips[2].Addr() && e.Time.After(t0) })
	if _, err := analyseVIPs(short, t0, lb1, lb2, vips); !errors.Is(err, errNoFailover) || !strings.Contains(err.Error(), "2 of 3") {
		t.Errorf("analyseVIPs without the last VIP: %v, want %v saying 2 of 3", err, errNoFailover)
	}
}

// advertV4 is an Ethernet frame holding an IPv4 VRRP advert with count addresses.
func advertV4(count int) []byte {
	frame := make([]byte, 14+20+8+4*count)
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := frame[14:]
	ip[0], ip[9] = 0x45, 112
	ip[20], ip[21], ip[22], ip[23] = 0x21, 51, 100, byte(count)
	return frame
}

func TestAdvertCount(t *testing.T) {
	v6 := make([]byte, 14+40+8+16)
	binary.BigEndian.PutUint16(v6[12:], 0x86dd)
	v6[14], v6[14+6] = 0x60, 112
	v6[14+40+3] = 1
	withOptions := advertV4(3)
	withOptions = slices.Insert(withOptions, 34, 0, 0, 0, 0) // a 24-byte IPv4 header
	withOptions[14] = 0x46
	arp := advertV4(3)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	badIHL := advertV4(3)
	badIHL[14] = 0x41
	for _, tc := range []struct {
		name  string
		frame []byte
		want  int
	}{
		{"v4", advertV4(255), 255},
		{"v4 header options", withOptions, 3},
		{"v6", v6, 1},
		{"ARP", arp, -1},
		{"IHL below 5", badIHL, -1},
		{"short", advertV4(0)[:14+20+3], -1},
		{"empty", nil, -1},
		{"Ethernet header only", advertV4(0)[:14], -1},
	} {
		if got := advertCount(tc.frame); got != tc.want {
			t.Errorf("%s: advertCount = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// The frames advertCount reads are the ones lab.Classify takes for VRRP, and it never panics.
func FuzzAdvertCount(f *testing.F) {
	f.Add(advertV4(3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		n := advertCount(frame)
		if n < -1 || n > 255 {
			t.Fatalf("advertCount = %d", n)
		}
		if n >= 0 && lab.Classify(frame).Kind != lab.VRRP {
			t.Fatalf("advertCount = %d of a frame lab.Classify calls %s", n, lab.Classify(frame).Kind)
		}
	})
}

// Lateness per VRID: the gaps beyond the interval, before and from the split; another router's
// adverts do not count, and capture order does not matter.
func TestLateness(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	src, other := nodePrefix(0, 0).Addr(), nodePrefix(1, 0).Addr()
	advert := func(d time.Duration, from netip.Addr, vrid uint8) lab.Event {
		return lab.Event{Time: t0.Add(d), Kind: lab.VRRP, IP: from, VRID: vrid}
	}
	events := []lab.Event{
		advert(0, src, 1), advert(ms(1000)+us(300), src, 1), advert(ms(2000), src, 1), advert(ms(3004), src, 1), advert(ms(4000), src, 1),
		advert(ms(10), src, 2), advert(ms(1011), src, 2), advert(ms(2010), src, 2), advert(ms(3012), src, 2),
		advert(ms(500), other, 1), advert(ms(3500), other, 1),
		{Time: t0.Add(ms(2500)), Kind: lab.GARP, IP: src},
	}
	slices.Reverse(events)
	steady, busy, n := lateness(events, src, time.Second, t0.Add(ms(2500)))
	if steady != ms(1) || busy != ms(4) || n != 9 {
		t.Errorf("lateness = %s, %s, %d; want 1ms, 4ms, 9", steady, busy, n)
	}
}

// keepalived's log, as -l writes it: the last "Entering" line of each instance is its state.
func TestKeepalivedStates(t *testing.T) {
	log := `Fri Dec  4 20:06:41 2026: Starting Keepalived v2.2.7 (01/16,2022)
Fri Dec  4 20:06:41 2026: (VI_1) Entering BACKUP STATE (init)
Fri Dec  4 20:06:41 2026: (VI_10) Entering BACKUP STATE (init)
Fri Dec  4 20:06:44 2026: (VI_1) Entering MASTER STATE
Fri Dec  4 20:06:46 2026: (VI_1) Changing effective priority from 110 to 90
Fri Dec  4 20:06:47 2026: (VI_10) Entering FAULT STATE
Fri Dec  4 20:06:47 2026: (VI_10) Entering BACKUP STATE
`
	want := map[string]instState{"VI_1": {state: "MASTER"}, "VI_10": {state: "BACKUP"}}
	if diff := cmp.Diff(want, keepalivedStates(log), cmp.AllowUnexported(instState{})); diff != "" {
		t.Errorf("keepalivedStates (-want +got):\n%s", diff)
	}
	if got := keepalivedImpl("").transitions(log); got != 5 {
		t.Errorf("keepalived transitions = %d, want 5", got)
	}
	vrrpdLog := "time=... level=INFO msg=transition instance=VI_1 from=Initialize to=Backup\n" +
		"time=... level=INFO msg=\"transition hook\"\ntime=... level=INFO msg=transition instance=VI_1 from=Backup to=Master\n"
	if got := vrrpdImpl("").transitions(vrrpdLog); got != 2 {
		t.Errorf("vrrpd transitions = %d, want 2", got)
	}
}

func FuzzKeepalivedStates(f *testing.F) {
	f.Add("(VI_1) Entering MASTER STATE\n(VI_1) Entering BACKUP STATE (init)\n")
	f.Add("((x)) Entering  STATE (y) Entering FAULT STATE")
	f.Fuzz(func(t *testing.T, log string) {
		states := keepalivedStates(log)
		if len(states) > keepalivedImpl("").transitions(log) {
			t.Fatalf("%d instances from %d transitions", len(states), keepalivedImpl("").transitions(log))
		}
		for name, s := range states {
			if !strings.Contains(log, "("+name+") Entering "+s.state+" STATE") {
				t.Fatalf("state %s of %q is not in the log", s.state, name)
			}
		}
	})
}

// A peer that logged nothing but whose status moved still counts; so do the logged ones.
func TestChanged(t *testing.T) {
	before := peerView{states: map[string]instState{"VI_1": {"BACKUP", "t1"}, "VI_2": {"BACKUP", "t1"}}, transitions: 3}
	same := peerView{states: map[string]instState{"VI_1": {"BACKUP", "t1"}, "VI_2": {"BACKUP", "t1"}}, transitions: 3}
	moved := peerView{states: map[string]instState{"VI_1": {"BACKUP", "t2"}, "VI_2": {"BACKUP", "t1"}}, transitions: 5}
	if n, m := changed(before, same); n != 0 || len(m) != 0 {
		t.Errorf("changed(same) = %d, %v", n, m)
	}
	if n, m := changed(before, moved); n != 2 || !slices.Equal(m, []string{"VI_1"}) {
		t.Errorf("changed(moved) = %d, %v; want 2, [VI_1]", n, m)
	}
}

// The new rows judge vrrpd against the issues' targets, beside keepalived.
func TestScenarioRows(t *testing.T) {
	r := newResults()
	three := func(ideal time.Duration, masters ...[]string) *threeResult {
		res := &threeResult{ideal: ideal}
		for _, m := range masters {
			res.trials = append(res.trials, threeTrial{masters: m, delay: ideal})
		}
		return res
	}
	lb2, both := []string{"lb2"}, []string{"lb2", "lb3"}
	r.three[threeKey{"vrrpd", time.Second}] = three(ms(3648), lb2, lb2, both)
	r.three[threeKey{"keepalived", time.Second}] = three(ms(3648), lb2, lb2, lb2)
	r.three[threeKey{"vrrpd", ms(10)}] = three(ms(36), lb2, lb2, both)
	vips := func(ideal time.Duration, lasts ...time.Duration) *vipsResult {
		v := &vipsResult{ideal: ideal}
		for _, l := range lasts {
			v.trials = append(v.trials, vipsTrial{first: ideal, last: l})
		}
		return v
	}
	r.vips[vipsKey{"vrrpd", time.Second}] = vips(ms(3600), ms(3630), ms(3620), ms(3700))
	r.vips[vipsKey{"keepalived", time.Second}] = vips(ms(3600), ms(3625))
	r.vips[vipsKey{"vrrpd", ms(100)}] = vips(ms(360), ms(365))
	r.reload["vrrpd"] = &reloadResult{steady: us(300), busy: us(900), applied: ms(30)}
	r.reload["keepalived"] = &reloadResult{err: errors.New("no advert")}
	for _, op := range day2Ops {
		r.day2[day2Key{"vrrpd", op}] = &day2Result{silences: []time.Duration{ms(4), ms(5), ms(150)}, peer: []int{0, 0, 1}}
	}
	r.cost[costKey{"vrrpd", 1020}] = &costResult{settled: [2]span{{ms(3600), ms(3700)}, {ms(30), ms(150)}}, cpu: [2]float64{0.01, 0.004}, rss: [2]uint64{20 << 20, 18 << 20}, total: 1020}
	r.cost[costKey{"keepalived", 1020}] = &costResult{cpu: [2]float64{0.0232, 0.0072}, rss: [2]uint64{14 << 20, 14 << 20}, procs: [2]int{2, 2}, total: 1020}
	met := map[string]string{}
	for _, rw := range r.rows() {
		met[rw.measure] = rw.ours + " | " + rw.met
	}
	want := map[string]string{
		"three routers (100, 90, 80), host loss, 1s (VRRPv2): clean takeovers (the 90 alone)":                            "2 of 3; lb2+lb3 in 1 | NO",
		"three routers (100, 90, 80), host loss, 10ms (VRRPv3): clean takeovers (the 90 alone)":                          "2 of 3; lb2+lb3 in 1 | yes",
		"1000 VIPs on one instance, host loss, 1s (VRRPv2): last VIP announced ÷ ideal":                                  "1.0083 (1.0278) | NO",
		"1000 VIPs on one instance, host loss, 100ms (VRRPv3): last VIP announced ÷ ideal":                               "1.0139 (1.0139) | yes (keepalived not measured)",
		"reload (SIGHUP) of 1020 instances at 1s (VRRPv2), one priority changed: largest advert lateness (steady state)": "900µs (300µs) | yes",
		"client's longest silence, vrrpd drain (keepalived: track_file drain), 1s":                                       "5ms (150ms) | yes; worst misses",
		"peer's transitions, SIGUSR2 (keepalived: restart), 1s":                                                          "0, 0, 1 | NO",
		"time to settle, 1020 instances at 1s (VRRPv2) on 4 LANs, backup":                                                "30ms–150ms | —",
		"CPU s/s, 1020 instances at 1s (VRRPv2) on 4 LANs, master":                                                       "0.0100 | yes",
		"CPU s/s, 1020 instances at 1s (VRRPv2) on 4 LANs, backup":                                                       "0.0040 | NO",
		"peak RSS, 1020 instances at 1s (VRRPv2) on 4 LANs, master":                                                      "20.0 MiB | NO",
	}
	for measure, w := range want {
		if got, ok := met[measure]; !ok || got != w {
			t.Errorf("%s: %q, want %q", measure, got, w)
		}
	}
}
