package vip

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// sysctl reads a sysctl below /proc/sys/net in h's namespace.
func sysctl(t *testing.T, h *lab.Host, key string) string {
	t.Helper()
	var v []byte
	if err := h.Do(func() (err error) { v, err = os.ReadFile("/proc/sys/net/" + key); return err }); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

func ensureVMAC(t *testing.T, h *lab.Host, m *Manager, v VMAC) int {
	t.Helper()
	var index int
	if err := h.Do(func() (err error) { index, err = m.EnsureVMAC(v); return err }); err != nil {
		t.Fatal(err)
	}
	return index
}

// checkVMAC checks that v exists as the RFC's VMAC: a macvlan in private mode on its base,
// with the virtual MAC, up, with keepalived's sysctls.
func checkVMAC(t *testing.T, h *lab.Host, m *Manager, v VMAC, index int) {
	t.Helper()
	link, err := m.h.LinkByName(v.Name)
	if err != nil {
		t.Fatal(err)
	}
	base, err := m.h.LinkByName(v.Base)
	if err != nil {
		t.Fatal(err)
	}
	mv, ok := link.(*netlink.Macvlan)
	if !ok {
		t.Fatalf("%s is a %s, not a macvlan", v.Name, link.Type())
	}
	a := mv.Attrs()
	if a.Index != index || mv.Mode != netlink.MACVLAN_MODE_PRIVATE || a.HardwareAddr.String() != v.MAC().String() || a.ParentIndex != base.Attrs().Index || a.Flags&net.FlagUp == 0 {
		t.Errorf("%s: index %d mode %d MAC %s parent %d flags %s; want %d, private, %s, %d, up",
			v.Name, a.Index, mv.Mode, a.HardwareAddr, a.ParentIndex, a.Flags, index, v.MAC(), base.Attrs().Index)
	}
	for key, want := range map[string]string{
		"ipv4/conf/" + v.Name + "/arp_ignore": "1", "ipv4/conf/" + v.Name + "/accept_local": "1",
		"ipv4/conf/" + v.Name + "/rp_filter": "0", "ipv4/conf/" + v.Name + "/promote_secondaries": "1",
		"ipv4/conf/" + v.Base + "/arp_ignore": "1", "ipv4/conf/" + v.Base + "/arp_filter": "1",
		"ipv6/conf/" + v.Name + "/addr_gen_mode": "1",
	} {
		if got := sysctl(t, h, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

// RFC 5798 §7.3: the VMAC has the virtual router MAC; a second Ensure reuses it, one left with
// a wrong MAC or mode is replaced, one that is no macvlan is left alone, and Remove removes it
// and puts the base's sysctls back. GARPs on it carry the virtual MAC.
func TestVMAC(t *testing.T) {
	a, b, m := twoHosts(t)
	v := VMAC{Name: "vrrp.51", Base: "eth0", VRID: 51}
	if got := v.MAC().String(); got != "00:00:5e:00:01:33" {
		t.Errorf("MAC %s, want 00:00:5e:00:01:33", got)
	}
	index := ensureVMAC(t, a, m, v)
	checkVMAC(t, a, m, v, index)
	if again := ensureVMAC(t, a, m, v); again != index {
		t.Errorf("second Ensure: index %d, want the same %d", again, index)
	}

	// GARPs on it carry the virtual MAC, and move b's neighbour entry to it.
	seedNeighbor(t, b, vip4.Addr())
	wait := captureFrom(t, b)
	if err := m.Add(at(v.Name, vip4)); err != nil {
		t.Fatal(err)
	}
	if err := announce(a, m, v.Name, []netip.Prefix{vip4}, 2); err != nil {
		t.Fatal(err)
	}
	garps := wait(lab.GARP, v.MAC(), 2)
	if len(garps) != 2 {
		t.Errorf("b saw %d GARPs from %s, want 2", len(garps), v.MAC())
	}
	for _, e := range garps {
		if e.IP != vip4.Addr() || e.MAC.String() != v.MAC().String() {
			t.Errorf("GARP %s at %s, want %s at %s", e.IP, e.MAC, vip4.Addr(), v.MAC())
		}
	}
	waitNeighbor(t, b, vip4.Addr(), v.MAC())

	// Left behind with the wrong MAC, or the wrong mode: replaced.
	for _, args := range [][]string{
		{"address", "02:00:00:00:00:52", "type", "macvlan", "mode", "private"},
		{"address", "00:00:5e:00:01:34", "type", "macvlan", "mode", "bridge"},
	} {
		w := VMAC{Name: "vrrp.52", Base: "eth0", VRID: 52}
		labtest.MustIP(t, a, append([]string{"link", "add", "link", "eth0", "name", w.Name}, args...)...)
		old, err := m.h.LinkByName(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		index := ensureVMAC(t, a, m, w)
		if index == old.Attrs().Index {
			t.Errorf("%v: the old %s (index %d) was kept", args, w.Name, index)
		}
		checkVMAC(t, a, m, w, index)
		if err := a.Do(func() error { return m.RemoveVMAC(w.Name) }); err != nil {
			t.Fatal(err)
		}
		if got := sysctl(t, a, "ipv4/conf/eth0/arp_ignore"); got != "1" {
			t.Errorf("eth0 arp_ignore = %s while %s is still on it, want 1", got, v.Name)
		}
	}

	// A name taken by an interface that is no macvlan: an error, and left alone.
	labtest.MustIP(t, a, "link", "add", "vrrp.53", "type", "veth", "peer", "name", "p53")
	err := a.Do(func() error { _, err := m.EnsureVMAC(VMAC{Name: "vrrp.53", Base: "eth0", VRID: 53}); return err })
	if err == nil || !strings.Contains(err.Error(), "not a macvlan: left alone") {
		t.Errorf("EnsureVMAC over a veth: %v, want it left alone", err)
	}
	if err := a.Do(func() error { return m.RemoveVMAC("vrrp.53") }); err == nil {
		t.Error("RemoveVMAC of a veth: no error")
	}
	if _, err := m.h.LinkByName("vrrp.53"); err != nil {
		t.Errorf("the veth is gone: %v", err)
	}

	for range 2 { // a missing one is not an error
		if err := a.Do(func() error { return m.RemoveVMAC(v.Name) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.h.LinkByName(v.Name); err == nil {
		t.Errorf("%s still there after RemoveVMAC", v.Name)
	}
	for _, key := range []string{"ipv4/conf/eth0/arp_ignore", "ipv4/conf/eth0/arp_filter"} {
		if got := sysctl(t, a, key); got != "0" {
			t.Errorf("after the last VMAC went, %s = %s, want it back at 0", key, got)
		}
	}
}

// An IPv6 VMAC has the 00:00:5e:00:02 MAC, and the base's link-local address rather than one
// from the virtual MAC, which every router of the VRID would share (RFC 5798 §7.4).
func TestVMACIPv6(t *testing.T) {
	a, _, m := twoHosts(t)
	v := VMAC{Name: "vrrp6.51", Base: "eth0", VRID: 51, IPv6: true}
	index := ensureVMAC(t, a, m, v)
	checkVMAC(t, a, m, v, index)
	if got := v.MAC().String(); got != "00:00:5e:00:02:33" {
		t.Errorf("MAC %s, want 00:00:5e:00:02:33", got)
	}
	ll, err := a.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}
	link, err := m.h.LinkByName(v.Name)
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || prefixOf(list[0].IPNet) != netip.PrefixFrom(ll, 64) || list[0].Flags&unix.IFA_F_NODAD == 0 {
		t.Errorf("addresses on %s: %v; want only %s/64, nodad", v.Name, list, ll)
	}
}

func TestEUI64LinkLocal(t *testing.T) {
	got, err := eui64LinkLocal(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01})
	if want := netip.MustParseAddr("fe80::ff:fe00:1"); err != nil || got != want {
		t.Errorf("eui64LinkLocal = %s, %v; want %s", got, err, want)
	}
}

func TestVMACErrors(t *testing.T) {
	_, _, m := twoHosts(t)
	for _, tc := range []struct {
		v    VMAC
		want []string
	}{
		{VMAC{Base: "eth0", VRID: 1}, []string{`name "": not an interface name`}},
		{VMAC{Name: "vrrp.0", Base: "vrrp.0"}, []string{"base \"vrrp.0\"", "VRID 0"}},
		{VMAC{Name: "a-very-long-name-indeed", Base: "eth0", VRID: 1}, []string{"not an interface name"}},
		{VMAC{Name: "vrrp.1", Base: "nosuch0", VRID: 1}, []string{"no such interface: nosuch0"}},
	} {
		_, err := m.EnsureVMAC(tc.v)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("EnsureVMAC(%+v) = %v, want it to say %q", tc.v, err, w)
			}
		}
	}
}
