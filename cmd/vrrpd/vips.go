package main

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// probeWait is how long a probe for duplicate VIPs listens for answers.
const probeWait = 200 * time.Millisecond

// vipsAdapter is the driver's vrrp.VIPs on top of a vip.Manager: an instance's VIPs go on its
// interface, without labels or scopes, and are announced at once.
type vipsAdapter struct{ m *vip.Manager }

var _ vrrp.VIPs = vipsAdapter{}

func (a vipsAdapter) Add(ifname string, vips []netip.Prefix) error {
	return a.m.Add(addrsOn(ifname, vips))
}

func (a vipsAdapter) Remove(ifname string, vips []netip.Prefix) error {
	return a.m.Remove(addrsOn(ifname, vips))
}

func (a vipsAdapter) Announce(ifname string, vips []netip.Prefix, count int) error {
	return a.m.Announce(addrsOn(ifname, vips), count, 0)
}

// addrsOn is the VIPs as addresses on the interface.
func addrsOn(ifname string, vips []netip.Prefix) []vip.Addr {
	addrs := make([]vip.Addr, len(vips))
	for i, p := range vips {
		addrs[i] = vip.Addr{Prefix: p, Dev: ifname}
	}
	return addrs
}

// prober asks, with ARP probes and IPv6 duplicate address detection, who else answers for a
// master's VIPs: one vrrp.Duplicate per MAC that vip lists.
func prober(m *vip.Manager, log *slog.Logger) func(string, []netip.Prefix) []vrrp.Duplicate {
	return func(ifname string, prefixes []netip.Prefix) []vrrp.Duplicate {
		found, err := m.Probe(addrsOn(ifname, prefixes), probeWait)
		if err != nil {
			log.Warn("probing for duplicate VIPs failed", "interface", ifname, "err", err)
		}
		var dups []vrrp.Duplicate
		for _, f := range found {
			for _, mac := range f.MACs {
				dups = append(dups, vrrp.Duplicate{VIP: f.VIP, MAC: mac.String()})
			}
		}
		return dups
	}
}
