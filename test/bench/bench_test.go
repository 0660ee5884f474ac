package main

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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
		{"v2 1s", []inst{{"VI_1", 51, vrrp.V2, time.Second, failVIP}}, 0},
		{"v3 10ms", []inst{{"VI_1", 51, vrrp.V3, ms(10), failVIP}}, 0},
		{"v3 100ms, two", []inst{
			{"VI_1", 1, vrrp.V3, ms(100), netip.MustParsePrefix("10.0.5.1/32")},
			{"VI_2", 2, vrrp.V3, ms(100), netip.MustParsePrefix("10.0.5.2/32")},
		}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, err := configs.Parse([]byte(vrrpdConf("lb1", 110, tc.insts, tc.garpDelay)))
			if err != nil {
				t.Fatalf("vrrpd configuration: %v", err)
			}
			conv, err := keepalived.Convert("keepalived.conf", []byte(keepalivedConf("lb1", 110, tc.insts, tc.garpDelay)), keepalived.Options{})
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
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	insts := []inst{{"VI_1", 51, vrrp.V3, ms(10), failVIP}, {"VI_2", 52, vrrp.V2, time.Second, netip.MustParsePrefix("10.0.5.2/32")}}
	if err := os.WriteFile(conf, []byte(keepalivedConf("lb1", 110, insts, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-f", conf).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Errorf("keepalived -t: %v\n%s", err, out)
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
		{args: nil, want: options{scenarios: []string{"failover", "cost", "codec"}, trials: 5,
			intervals: []time.Duration{time.Second, ms(100), ms(30), ms(10)}, window: 20 * time.Second, settle: 6 * time.Second}},
		{args: []string{"-quick", "-scenarios", "failover", "-intervals", "100ms"}, want: options{scenarios: []string{"failover"},
			trials: 2, intervals: []time.Duration{ms(100)}, window: 5 * time.Second, settle: 6 * time.Second}},
		{args: []string{"-quick", "-trials", "7", "-intervals", "2s,40ms", "-keepalived", "none"}, want: options{
			scenarios: []string{"failover", "cost", "codec"}, trials: 7, intervals: []time.Duration{2 * time.Second, ms(40)},
			keepalived: "none", window: 5 * time.Second, settle: 6 * time.Second}},
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
	lb1, lb2, vip := lb1Prefix.Addr(), lb2Prefix.Addr(), failVIP.Addr()
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
