package configs

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// NamedConfig is a configuration and the file it was read from, which messages name.
type NamedConfig struct {
	File   string
	Config *Config
}

// CheckPair checks the configurations of the hosts of one LAN against each other, as `vrrpd
// check lb1.toml lb2.toml` does: what each file gets right alone can still fail together. The
// instances of one virtual router are those with the same VRID and address family in each file
// (the hosts' interface names may differ); a file with two such instances, on two interfaces, has
// them matched by interface name. For each virtual router it checks that:
//
//   - every file has the same version, advert_interval, VIPs, multicast or unicast, auth_pass
//     (version 2) and v3_checksum (version 3 over IPv4), since a router drops adverts that
//     differ (RFC 5798 §7.1, RFC 3768 §7.1) or, with other VIPs, serves other addresses;
//   - a unicast host lists each other host's unicast_src among its unicast_peers;
//   - the priorities differ, since equal ones leave the election to the hosts' addresses
//     (RFC 5798 §6.4.3);
//   - each weight of the master's trackers, the host with the highest priority while all are
//     healthy, can move the VIP: the master's priority less that weight must fall below another
//     host's, and that host must preempt. (The classic mistake: weight -5 on a 110 master above a
//     100 backup: 110 - 5 = 105 > 100, so nothing ever fails over.)
//
// It returns every problem (each matching ErrInvalid), and warnings, which stop nothing: the
// master with preempt = false, and an instance no other file has.
func CheckPair(hosts []NamedConfig) (warnings []string, err error) {
	var problems []error
	for _, g := range routers(hosts) {
		if len(g.members) == 1 {
			m := g.members[0]
			warnings = append(warnings, fmt.Sprintf("%s: %s: no other file has VRID %d (%s): no host backs it up",
				m.file, m.label(), m.in.VRID, familyOf(m.in)))
			continue
		}
		ws, ps := g.check()
		warnings = append(warnings, ws...)
		for _, p := range ps {
			problems = append(problems, &problem{msg: p})
		}
	}
	return warnings, errors.Join(problems...)
}

// router is the instances of one virtual router, one per file.
type router struct {
	members []member
}

type member struct {
	file string
	in   *Instance
}

func (m member) label() string { return fmt.Sprintf("instance %q", m.in.Name) }

// routers groups the files' instances by VRID and address family, in file order. Where one file
// has two instances in a group, the group is split by interface name.
func routers(hosts []NamedConfig) []*router {
	type key struct {
		vrid uint8
		ipv6 bool
	}
	var keys []key
	byKey := map[key][]member{}
	for _, h := range hosts {
		for i := range h.Config.Instances {
			in := &h.Config.Instances[i]
			k := key{in.VRID, in.IPv6()}
			if byKey[k] == nil {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], member{h.File, in})
		}
	}
	var out []*router
	for _, k := range keys {
		ms := byKey[k]
		files := map[string]bool{}
		split := false
		for _, m := range ms {
			split = split || files[m.file]
			files[m.file] = true
		}
		if !split {
			out = append(out, &router{ms})
			continue
		}
		var names []string
		byIf := map[string]*router{}
		for _, m := range ms {
			if byIf[m.in.Interface] == nil {
				names = append(names, m.in.Interface)
				byIf[m.in.Interface] = &router{}
			}
			byIf[m.in.Interface].members = append(byIf[m.in.Interface].members, m)
		}
		for _, n := range names {
			out = append(out, byIf[n])
		}
	}
	return out
}

// where names the virtual router in a problem: its VRID and family, and its instance in each
// file.
func (g *router) where() string {
	first := g.members[0]
	same := true
	var files, each []string
	for _, m := range g.members {
		same = same && m.in.Name == first.in.Name
		files = append(files, m.file)
		each = append(each, fmt.Sprintf("%q in %s", m.in.Name, m.file))
	}
	head := fmt.Sprintf("VRID %d (%s)", first.in.VRID, familyOf(first.in))
	if same {
		return fmt.Sprintf("%s: instance %q in %s", head, first.in.Name, and(files))
	}
	return fmt.Sprintf("%s: instances %s", head, and(each))
}

