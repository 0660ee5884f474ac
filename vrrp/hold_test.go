package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/vip"
)

// A new master with many VIPs adds them a chunk at a time and announces each chunk once as soon
// as it is on; the rest of the burst follows for all of them. Its first announcement does not
// wait for the last address.
func TestDriverTakeOverInChunks(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	c := testInstance("VI_1", 1, 255, time.Second)
	c.VIPs = nil
	for i := range 150 {
		c.VIPs = append(c.VIPs, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 32))
	}
	a.add(t, c)
	a.waitState(t, "VI_1", Master, time.Second)
	got := a.vips.takeCalls()
	want := []string{"add 64", "announce 64 x1", "add 64", "announce 64 x1", "add 22", "announce 22 x1", "announce 150 x2"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if s := a.status(t, "VI_1"); s.Announced != 3*150 || s.Announces != 1 {
		t.Errorf("counted %d packets in %d bursts, want 450 in 1", s.Announced, s.Announces)
	}

	// Paced (garp_interval), the burst is the Manager's to spread: all added, then announced.
	c.GARPInterval = 10 * time.Millisecond
	a.cfgs[0] = c
	a.d.Apply(a.cfgs)
	a.vips.takeCalls()
	a.d.Resync() // a master re-adds; here, only the addresses
	w.idle()
	if got := a.vips.takeCalls(); !slices.Equal(got, []string{"add 150"}) {
		t.Errorf("resync: %q", got)
	}
	a.stop()
	a2 := w.node(addrB)
	a2.add(t, c)
	a2.waitState(t, "VI_1", Master, time.Second)
	if got := a2.vips.takeCalls(); !slices.Equal(got, []string{"add 150", "announce 150 x3"}) {
		t.Errorf("paced takeover: %q", got)
	}
}

// A master holds its routes and rules with its addresses, each address where its placement says:
// added after the addresses, removed before them, changed in place by a reload, and released by
// a new instance at start as stale ones.
func TestDriverHoldsRoutesAndRules(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	c := testInstance("VI_1", 1, 200, time.Second)
	ex := netip.MustParsePrefix("10.0.5.9/32")
	c.Excluded = []netip.Prefix{ex}
	c.Placement = map[netip.Addr]Placement{ex.Addr(): {Dev: "eth1", Label: "eth1:ex", Scope: "link"}}
	r1 := vip.Route{To: netip.MustParsePrefix("10.9.0.0/16"), Via: netip.MustParseAddr("10.0.0.1")}
	r2 := vip.Route{To: netip.MustParsePrefix("10.8.0.0/16"), Dev: "eth0"}
	rule := vip.Rule{From: netip.MustParsePrefix("10.0.0.101/32"), Table: 100}
	c.Routes, c.Rules = []vip.Route{r1}, []vip.Rule{rule}
	a.add(t, c)
	a.waitState(t, "VI_1", Master, 5*time.Second)
	got := a.vips.takeCalls()
	want := []string{"rules- 1", "routes- 1", "remove 2", "add 2", "announce 2 x1", "routes+ 1", "rules+ 1", "announce 2 x2"}
	if !slices.Equal(got, want) {
		t.Errorf("start and takeover: %q, want %q", got, want)
	}
	a.vips.mu.Lock()
	addrs := slices.Clone(a.vips.addrs)
	a.vips.mu.Unlock()
	wantAddrs := []vip.Addr{{Prefix: c.VIPs[0], Dev: "eth0"}, {Prefix: ex, Dev: "eth1", Label: "eth1:ex", Scope: "link"}}
	if !slices.Equal(addrs, wantAddrs) {
		t.Errorf("added %v, want %v", addrs, wantAddrs)
	}

	// A reload changes them in place: r1 goes, r2 comes, the rule stays.
	c.Routes = []vip.Route{r2}
	a.cfgs[0] = c
	plan, err := a.d.Apply(a.cfgs)
	if err != nil || len(plan.InPlace) != 1 || !strings.Contains(strings.Join(plan.Changes["VI_1"], " "), "routes") {
		t.Errorf("reload: %+v, %v", plan, err)
	}
	w.idle()
	if got := a.vips.takeCalls(); !slices.Equal(got, []string{"routes- 1", "routes+ 1"}) {
		t.Errorf("reload: %q", got)
	}
	a.vips.mu.Lock()
	held := fmt.Sprint(a.vips.routes, a.vips.rules)
	a.vips.mu.Unlock()
	if want := fmt.Sprint(map[vip.Route]bool{r2: true}, map[vip.Rule]bool{rule: true}); held != want {
		t.Errorf("held %s, want %s", held, want)
	}

	// Leaving MASTER releases them, rules first.
	a.stop()
	if got := a.vips.takeCalls(); !slices.Equal(got, []string{"rules- 1", "routes- 1", "remove 2"}) {
		t.Errorf("stop: %q", got)
	}
}

