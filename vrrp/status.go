package vrrp

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/vip"
)

// Counters are an instance's protocol counters.
type Counters struct {
	AdvertsSent     uint64
	AdvertsReceived uint64
	Drops           [NumDrops]uint64
	Announces       uint64          // GARP/NA bursts
	Announced       uint64          // GARP/NA packets sent
	Duplicates      []vip.Duplicate // other hosts answering for the VIPs, at the last probe
	Mismatches      uint64          // accepted adverts whose addresses differ from ours
	LastMismatch    Mismatch        // the latest of them
	Transitions     [4]uint64       // by target State
	SendErrors      uint64
}

// InstanceStatus is what `vrrpd status` shows of an instance.
type InstanceStatus struct {
	Config InstanceConfig // with Src and Machine.Addr resolved
	Status
	Counters
	Trackers    []TrackerStatus // its own interface first
	PriorityWhy string          // what changes its priority (trackers, a drain); "" if nothing
	Drained     time.Time       // when the operator drained it; zero if not
}

// SocketStatus counts the packets a socket dropped before they could be given to an instance.
type SocketStatus struct {
	Interface string
	IPv6      bool
	Drops     [NumDrops]uint64
}

// Mismatch is an accepted advert whose address list differs from ours: a misconfigured peer, or
// another virtual router on the same VRID.
type Mismatch struct {
	From      netip.Addr
	Addresses []netip.Addr
	At        time.Time
}

// Snapshot is the driver's state for `vrrpd status` and metrics.
type Snapshot struct {
	Instances []InstanceStatus // in the configuration's order
	Sockets   []SocketStatus   // by interface, IPv4 first
	Checks    map[string]bool  // whether each check that has reported is up
}

// Status reports every instance, the sockets' own drop counters, and the checks.
func (d *Driver) Status() (*Snapshot, error) {
	var is []InstanceStatus
	var ss []SocketStatus
	var checks map[string]bool
	err := d.do(func() error {
		is = make([]InstanceStatus, 0, len(d.order))
		for _, in := range d.order {
			c := in.cfg
			c.VIPs, c.Excluded = slices.Clone(c.VIPs), slices.Clone(c.Excluded)
			c.Peers, c.Trackers = slices.Clone(c.Peers), slices.Clone(c.Trackers)
			c.Src, c.Machine.Addr = in.src, in.src
			told := d.pol.Told(c.Name)
			is = append(is, InstanceStatus{
				Config: c, Status: in.m.Status(), Counters: in.cnt,
				Trackers: d.pol.Trackers(c.Name), PriorityWhy: told.PriorityWhy, Drained: told.Drained,
			})
		}
		ss = make([]SocketStatus, 0, len(d.socks))
		for _, s := range d.socks {
			ss = append(ss, SocketStatus{Interface: s.key.ifname, IPv6: s.key.ipv6, Drops: s.drops})
		}
		slices.SortFunc(ss, func(a, b SocketStatus) int {
			return cmp.Or(cmp.Compare(a.Interface, b.Interface), boolInt(a.IPv6)-boolInt(b.IPv6))
		})
		checks = d.pol.Checks()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Snapshot{Instances: is, Sockets: ss, Checks: checks}, nil
}
