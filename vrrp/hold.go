package vrrp

import (
	"slices"

	"github.com/vrrpd/vrrpd/vip"
)

// takeChunk is how many addresses a new master adds before it announces them: with a thousand
// VIPs, the first is announced once the first few dozen are on, not once the last is.
const takeChunk = 64

// takeOver adds what a new master holds and announces its addresses (RFC 5798 §6.4.1 and
// §6.4.2: "broadcast a gratuitous ARP request ... for each IP address"). The addresses go on a
// chunk at a time, each chunk announced once as soon as it is on, so that the clients of the
// first VIP do not wait for the last to be added; the rest of the burst follows, a round of every
// address at a time. Paced bursts (GARPInterval) are slow anyway: all is added first.
func (d *Driver) takeOver(in *instance) {
	c := &in.cfg
	addrs := in.addrs
	if c.GARPInterval > 0 || c.GARPRepeat < 1 {
		d.take(c.Name, addrs, c.Routes, c.Rules)
		d.announce(in, addrs)
		return
	}
	in.cnt.Announces++
	for chunk := range slices.Chunk(addrs, takeChunk) {
		d.take(c.Name, chunk, nil, nil)
		d.sendAnnouncements(in, chunk, 1)
	}
	d.take(c.Name, nil, c.Routes, c.Rules)
	d.sendAnnouncements(in, addrs, c.GARPRepeat-1)
	d.probe(in)
}

// take adds addresses, then routes and rules (which may name the addresses). Adding what is
// there already is no error.
func (d *Driver) take(name string, addrs []vip.Addr, routes []vip.Route, rules []vip.Rule) {
	if len(addrs) > 0 {
		if err := d.opt.VIPs.Add(addrs); err != nil {
			d.opt.Log.Error("adding VIPs failed", "instance", name, "err", err)
		}
	}
	if len(routes) > 0 {
		if err := d.opt.VIPs.AddRoutes(routes); err != nil {
			d.opt.Log.Error("adding routes failed", "instance", name, "err", err)
		}
	}
	if len(rules) > 0 {
		if err := d.opt.VIPs.AddRules(rules); err != nil {
			d.opt.Log.Error("adding rules failed", "instance", name, "err", err)
		}
	}
}

// release removes rules, routes, then addresses: take in reverse. Removing what is gone is no
// error, so a new instance releases what a killed predecessor may have left.
func (d *Driver) release(name string, addrs []vip.Addr, routes []vip.Route, rules []vip.Rule) {
	if len(rules) > 0 {
		if err := d.opt.VIPs.RemoveRules(rules); err != nil {
			d.opt.Log.Error("removing rules failed", "instance", name, "err", err)
		}
	}
	if len(routes) > 0 {
		if err := d.opt.VIPs.RemoveRoutes(routes); err != nil {
			d.opt.Log.Error("removing routes failed", "instance", name, "err", err)
		}
	}
	if len(addrs) > 0 {
		if err := d.opt.VIPs.Remove(addrs); err != nil {
			d.opt.Log.Error("removing VIPs failed", "instance", name, "err", err)
		}
	}
}

// announce sends a master's burst for addrs, and probes for other holders of them afterwards.
func (d *Driver) announce(in *instance, addrs []vip.Addr) {
	if len(addrs) == 0 {
		return
	}
	in.cnt.Announces++
	d.sendAnnouncements(in, addrs, in.cfg.GARPRepeat)
	d.probe(in)
}

// sendAnnouncements sends count announcements of each address, and counts them.
func (d *Driver) sendAnnouncements(in *instance, addrs []vip.Addr, count int) {
	if count < 1 {
		return
	}
	if err := d.opt.VIPs.Announce(addrs, count, in.cfg.GARPInterval); err != nil {
		d.opt.Log.Error("announcing VIPs failed", "instance", in.cfg.Name, "err", err)
		return
	}
	in.cnt.Announced += uint64(count * len(addrs))
}