// An instance on a VMAC makes it before its socket opens, advertises from its base interface's
// address, and removes it when it stops; a restart in place (Freeze) keeps it.
func TestDriverVMAC(t *testing.T) {
	w := newWorld(t)
	w.lan.mu.Lock()
	w.lan.missing = map[string]bool{} // interfaces beside eth0 exist
	w.lan.mu.Unlock()
	base := netip.MustParseAddr("10.0.0.55")
	var asked []string
	a := w.node(addrA, func(o *Options) {
		o.InterfaceAddrs = func(ifname string, ipv6 bool) ([]netip.Addr, error) {
			asked = append(asked, ifname)
			return []netip.Addr{base}, nil
		}
	})
	v := vip.VMAC{Name: "vrrp.1", Base: "eth0", VRID: 1}
	c := testInstance("VI_1", 1, 255, time.Second)
	c.Interface, c.VMAC = v.Name, &v
	a.add(t, c)
	a.link(Link{Name: v.Name, Index: 7, Up: true}) // its link watch sees it appear
	s := a.waitState(t, "VI_1", Master, time.Second)
	if got := a.vips.takeCalls(); len(got) == 0 || got[0] != "vmac+ vrrp.1" {
		t.Errorf("calls %q, want the VMAC made first", got)
	}
	if s.Config.Src != base || !slices.Equal(asked, []string{"eth0"}) {
		t.Errorf("advertises from %s (asked %v), want the base's %s", s.Config.Src, asked, base)
	}
	a.vips.mu.Lock()
	dev := a.vips.addrs[0].Dev
	a.vips.mu.Unlock()
	if dev != v.Name {
		t.Errorf("the VIP went on %s, want the VMAC", dev)
	}
	a.stop()
	if got := a.vips.takeCalls(); !slices.Contains(got, "vmac- vrrp.1") {
		t.Errorf("stop: %q, want the VMAC removed", got)
	}

	b := w.node(addrB)
	b.add(t, c)
	b.link(Link{Name: v.Name, Index: 7, Up: true})
	b.waitState(t, "VI_1", Master, time.Second)
	if _, err := b.d.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := b.vips.takeCalls(); slices.Contains(got, "vmac- vrrp.1") {
		t.Errorf("a restart in place removed the VMAC: %q", got)
	}
}

// BenchmarkReload is a reload of 1020 instances with one priority changed: about the time the
// driver's loop is busy with it (the configuration is read and checked off the loop).
func BenchmarkReload(b *testing.B) {
	t := &testing.T{}
	w := newWorld(t)
	a := w.node(addrA)
	var cfgs []InstanceConfig
	for i := range 1020 {
		c := testInstance(fmt.Sprintf("VI_%d", i), uint8(1+i%255), 100, time.Second)
		c.Interface = fmt.Sprintf("eth%d", i/255)
		c.VIPs = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 250), byte(i % 250), 1}), 32)}
		cfgs = append(cfgs, c)
	}
	w.lan.mu.Lock()
	w.lan.missing = map[string]bool{}
	w.lan.mu.Unlock()
	if _, err := a.d.Apply(cfgs); err != nil {
		b.Fatal(err)
	}
	w.idle()
	var next [2][]InstanceConfig
	for i := range next {
		next[i] = cloneConfigs(cfgs)
		next[i][500].Machine.Priority = uint8(90 + i)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := a.d.Apply(next[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
