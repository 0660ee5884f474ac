package vip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// Probe finds another host that still answers for a VIP, and only such a host.
func TestProbe(t *testing.T) {
	a, b, m := twoHosts(t)
	labtest.MustIP(t, b, "addr", "add", "10.0.4.99/24", "dev", "eth0")
	if err := m.Add(at("eth0", vip4)); err != nil { // a holds it too, as a new master would
		t.Fatal(err)
	}
	var dups, none []Duplicate
	err := a.Do(func() (err error) {
		if dups, err = m.Probe("eth0", []netip.Prefix{vip4, vip6}, 200*time.Millisecond); err != nil {
			return err
		}
		none, err = m.Probe("eth0", []netip.Prefix{netip.MustParsePrefix("10.0.4.98/24")}, 200*time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dups) != 1 || dups[0].VIP != vip4.Addr() || dups[0].MAC.String() != b.MAC.String() {
		t.Errorf("duplicates %v, want %s at %s", dups, vip4.Addr(), b.MAC)
	}
	if len(none) != 0 {
		t.Errorf("duplicates of an address nobody holds: %v", none)
	}
}
