package vrrp

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/vip"
)

// InstanceConfig is one virtual router as the driver runs it.
type InstanceConfig struct {
	Name       string
	Interface  string
	VRID       uint8
	Machine    Config         // Addr and Epoch are the driver's to set
	VIPs       []netip.Prefix // advertised, as many as an advert holds, and held while master
	Excluded   []netip.Prefix // held while master, never advertised; any family
	Src        netip.Addr     // the advert source; zero: the interface's primary address
	Peers      []netip.Addr   // unicast peers; empty: multicast to 224.0.0.18 or ff02::12
	MinTTL     int            // lowest TTL accepted; 0 means 255
	AuthType   AuthType       // VRRPv2 only
	AuthData   [8]byte        // VRRPv2 simple password, NUL padded
	Checksum   ChecksumMode   // IPv4 VRRPv3 only
	GARPRepeat int            // GARPs / NAs per VIP in a burst
	Group      string         // sync group: its members stay with one host (see Policy)
	Trackers   []Tracker      // what it tracks besides its own interface (see Policy)

	// GARPInterval paces a burst: one packet per interval, a round of every VIP at a time
	// (keepalived's garp_interval). 0: all at once, still a round at a time.
	GARPInterval time.Duration
	// Placement says where and how held addresses go that are not added plainly on Interface:
	// another interface, a label, a scope.
	Placement map[netip.Addr]Placement
	// VMAC, if set, is the macvlan with the RFC's virtual MAC (RFC 5798 §7.3) that the instance
	// runs on: Interface is its name, and adverts come from its base interface's address. The
	// driver creates it before the instance's socket opens, and removes it when the instance
	// stops.
	VMAC *vip.VMAC
	// Routes and Rules are held while master, as the VIPs are: added after them, removed before.
	Routes []vip.Route
	Rules  []vip.Rule
}

// Placement is how one held address is added, where that is not plainly on the instance's
// interface.
type Placement struct {
	Dev   string // the interface; "": the instance's
	Label string // IPv4 only; "": none
	Scope string // "": global
}

// addrs is where each of ps goes.
func (c *InstanceConfig) addrs(ps []netip.Prefix) []vip.Addr {
	out := make([]vip.Addr, len(ps))
	for i, p := range ps {
		pl := c.Placement[p.Addr()]
		out[i] = vip.Addr{Prefix: p, Dev: cmp.Or(pl.Dev, c.Interface), Label: pl.Label, Scope: pl.Scope}
	}
	return out
}

// link is the interface whose link the instance depends on: its own, or its VMAC's base.
func (c *InstanceConfig) link() string {
	if c.VMAC != nil {
		return c.VMAC.Base
	}
	return c.Interface
}

// devOf is the interface a held address goes on.
func (c *InstanceConfig) devOf(a netip.Addr) string { return cmp.Or(c.Placement[a].Dev, c.Interface) }

// IPv6 reports whether the instance's VIPs are IPv6.
func (c *InstanceConfig) IPv6() bool { return len(c.VIPs) > 0 && c.VIPs[0].Addr().Is6() }

// held lists every address a master holds: its VIPs, then the excluded ones.
func (c *InstanceConfig) held() []netip.Prefix { return slices.Concat(c.VIPs, c.Excluded) }

// hasVIP reports whether a is one of the addresses the instance holds as master.
func (c *InstanceConfig) hasVIP(a netip.Addr) bool {
	is := func(p netip.Prefix) bool { return p.Addr() == a }
	return slices.ContainsFunc(c.VIPs, is) || slices.ContainsFunc(c.Excluded, is)
}

// cloneConfigs copies configurations deeply enough for the driver to keep them, with an empty
// list of peers or trackers as nil, so that Reload finds nothing changed where nothing did.
func cloneConfigs(cfgs []InstanceConfig) []InstanceConfig {
	out := slices.Clone(cfgs)
	for i := range out {
		c := &out[i]
		c.VIPs, c.Excluded, c.Peers, c.Trackers = slices.Clone(c.VIPs), slices.Clone(c.Excluded), slices.Clone(c.Peers), slices.Clone(c.Trackers)
		c.Placement, c.Routes, c.Rules = maps.Clone(c.Placement), slices.Clone(c.Routes), slices.Clone(c.Rules)
		if c.VMAC != nil {
			v := *c.VMAC
			c.VMAC = &v
		}
		if len(c.Peers) == 0 {
			c.Peers = nil // nil means multicast to Rules: an empty list would accept no one
		}
		if len(c.Trackers) == 0 {
			c.Trackers = nil
		}
		if len(c.Placement) == 0 {
			c.Placement = nil
		}
		if len(c.Routes) == 0 {
			c.Routes = nil
		}
		if len(c.Rules) == 0 {
			c.Rules = nil
		}
	}
	return out
}