// check returns the router's warnings and problems.
func (g *router) check() (warnings, problems []string) {
	where := g.where()
	differ := func(key string, value func(*Instance) string) {
		if msg := differs(g.members, value); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: not the same %s: %s", where, key, msg))
		}
	}
	all := func(ok func(*Instance) bool) bool {
		return !slices.ContainsFunc(g.members, func(m member) bool { return !ok(m.in) })
	}
	differ("version", func(in *Instance) string { return strconv.Itoa(in.Version) })
	differ("advert_interval", func(in *Instance) string { return in.AdvertInterval.String() })
	differ("vips", func(in *Instance) string { return vipSet(in.VIPs) })
	differ("way of sending adverts", func(in *Instance) string {
		if len(in.UnicastPeers) > 0 {
			return "unicast"
		}
		return "multicast"
	})
	if all(func(in *Instance) bool { return in.Version == 2 }) {
		var seen []string // the passwords, which messages name by their rank only
		differ("auth_pass", func(in *Instance) string {
			if in.AuthPass == "" {
				return "none"
			}
			if !slices.Contains(seen, in.AuthPass) {
				seen = append(seen, in.AuthPass)
			}
			return fmt.Sprintf("password %d (not shown)", slices.Index(seen, in.AuthPass)+1)
		})
	}
	if all(func(in *Instance) bool { return in.Version == 3 && !in.IPv6() }) {
		differ("v3_checksum", func(in *Instance) string { return in.V3Checksum })
	}
	problems = append(problems, g.peers()...)
	problems = append(problems, g.priorities(where)...)
	w, p := g.master()
	return append(warnings, w...), append(problems, p...)
}

// peers checks that unicast hosts list each other's unicast_src: a host drops adverts from an
// address that is not among its peers.
func (g *router) peers() []string {
	var problems []string
	for _, m := range g.members {
		if len(m.in.UnicastPeers) == 0 {
			continue
		}
		for _, o := range g.members {
			src := o.in.UnicastSrc
			if o.file != m.file && src.IsValid() && len(o.in.UnicastPeers) > 0 && !slices.Contains(m.in.UnicastPeers, src) {
				problems = append(problems, fmt.Sprintf("%s: %s: unicast_peers lack %s, the unicast_src of %q in %s, so its adverts are dropped here: add it",
					m.file, m.label(), src, o.in.Name, o.file))
			}
		}
	}
	return problems
}

// priorities checks that no two hosts have the same priority.
func (g *router) priorities(where string) []string {
	var problems []string
	byPrio := map[uint8][]string{}
	var prios []uint8
	for _, m := range g.members {
		if byPrio[m.in.Priority] == nil {
			prios = append(prios, m.in.Priority)
		}
		byPrio[m.in.Priority] = append(byPrio[m.in.Priority], m.file)
	}
	for _, p := range prios {
		if files := byPrio[p]; len(files) > 1 {
			problems = append(problems, fmt.Sprintf("%s: priority %d in %s: priorities must differ, or the host with the higher address wins the election (RFC 5798 §6.4.3): give the one meant to be master the higher priority",
				where, p, and(files)))
		}
	}
	return problems
}

// master checks the host that is master while every host is healthy: its preemption, and that
// each of its trackers' weights can move the VIP to another host.
func (g *router) master() (warnings, problems []string) {
	ms := slices.Clone(g.members)
	slices.SortStableFunc(ms, func(a, b member) int { return healthy(b.in) - healthy(a.in) })
	top, next := ms[0], ms[1]
	if healthy(top.in) == healthy(next.in) {
		return nil, nil // no single master; priorities says so where the base priorities tie
	}
	if !top.in.Preempt && top.in.Priority != 255 {
		warnings = append(warnings, fmt.Sprintf("%s: %s: preempt = false on the host with the highest priority (%d): after a failover it will not take the VIP back while the other host is master; remove preempt = false if it should be master whenever it is up",
			top.file, top.label(), healthy(top.in)))
	}
	for _, t := range trackersOf(top.in) {
		if msg := top.moves(t, ms[1:]); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: %s: %s %q: %s", top.file, top.label(), t.key, t.name, msg))
		}
	}
	return warnings, problems
}

