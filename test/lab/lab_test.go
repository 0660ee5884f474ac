package lab_test

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

var (
	ipB, ipC   = netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	ip6B, ip6C = netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::3")
)

// threeHosts builds the LAN every test here uses: a, b and c on 10.0.0.0/24 and fd00::/64.
func threeHosts(t *testing.T) (*lab.Lab, *lab.Host, *lab.Host, *lab.Host) {
	l := labtest.ForTest(t)
	a := labtest.MustHost(t, l, "a", "10.0.0.1/24", "fd00::1/64")
	b := labtest.MustHost(t, l, "b", "10.0.0.2/24", "fd00::2/64")
	c := labtest.MustHost(t, l, "c", "10.0.0.3/24", "fd00::3/64")
	return l, a, b, c
}

func startPinger(t *testing.T, h *lab.Host, target netip.Addr) *lab.Pinger {
	t.Helper()
	p, err := lab.StartPinger(h, target, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

func TestNewPrefix(t *testing.T) {
	a, b := lab.NewPrefix(), lab.NewPrefix()
	if !regexp.MustCompile(`^vd[0-9a-f]{6}$`).MatchString(a) || a == b {
		t.Errorf("lab.NewPrefix() = %q, %q; want vd + 6 hex digits, different each time", a, b)
	}
}

func TestLAN(t *testing.T) {
	l, a, b, c := threeHosts(t)

	for i, h := range []*lab.Host{a, b, c} {
		if want := (net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 1)}); h.MAC.String() != want.String() {
			t.Errorf("%s: MAC %s, want %s", h.Name, h.MAC, want)
		}
		if h.NS != l.Prefix+"-"+h.Name {
			t.Errorf("%s: namespace %q, want %q", h.Name, h.NS, l.Prefix+"-"+h.Name)
		}
	}

	// eth0 carries what AddHost was given plus the EUI-64 link-local address, which is
	// usable at once because DAD is off.
	addrs, err := b.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::2/64"), netip.MustParsePrefix("fe80::ff:fe00:2/64")}
	if diff := cmp.Diff(want, addrs, cmpopts.SortSlices(func(x, y netip.Prefix) bool { return x.String() < y.String() }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("b eth0 addresses (-want +got):\n%s", diff)
	}
	ll, err := c.LinkLocal()
	if err != nil || ll != netip.MustParseAddr("fe80::ff:fe00:3") {
		t.Errorf("c.LinkLocal() = %v, %v; want fe80::ff:fe00:3", ll, err)
	}
	nh, err := b.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	list, err := nh.AddrList(nil, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range list {
		if addr.Flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("b: %s is tentative", addr.IPNet)
		}
	}

	// Everyone reaches everyone, over IPv4, IPv6 and IPv6 link-local.
	for _, target := range []netip.Addr{ipB, ip6C, ll} {
		p := startPinger(t, a, target)
		if err := p.WaitReply(time.Time{}, 5*time.Second); err != nil {
			t.Errorf("a ping %s: %v", target, err)
		}
		if s := p.Stop(); s.Received < 1 || s.Sent < s.Received {
			t.Errorf("a ping %s: %+v", target, s)
		}
	}

	// The ping taught a the neighbours' MACs.
	for _, tc := range []struct {
		ip  netip.Addr
		mac net.HardwareAddr
	}{{ipB, b.MAC}, {ip6C, c.MAC}} {
		mac, err := a.Neighbor(tc.ip)
		if err != nil || mac.String() != tc.mac.String() {
			t.Errorf("a.Neighbor(%s) = %s, %v; want %s", tc.ip, mac, err, tc.mac)
		}
	}
	if _, err := a.Neighbor(netip.MustParseAddr("10.0.0.77")); !errors.Is(err, lab.ErrNoNeighbor) {
		t.Errorf("a.Neighbor(10.0.0.77) error = %v, want lab.ErrNoNeighbor", err)
	}

	// Command runs in the host's namespace.
	out, err := b.Command(t.Context(), "ip", "-br", "addr", "show", "dev", "eth0").Output()
	if err != nil || !strings.Contains(string(out), "10.0.0.2/24") {
		t.Errorf("b: ip addr: %q, %v", out, err)
	}

	for _, name := range []string{"", "a", "br0", "lo", "sixteen-chars-xx", "x/y"} {
		if _, err := l.AddHost(name); !errors.Is(err, lab.ErrName) {
			t.Errorf("AddHost(%q) error = %v, want lab.ErrName", name, err)
		}
	}
}

func TestUnplugPlug(t *testing.T) {
	_, a, b, _ := threeHosts(t)
	p := startPinger(t, a, ipB)
	if err := p.WaitReply(time.Time{}, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	if err := b.Unplug(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let a reply already on its way land
	before := p.Stats()
	time.Sleep(300 * time.Millisecond)
	if after := p.Stats(); after.Received != before.Received || after.Sent < before.Sent+5 {
		t.Errorf("unplugged b: received %d -> %d, sent %d -> %d; want no replies while pings go out",
			before.Received, after.Received, before.Sent, after.Sent)
	}
	// A pulled cable: b's own end has lost carrier.
	if attrs := linkAttrs(t, b); attrs.OperState == netlink.OperUp || attrs.RawFlags&unix.IFF_LOWER_UP != 0 {
		t.Errorf("unplugged b: eth0 is %s with flags %#x, want no carrier", attrs.OperState, attrs.RawFlags)
	}

	plugged := time.Now()
	if err := b.Plug(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReply(plugged, 5*time.Second); err != nil {
		t.Errorf("plugged b back in: %v", err)
	}
	if s := p.Stop(); s.MaxGap < 300*time.Millisecond {
		t.Errorf("MaxGap %s, want at least the 350ms b was unplugged", s.MaxGap)
	}
}

func linkAttrs(t *testing.T, h *lab.Host) *netlink.LinkAttrs {
	t.Helper()
	nh, err := h.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	link, err := nh.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return link.Attrs()
}

func TestCapture(t *testing.T) {
	_, a, _, c := threeHosts(t)
	started := time.Now()
	capture, err := lab.StartCapture(c)
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	p := startPinger(t, a, ipC)
	if err := p.WaitReply(time.Time{}, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	// c sees a's echo request come in and its own echo reply go out.
	isICMP := func(e lab.Event, src net.HardwareAddr, icmpType byte) bool {
		f := e.Frame
		return len(f) >= 35 && e.Src.String() == src.String() && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && f[34] == icmpType
	}
	_, err = capture.Wait(5*time.Second, func(events []lab.Event) bool {
		return slices.ContainsFunc(events, func(e lab.Event) bool { return isICMP(e, a.MAC, 8) }) &&
			slices.ContainsFunc(events, func(e lab.Event) bool { return isICMP(e, c.MAC, 0) })
	})
	if err != nil {
		t.Errorf("c never captured a's echo request and its own reply: %v", err)
	}
	p.Stop()

	// Every frame carries the kernel's timestamp, no later than now. (Not necessarily in
	// order: a frame received is stamped before it waits in the backlog, and one sent
	// meanwhile can overtake it.)
	events := capture.Events()
	for i, e := range events {
		if !e.KernelTime || e.Time.Before(started) || e.Time.After(time.Now()) {
			t.Errorf("event %d of %d: time %s (kernel %v), want a kernel timestamp between %s and now",
				i, len(events), e.Time.Format(time.StampMicro), e.KernelTime, started.Format(time.StampMicro))
			break
		}
	}
	// Since returns what came after the first n frames, and times out when nothing does.
	if got, err := capture.Since(1, time.Second); err != nil || len(got) != len(events)-1 || (len(got) > 0 && !got[0].Time.Equal(events[1].Time)) {
		t.Errorf("Since(1) = %d events, %v; want the %d after the first", len(got), err, len(events)-1)
	}

	if err := capture.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := capture.Since(len(events)+100, 50*time.Millisecond); !errors.Is(err, lab.ErrTimeout) || got != nil {
		t.Errorf("Since past the end of a closed capture = %d events, %v; want %v", len(got), err, lab.ErrTimeout)
	}
	n := len(capture.Events())
	time.Sleep(50 * time.Millisecond)
	if got := len(capture.Events()); got != n {
		t.Errorf("closed capture still recording: %d -> %d events", n, got)
	}
}

func TestNFT(t *testing.T) {
	l, a, _, _ := threeHosts(t)
	if _, err := exec.LookPath("nft"); err != nil {
		labtest.Skip(t, "needs nft: "+err.Error())
	}
	p4, p6 := startPinger(t, a, ipB), startPinger(t, a, ip6B)
	for _, p := range []*lab.Pinger{p4, p6} {
		if err := p.WaitReply(time.Time{}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	if err := l.NFT("add", "rule", "bridge", "lab", "labforward", "ip", "protocol", "icmp", "drop"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	blocked := time.Now()
	if err := p4.WaitReply(blocked, 300*time.Millisecond); !errors.Is(err, lab.ErrNoReply) {
		t.Errorf("IPv4 ping through a bridge dropping ICMP: %v, want lab.ErrNoReply", err)
	}
	if err := p6.WaitReply(blocked, 5*time.Second); err != nil {
		t.Errorf("IPv6 ping is not ICMP and must pass: %v", err)
	}

	if err := l.NFT("flush", "chain", "bridge", "lab", "labforward"); err != nil {
		t.Fatal(err)
	}
	if err := p4.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Errorf("IPv4 ping after the flush: %v", err)
	}
	if err := l.NFT("no", "such", "command"); err == nil {
		t.Error("a bad nft command did not fail")
	}
}

func TestClose(t *testing.T) {
	labtest.RequireLab(t)
	l, err := lab.New(lab.NewPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := l.AddHost(name); err != nil {
			t.Error(err)
		}
	}
	if got := namespaces(t, l.Prefix); len(got) != 3 {
		t.Errorf("namespaces before Close: %q, want 3", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := namespaces(t, l.Prefix); len(got) != 0 {
		t.Errorf("namespaces left after Close: %q", got)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func namespaces(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix+"-") {
			found = append(found, strings.Fields(line)[0])
		}
	}
	return found
}

// lab.Classify against packets keepalived 2.2.7 sent (shared/testdata/keepalived-2.2.7.vectors);
// IP packets get an Ethernet header in front.
func TestClassify(t *testing.T) {
	keepalived := net.HardwareAddr{0xba, 0x43, 0x07, 0x5f, 0xb3, 0xcb}
	eth := func(etherType, packet string) string { return "ffffffffffffba43075fb3cb" + etherType + packet }
	tests := []struct {
		name  string
		frame string
		want  lab.Event
	}{
		{
			name:  "gratuitous ARP",
			frame: "ffffffffffffba43075fb3cb08060001080006040001ba43075fb3cb0a4d00fdffffffffffff0a4d00fd",
			want:  lab.Event{Kind: lab.GARP, Src: keepalived, IP: netip.MustParseAddr("10.77.0.253"), MAC: keepalived},
		},
		{
			name:  "VRRPv2 IPv4",
			frame: eth("0800", "45c0002800010000ff70d0440a4d0001e00000122133640100016f830a4d00fa0000000000000000"),
			want:  lab.Event{Kind: lab.VRRP, Src: keepalived, IP: netip.MustParseAddr("10.77.0.1"), Version: 2, VRID: 51, Priority: 100},
		},
		{
			name:  "VRRPv3 IPv6",
			frame: eth("86dd", "6c0020ec002870fffe80000000000000b84307fffe5fb3cbff0200000000000000000000000000123136c802006496aefe800000000000000000000000770054fd770000000000000000000000000254"),
			want:  lab.Event{Kind: lab.VRRP, Src: keepalived, IP: netip.MustParseAddr("fe80::b843:7ff:fe5f:b3cb"), Version: 3, VRID: 54, Priority: 200},
		},
		{
			name:  "unsolicited NA",
			frame: eth("86dd", "6000000000203afffd770000000000000000000000000254ff0200000000000000000000000000018800e19920000000fd7700000000000000000000000002540201ba43075fb3cb"),
			want:  lab.Event{Kind: lab.NA, Src: keepalived, IP: netip.MustParseAddr("fd77::254"), MAC: keepalived, Override: true},
		},
		{
			name:  "ARP request for another address",
			frame: "ffffffffffffba43075fb3cb08060001080006040001ba43075fb3cb0a4d00fdffffffffffff0a4d00fe",
			want:  lab.Event{Kind: lab.Other, Src: keepalived},
		},
		{name: "runt", frame: "ffff", want: lab.Event{}},
		{name: "truncated IPv4", frame: eth("0800", "45c00028"), want: lab.Event{Src: keepalived}},
		{name: "truncated IPv6 VRRP", frame: eth("86dd", "6c0020ec002870fffe80000000000000b84307fffe5fb3cbff020000000000000000000000000012"), want: lab.Event{Src: keepalived}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := hex.DecodeString(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			got := lab.Classify(frame)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(lab.Event{}, "Frame"), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("lab.Classify (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkLab measures building a three-host LAN and tearing it down.
func BenchmarkLab(b *testing.B) {
	labtest.RequireLab(b)
	for b.Loop() {
		l, err := lab.New(lab.NewPrefix())
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"a", "b", "c"} {
			if _, err := l.AddHost(name, netip.MustParsePrefix("10.0.0.1/24")); err != nil {
				b.Error(err)
			}
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