// instance is one running virtual router: its machine, its socket and what it sends.
type instance struct {
	cfg    InstanceConfig
	held   []netip.Prefix // cfg.held()
	addrs  []vip.Addr     // cfg.addrs(held): where each goes; replaced, never changed, so probes may keep it
	src    netip.Addr     // the advert source: cfg.Src, or the interface's address once known
	m      *Machine
	s      *sock
	rules  Rules
	dsts   []netip.Addr
	adv    Advertisement // the advert we send, but for its priority
	cnt    Counters
	logged [NumDrops]time.Time
	warned time.Time // last address-list mismatch logged

	yields bool       // a sync group member: it yields to master, as the policy was last told
	master netip.Addr // that master
	timer  int        // its place in Driver.timers
}

// Plan is what Apply did: the instances it started, stopped, restarted and changed in place,
// and for each changed one what changed (see Reload).
type Plan struct {
	Added, Removed, Restarted, InPlace []string
	Changes                            map[string][]string
}

func (d *Driver) apply(cfgs []InstanceConfig) (Plan, error) {
	plan := Plan{Changes: map[string][]string{}}
	d.vips = map[netip.Addr]bool{}
	for i := range cfgs {
		for _, p := range cfgs[i].held() {
			d.vips[p.Addr()] = true
		}
	}
	next := map[string]*InstanceConfig{}
	for i := range cfgs {
		next[cfgs[i].Name] = &cfgs[i]
	}
	now := d.now()
	for _, in := range slices.Clone(d.order) {
		c := next[in.cfg.Name]
		if c == nil {
			plan.Removed = append(plan.Removed, in.cfg.Name)
			d.act(in, in.m.Shutdown(now))
			d.forget(in)
			continue
		}
		changes, restart := Reload(&in.cfg, c)
		if len(changes) == 0 {
			continue
		}
		plan.Changes[c.Name] = changes
		if restart {
			plan.Restarted = append(plan.Restarted, c.Name)
			d.act(in, in.m.Shutdown(now))
			d.forget(in)
		} else {
			plan.InPlace = append(plan.InPlace, c.Name)
		}
	}
	changes := d.pol.Configure(now, cfgs)
	var errs []error
	var order []*instance
	for i := range cfgs {
		c := &cfgs[i]
		in := d.byNm[c.Name]
		switch {
		case in != nil && plan.Changes[c.Name] != nil:
			d.reconfigure(in, c)
		case in != nil:
		default:
			if !slices.Contains(plan.Restarted, c.Name) {
				plan.Added = append(plan.Added, c.Name)
			}
			var err error
			if in, err = d.start(c); err != nil {
				errs = append(errs, fmt.Errorf("instance %q: %w", c.Name, err))
			}
		}
		if in != nil {
			order = append(order, in)
		}
	}
	d.order = order
	d.enact(changes)
	return plan, errors.Join(errs...)
}

// reconfigure changes a running instance in place, as Reload allows: the machine takes the new
// settings, and a master gives up the addresses, routes and rules it no longer holds (or holds
// otherwise: an address with a new label is removed and added again), then takes the new ones and
// announces the new addresses.
func (d *Driver) reconfigure(in *instance, c *InstanceConfig) {
	old := in.cfg
	oldAddrs := in.addrs
	in.cfg, in.held = *c, c.held()
	in.addrs = c.addrs(in.held)
	if in.m.State() == Master {
		newAddrs := in.addrs
		d.release(c.Name, diff(oldAddrs, newAddrs), diff(old.Routes, c.Routes), diff(old.Rules, c.Rules))
		added := diff(newAddrs, oldAddrs)
		d.take(c.Name, added, diff(c.Routes, old.Routes), diff(c.Rules, old.Rules))
		d.announce(in, added)
	}
	in.m.Reconfigure(d.machineConfig(in))
	in.setAddresses()
}