// tracker is one of an instance's trackers with a weight.
type tracker struct {
	key, name string // "track_checks", "nginx"
	weight    int
}

// trackersOf lists an instance's trackers that change its priority (weight 0 means FAULT, which
// always moves the VIP).
func trackersOf(in *Instance) []tracker {
	var ts []tracker
	for _, t := range in.TrackInterfaces {
		if t.Weight != 0 {
			ts = append(ts, tracker{"track_interfaces", t.Name, t.Weight})
		}
	}
	for _, t := range in.TrackChecks {
		if t.Weight != 0 {
			ts = append(ts, tracker{"track_checks", t.Name, t.Weight})
		}
	}
	return ts
}

// moves says why the failure of tracker t on the master m does not move the VIP to one of
// others, or returns "". A negative weight is added while the tracked thing is down, a positive
// one while it is up: either way its failure takes |weight| off.
func (m member) moves(t tracker, others []member) string {
	if m.in.Priority == 255 {
		return fmt.Sprintf("weight %d does nothing: the address owner's priority 255 never changes; use weight 0 (FAULT), or a priority below 255", t.weight)
	}
	drop := max(t.weight, -t.weight)
	up := unclamped(m.in)
	failed := clampPriority(up - drop)
	best := others[0] // others are sorted by healthy priority, highest first
	other := fmt.Sprintf("%d, the priority of %q in %s", healthy(best.in), best.in.Name, best.file)
	switch {
	case failed >= healthy(best.in) && t.weight < 0:
		return fmt.Sprintf("weight %d cannot move the VIP: %d - %d = %d is not below %s: make it %d or less",
			t.weight, up, drop, failed, other, healthy(best.in)-up-1)
	case failed >= healthy(best.in):
		// A positive weight is in the healthy priority: its failure only takes away what it added.
		return fmt.Sprintf("weight %d cannot move the VIP: without it the priority is %d, not below %s: a positive weight moves the VIP only if the priority without it is below the other host's",
			t.weight, failed, other)
	}
	for _, o := range others {
		if healthy(o.in) <= failed {
			break
		}
		if o.in.Preempt {
			return ""
		}
	}
	return fmt.Sprintf("weight %d lowers the priority to %d, below %q in %s (%d), but no host above %d has preempt on, so none takes the VIP from a master that still advertises (RFC 5798 §6.4.2): remove preempt = false from %s",
		t.weight, failed, best.in.Name, best.file, healthy(best.in), failed, best.file)
}

// unclamped is an instance's priority with every tracker healthy, before clamping: the base,
// plus the positive weights, which apply while their tracker is up.
func unclamped(in *Instance) int {
	p := int(in.Priority)
	for _, t := range trackersOf(in) {
		p += max(t.weight, 0)
	}
	return p
}

// healthy is an instance's effective priority while every tracker is healthy.
func healthy(in *Instance) int {
	if in.Priority == 255 {
		return 255
	}
	return clampPriority(unclamped(in))
}

// clampPriority clamps an effective priority to 1-254, as SPEC.md says trackers' weights do.
func clampPriority(p int) int { return min(max(p, 1), 254) }

// differs describes how value differs across the members ("1s in lb1.toml, 2s in lb2.toml"), or
// returns "" if it is the same in all.
func differs(ms []member, value func(*Instance) string) string {
	var values []string
	files := map[string][]string{}
	for _, m := range ms {
		v := value(m.in)
		if files[v] == nil {
			values = append(values, v)
		}
		files[v] = append(files[v], m.file)
	}
	if len(values) == 1 {
		return ""
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = v + " in " + and(files[v])
	}
	return strings.Join(parts, ", ")
}

// vipSet writes VIPs as a set: sorted, in brackets.
func vipSet(vips []netip.Prefix) string {
	s := make([]string, len(vips))
	for i, p := range vips {
		s[i] = p.String()
	}
	slices.Sort(s)
	return "[" + strings.Join(slices.Compact(s), " ") + "]"
}

func familyOf(in *Instance) string {
	if in.IPv6() {
		return "IPv6"
	}
	return "IPv4"
}

// and joins names as a person lists them: "a", "a and b", "a, b and c".
func and(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