// diff lists the elements of a that are not in b, in a's order.
func diff[T comparable](a, b []T) []T {
	in := make(map[T]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []T
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// machineConfig is the instance's Config with what the driver sets: its source and the grid.
func (d *Driver) machineConfig(in *instance) Config {
	c := in.cfg.Machine
	c.Addr, c.Epoch = in.src, d.epoch
	return c
}

// start opens or shares an instance's socket and starts its machine with what the policy says
// of it, so that it starts in the right state instead of flapping. The policy has its
// configuration already.
func (d *Driver) start(cfg *InstanceConfig) (*instance, error) {
	if len(cfg.VIPs) == 0 {
		return nil, errors.New("it has no VIPs")
	}
	key := sockKey{cfg.Interface, cfg.IPv6()}
	s := d.socks[key]
	if other := s.get(cfg.VRID); other != nil {
		return nil, fmt.Errorf("vrid %d on %s is already used by instance %q", cfg.VRID, cfg.Interface, other.cfg.Name)
	}
	in := &instance{cfg: *cfg, held: cfg.held(), src: cfg.Src}
	in.addrs = cfg.addrs(in.held)
	m, err := NewMachine(d.machineConfig(in))
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = &sock{key: key}
		d.socks[key] = s
	}
	in.m, in.s = m, s
	in.rules = Rules{
		Version: cfg.Machine.Version, Interval: cfg.Machine.Interval,
		AuthType: cfg.AuthType, AuthData: cfg.AuthData,
		Owner: cfg.Machine.Priority == 255, Peers: cfg.Peers, MinTTL: cfg.MinTTL,
	}
	in.adv = Advertisement{
		Version: cfg.Machine.Version, VRID: cfg.VRID, Interval: cfg.Machine.Interval,
		AuthType: cfg.AuthType, AuthData: cfg.AuthData,
	}
	in.setAddresses()
	in.dsts = cfg.Peers
	if len(in.dsts) == 0 {
		in.dsts = []netip.Addr{MulticastV4}
		if key.ipv6 {
			in.dsts = []netip.Addr{MulticastV6}
		}
	}
	s.byVRID[cfg.VRID] = in
	d.byNm[cfg.Name] = in
	heap.Push(&d.timers, in)

	d.enact(d.pol.Observe(cfg.Name, ""))
	d.enact(d.pol.Ready(cfg.Name, d.ready(in)))
	if d.restore(in) {
		return in, nil
	}
	v, now := d.pol.Starting(cfg.Name), d.now()
	m.SetPriority(now, v.Priority)
	if v.Fault != "" {
		m.Fault(now, v.Fault)
	}
	m.Hold(now, v.Held)
	d.opt.Log.Info("instance started", "instance", cfg.Name, "interface", cfg.Interface, "vrid", cfg.VRID,
		"version", int(cfg.Machine.Version), "priority", cfg.Machine.Priority, "source", in.src, "vips", cfg.VIPs)
	if v.Waiting != "" {
		// Not taking part yet; but the VIPs a killed predecessor left are nobody's to hold.
		m.Waiting(v.Waiting)
		d.act(in, []Action{{Kind: RemoveVIPs}})
		return in, nil
	}
	d.act(in, m.Startup(now))
	return in, nil
}

// setAddresses sets the addresses the instance advertises and expects in others' adverts. An
// advert lists as many of the VIPs as it holds on the interface, in the configuration's order,
// as keepalived lists its first 255; every VIP is still added and announced.
func (in *instance) setAddresses() {
	all := make([]netip.Addr, 0, len(in.cfg.VIPs))
	for _, p := range in.cfg.VIPs {
		all = append(all, p.Addr())
	}
	// RFC 5798 §5.2.9: for IPv6 the link-local VIP comes first in the list.
	slices.SortStableFunc(all, func(a, b netip.Addr) int {
		return boolInt(b.IsLinkLocalUnicast()) - boolInt(a.IsLinkLocalUnicast())
	})
	n := min(len(all), advertFits(in.cfg.Machine.Version, in.cfg.IPv6(), in.s.mtu))
	in.adv.Addresses = all[:n]
	in.rules.SetAddresses(all, n)
}

// advertFits is how many addresses one advert holds: RFC 5798 §5.2.5's count is a byte, and
// the whole packet, IP header included, must fit the interface's MTU (1500 until a socket says).
func advertFits(v Version, ipv6 bool, mtu int) int {
	if mtu <= 0 {
		mtu = 1500
	}
	if ipv6 {
		return min(255, max(1, (mtu-40-msgFixedLen)/16))
	}
	auth := 0
	if v == V2 {
		auth = msgAuthLen
	}
	return min(255, max(1, (mtu-20-msgFixedLen-auth)/4))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// get returns the instance with this VRID on the socket, if any; s may be nil.
func (s *sock) get(vrid uint8) *instance {
	if s == nil {
		return nil
	}
	return s.byVRID[vrid]
}

// ready makes sure an instance can take part: its socket open and its source address known. It
// says what is missing, or "". Both can be missing while the interface is (it may appear later,
// or come back re-created).
func (d *Driver) ready(in *instance) string {
	s := in.s
	if s.conn == nil {
		if v := in.cfg.VMAC; v != nil {
			// Made (or a killed predecessor's taken over) before its socket opens on it.
			if _, err := d.opt.VIPs.EnsureVMAC(*v); err != nil {
				return fmt.Sprintf("cannot set up the VMAC interface %s on %s: %v", v.Name, v.Base, err)
			}
		}
		conn, err := d.opt.Listen(s.key.ifname, s.key.ipv6)
		if err != nil {
			return fmt.Sprintf("cannot open a VRRP socket on %s: %v", s.key.ifname, err)
		}
		s.conn, s.index, s.mtu = conn, conn.Index(), conn.MTU()
		d.wg.Add(1)
		go d.watch(s, conn)
		for _, o := range s.byVRID {
			if o != nil {
				o.setAddresses()
			}
		}
	}
	if !in.src.IsValid() {
		src, err := d.primaryAddr(in)
		if err != nil {
			return fmt.Sprintf("%s: %v", d.srcInterface(in), err)
		}
		in.src = src
		in.m.SetAddr(src)
	}
	return ""
}

// primaryAddr is the advert source when none is configured: the interface's first address of
// the family (for IPv6, link-local) that is no instance's VIP. A VIP may be on the interface:
// another instance's, or one a killed predecessor left behind.
//
// A VMAC has no address of its own but the VIPs (and, for IPv6, its base's link-local address):
// its adverts come from its base interface's address, as keepalived's do.
func (d *Driver) primaryAddr(in *instance) (netip.Addr, error) {
	var addrs []netip.Addr
	var err error
	if v := in.cfg.VMAC; v != nil {
		addrs, err = d.opt.InterfaceAddrs(v.Base, in.cfg.IPv6())
	} else {
		addrs, err = in.s.conn.Addrs()
	}
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if !d.isVIP(a) {
			return a, nil
		}
	}
	family := "IPv4 address"
	if in.cfg.IPv6() {
		family = "IPv6 link-local address"
	}
	return netip.Addr{}, fmt.Errorf("the interface has no %s of its own to send adverts from; add one, or set unicast_src", family)
}

// srcInterface is the interface whose address the instance advertises from.
func (d *Driver) srcInterface(in *instance) string {
	if v := in.cfg.VMAC; v != nil {
		return v.Base
	}
	return in.cfg.Interface
}

// isVIP reports whether a is a VIP of any instance: held by any configured instance, VIP or
// excluded.
func (d *Driver) isVIP(a netip.Addr) bool { return d.vips[a] }

// forget removes a stopped instance and closes its socket if nobody else uses it.
func (d *Driver) forget(in *instance) {
	heap.Remove(&d.timers, in.timer)
	in.s.byVRID[in.cfg.VRID] = nil
	delete(d.byNm, in.cfg.Name)
	d.order = slices.DeleteFunc(d.order, func(o *instance) bool { return o == in })
	for _, o := range in.s.byVRID {
		if o != nil {
			return
		}
	}
	d.flushSock(in.s)
	delete(d.socks, in.s.key)
	if in.s.conn != nil {
		in.s.conn.Close()
	}
	d.removeVMAC(in)
}

// removeVMAC removes the instance's virtual MAC interface, if it has one, once its socket is
// closed: it is the instance's alone.
func (d *Driver) removeVMAC(in *instance) {
	if v := in.cfg.VMAC; v != nil {
		if err := d.opt.VIPs.RemoveVMAC(v.Name); err != nil {
			d.opt.Log.Error("removing the VMAC interface failed", "instance", in.cfg.Name, "interface", v.Name, "err", err)
		}
	}
}

// enact carries out the policy's changes. Each instance is told the policy's decision as it is
// now: carrying out one change can cause others (a sync group member that steps down makes its
// siblings' holds change), which are carried out at once, so a Change further down the list may
// be older than what the instance was already told.
func (d *Driver) enact(changes []Change) {
	for _, c := range changes {
		if in := d.byNm[c.Instance]; in != nil {
			d.tell(in, d.pol.Told(c.Instance), c.Why)
		}
	}
}

// tell brings an instance's machine in line with its decision; why caused the change.
func (d *Driver) tell(in *instance, v Decision, why string) {
	now := d.now()
	if in.m.State() == Initialize { // not started: startup_delay
		if v.Waiting != "" {
			in.m.Waiting(v.Waiting)
			return
		}
		defer func() { d.act(in, in.m.Startup(d.now())) }()
	}
	if v.Fault != "" {
		d.act(in, in.m.Fault(now, v.Fault))
	}
	if old := in.m.Priority(); old != v.Priority && in.cfg.Machine.Priority != 255 {
		why := v.PriorityWhy
		if why == "" {
			why = fmt.Sprintf("back to the configured priority %d: nothing changes it", v.Priority)
		}
		d.opt.Log.Info("priority changed", "instance", in.cfg.Name, "vrid", in.cfg.VRID, "from", old, "to", v.Priority, "reason", why)
		d.act(in, in.m.SetPriority(now, v.Priority))
		d.notify(in, PriorityChanged, in.m.State(), in.m.State(), why)
	}
	d.act(in, in.m.Hold(now, v.Held))
	if v.Fault == "" && in.m.State() == Fault {
		d.act(in, in.m.Recover(now, why))
	}
}

// notify hands an event of the instance to the hooks.
func (d *Driver) notify(in *instance, kind EventKind, from, to State, why string) {
	if d.opt.Notify == nil {
		return
	}
	c := &in.cfg
	d.opt.Notify.Notify(Event{
		Kind: kind, Instance: c.Name, Interface: c.Interface, VRID: c.VRID, From: from, To: to,
		Priority: in.m.Priority(), Reason: why, VIPs: in.held,
	})
}

// observe tells the policy what a sync group member follows, when that changed: its siblings
// are held back while it yields to a better master.
func (d *Driver) observe(in *instance) {
	if in.cfg.Group == "" {
		return
	}
	yields := in.m.Yielding()
	master := in.m.Status().Master
	if yields == in.yields && (!yields || master == in.master) {
		return
	}
	in.yields, in.master = yields, master
	what := ""
	if yields {
		what = "follows master " + master.String()
	}
	d.enact(d.pol.Observe(in.cfg.Name, what))
}

// act carries out a machine's actions in order. Adverts are queued and sent together at the end
// of the event, or before an action that changes addresses or ARP, so that the wire sees the
// actions in the machine's order.
func (d *Driver) act(in *instance, actions []Action) {
	c := &in.cfg
	for i := 0; i < len(actions); i++ {
		a := actions[i]
		if a.Kind == AddVIPs || a.Kind == RemoveVIPs || a.Kind == Announce {
			d.flush()
		}
		switch a.Kind {
		case SendAdvert:
			d.send(in, a.Priority)
		case AddVIPs:
			if i+1 < len(actions) && actions[i+1].Kind == Announce {
				d.takeOver(in)
				i++
			} else {
				d.take(c.Name, in.addrs, c.Routes, c.Rules)
			}
		case RemoveVIPs:
			d.release(c.Name, in.addrs, c.Routes, c.Rules)
		case Announce:
			d.announce(in, in.addrs)
		case Transition:
			in.cnt.Transitions[a.To]++
			if a.To != Master {
				in.cnt.Duplicates = nil
			}
			d.opt.Log.Info("transition", "instance", c.Name, "vrid", c.VRID, "from", a.From.String(), "to", a.To.String(), "reason", a.Reason)
			d.notify(in, StateChanged, a.From, a.To, a.Reason)
		case Reassert:
			d.opt.Log.Info("another master was heard: re-announced the VIPs", "instance", c.Name, "vrid", c.VRID, "reason", a.Reason)
			d.notify(in, Reasserted, Master, Master, a.Reason)
		}
	}
	if in.timer >= 0 && d.byNm[c.Name] == in {
		d.timers.fix(in)
		d.observe(in)
	}
}
