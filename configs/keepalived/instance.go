package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vrrpd/vrrpd/configs"
)

// A vrrp_instance becomes an [[instance]]: instance reads its block, and finish completes it once
// every section is read, as keepalived combines state, priority, nopreempt, authentication, the
// trackers and the sync group.

func (c *kaConverter) instance(s *kaStmt) {
	if !c.section(s) {
		return
	}
	in := &kaInstance{name: s.arg(),
		t: &tomlTable{header: "[[instance]]", sub: notifyTable("instance"), comments: []string{fmt.Sprintf("vrrp_instance %s, %s", s.arg(), s.pos)},
			order: []string{"name", "interface", "vrid", "priority", "version", "advert_interval", "preempt", "preempt_delay",
				"vips", "unicast_src", "unicast_peers", "auth_pass", "garp_delay", "garp_repeat", "garp_refresh",
				"track_interfaces", "track_checks"}},
	}
	in.t.set("name", tomlString(s.arg()), "")
	var peers []string
	for _, d := range s.block {
		switch kw := d.kw(); kw {
		case "state":
			in.state = d
		case "interface":
			if c.setString(in.t, "interface", d, "") {
				in.iface = d.arg()
			}
		case "virtual_router_id":
			c.setInt(in.t, "vrid", d)
		case "priority":
			c.setInt(in.t, "priority", d)
		case "version":
			c.setInt(in.t, "version", d)
		case "advert_int":
			in.advert = d
		case "nopreempt":
			in.nopreempt = d
		case "preempt": // keepalived's old spelling of the default
			in.nopreempt = nil
		case "preempt_delay":
			in.delay = d
		case "unicast_src_ip":
			c.setString(in.t, "unicast_src", d, "")
		case "mcast_src_ip":
			c.setString(in.t, "unicast_src", d, "keepalived: mcast_src_ip")
		case "unicast_peer":
			for _, p := range c.block(d) {
				peers = append(peers, p.kw())
				if len(p.words) > 1 {
					c.note(p.pos, "not carried over: %s: vrrpd has no per-peer settings; unicast_min_ttl sets the lowest TTL accepted from all peers", strings.Join(p.words[1:], " "))
				}
			}
			in.t.set("unicast_peers", tomlStrings(peers), "")
		case "authentication":
			for _, a := range c.block(d) {
				switch a.kw() {
				case "auth_type":
					in.authType = a
				case "auth_pass":
					in.authPass = a
				default:
					c.drop(a)
				}
			}
		case "virtual_ipaddress":
			in.vips = append(in.vips, c.block(d)...)
		case "track_interface":
			in.ifaces = append(in.ifaces, c.block(d)...)
		case "track_script":
			in.tracks = append(in.tracks, c.block(d)...)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.hook(in.t.sub, strings.TrimPrefix(kw, "notify_"), d)
		case "notify":
			c.hook(in.t.sub, "any", d)
		case "garp_master_delay":
			c.setSeconds(in.t, "garp_delay", d)
		case "garp_master_repeat":
			c.setInt(in.t, "garp_repeat", d)
		case "garp_master_refresh":
			c.setSeconds(in.t, "garp_refresh", d)
		case "strict_mode":
			in.strict = true
			c.note(d.pos, kaStrict, kw)
		default:
			c.drop(d)
		}
	}
	c.instances = append(c.instances, in)
}

// finish completes an instance once every section is read: the checks it tracks and its sync
// group may come after it.
func (c *kaConverter) finish(in *kaInstance) {
	ipv6 := c.vips(in)

	// keepalived's default version is 2, vrrpd's is 3: always say which.
	_, hasVersion := in.t.get("version")
	switch {
	case hasVersion:
	case c.version != "":
		in.t.set("version", c.version, "global_defs vrrp_version")
	case ipv6:
		in.t.set("version", "3", "keepalived uses VRRPv3 for IPv6")
	default:
		in.t.set("version", "2", "keepalived's default; vrrpd's is 3")
	}
	version, _ := in.t.get("version")
	if in.advert != nil && c.setSeconds(in.t, "advert_interval", in.advert) && version == "2" {
		d, _ := kaSeconds(in.advert.arg())
		if r := max(d.Round(time.Second), time.Second); r != d {
			in.t.set("advert_interval", tomlString(configs.FormatDuration(r)), "keepalived: advert_int "+in.advert.arg())
			c.note(in.advert.pos, "warning: advert_int %s: VRRPv2 carries whole seconds (RFC 3768 §5.3.7); keepalived rounds it to %s, and so does the conversion",
				in.advert.arg(), configs.FormatDuration(r))
		}
	}

	c.preempt(in)
	c.auth(in, version)
	c.trackers(in)
	for _, g := range c.garp.entries {
		if _, ok := in.t.get(g.key); !ok {
			in.t.set(g.key, g.value, g.remark)
		}
	}
}

// vips carries virtual_ipaddress over, and says whether the addresses are IPv6. Each line is
// ADDRESS[/LEN] [dev IFNAME] [label LABEL] [scope SCOPE] [brd ADDRESS] ...
func (c *kaConverter) vips(in *kaInstance) (ipv6 bool) {
	var vips []string
	for _, s := range in.vips {
		addr, dev := s.kw(), ""
		for i := 1; i < len(s.words); i++ {
			opt, arg := s.words[i], ""
			if slices.Contains([]string{"dev", "brd", "broadcast", "scope", "label", "peer", "preferred_lft", "track_group"}, opt) && i+1 < len(s.words) {
				i++
				arg = s.words[i]
			}
			switch {
			case opt == "dev":
				dev = arg
			case opt == "label":
				c.note(s.pos, "not carried over: label %s of %s: vrrpd adds VIPs without a label; scripts that look for the label should look for the address", arg, addr)
			case opt == "scope":
				c.note(s.pos, "not carried over: scope %s of %s: vrrpd adds VIPs with the default scope, global", arg, addr)
			case kaIsAddress(opt):
				c.note(s.pos, "not carried over: %s: keepalived reads one address per line and ignores this one after %s: put it on a line of its own", opt, addr)
			default:
				c.note(s.pos, "not carried over: %s of %s: vrrpd adds a VIP with its address and prefix length only", strings.TrimSpace(opt+" "+arg), addr)
			}
		}
		if dev != "" && dev != in.iface {
			c.note(s.pos, "not carried over: %s dev %s: vrrpd puts an instance's VIPs on its interface, %s: add an [[instance]] "+
				"on %s for it (and a sync_group if they must move together)", addr, dev, in.iface, dev)
			continue
		}
		vips = append(vips, addr)
		ip, _, _ := strings.Cut(addr, "/")
		ipv6 = ipv6 || strings.Contains(ip, ":")
	}
	if len(vips) > 0 {
		in.t.set("vips", tomlStrings(vips), "")
	}
	return ipv6
}

func kaIsAddress(s string) bool {
	_, err := netip.ParsePrefix(s)
	_, err2 := netip.ParseAddr(s)
	return err == nil || err2 == nil
}

// preempt carries state, priority, nopreempt and preempt_delay over, as keepalived combines them.
func (c *kaConverter) preempt(in *kaInstance) {
	strict := c.strict || in.strict
	master := in.state != nil && in.state.arg() == "MASTER"
	if master {
		c.note(in.state.pos, kaMaster)
		if _, ok := in.t.get("priority"); !ok {
			in.t.set("priority", "255", "state MASTER without a priority: keepalived makes it the address owner")
			c.note(in.state.pos, "warning: state MASTER without a priority: keepalived makes this node the address owner, "+
				"priority 255; carried over as priority = 255: set 1-254 unless this node really owns the VIPs")
		}
	}
	priority, ok := in.t.get("priority")
	if !ok {
		priority = "100"
	}
	master = master && (!strict || priority == "255") // strict mode starts a non-owner as BACKUP
	vrid, _ := in.t.get("vrid")
	switch {
	case in.nopreempt == nil:
	case master:
		c.note(in.nopreempt.pos, "warning: nopreempt: keepalived ignores it with state MASTER, so this node did preempt: left out. "+
			"To keep the VIPs where they are after a failover, set preempt = false on every node of vrid %s", vrid)
	case priority == "255":
		c.note(in.nopreempt.pos, "not carried over: nopreempt: the address owner (priority 255) always preempts; keepalived ignores it too")
	default:
		in.t.set("preempt", "false", "keepalived: nopreempt")
		c.note(in.nopreempt.pos, kaNopreempt, priority, vrid)
	}
	ignored := ""
	switch {
	case in.delay == nil:
	case master:
		ignored = "state MASTER"
	case strict:
		ignored = "strict mode"
	case in.nopreempt != nil:
		ignored = "nopreempt"
	default:
		c.setSeconds(in.t, "preempt_delay", in.delay)
	}
	if ignored != "" {
		c.note(in.delay.pos, "not carried over: preempt_delay: keepalived ignores it with %s", ignored)
	}
}

// auth carries authentication over: VRRPv2's simple password only (RFC 3768 §5.3.6).
func (c *kaConverter) auth(in *kaInstance, version string) {
	at := in.authType
	if at == nil {
		at = in.authPass
	}
	switch {
	case at == nil:
	case in.authType != nil && in.authType.arg() == "AH":
		c.drop(in.authType)
	case in.authType == nil || in.authType.arg() != "PASS" || in.authPass == nil || in.authPass.arg() == "":
		c.note(at.pos, "not carried over: authentication: it needs auth_type PASS and an auth_pass; keepalived sends no password either")
	case version == "3":
		c.note(at.pos, "not carried over: authentication: VRRPv3 has no authentication (RFC 5798 §9); keepalived ignores it too")
	case c.strict || in.strict:
		c.note(at.pos, "not carried over: authentication: keepalived ignores it in strict mode, so this node sent none")
	default:
		pass := in.authPass.arg()
		if len(pass) > 8 {
			pass = pass[:8]
			c.note(in.authPass.pos, "warning: auth_pass: keepalived sends its first 8 characters only; carried over as those 8")
		}
		in.t.set("auth_pass", tomlString(pass), "")
	}
}

// trackers carries track_interface and track_script over. Each line is `NAME [weight N [reverse]]`.
// In a sync group without sync_group_tracking_weight, keepalived ignores the weights: a tracked
// interface puts the instance in FAULT instead, and a tracked script with a weight is not
// tracked at all.
func (c *kaConverter) trackers(in *kaInstance) {
	g := c.groupOf[in.name]
	noWeights := g != nil && !g.weights
	weight := func(s *kaStmt, dflt int) (int, bool) {
		if slices.Contains(s.words, "reverse") {
			c.note(s.pos, "not carried over: reverse of %s: vrrpd has no reversed trackers: invert what it tracks instead", s.kw())
		}
		if len(s.words) < 3 || s.words[1] != "weight" {
			return dflt, false
		}
		w, err := strconv.Atoi(s.words[2])
		if err != nil {
			c.note(s.pos, "not carried over: weight %s of %s: not a whole number", s.words[2], s.kw())
			return dflt, false
		}
		return w, true
	}

	var list []string
	for _, s := range in.ifaces {
		w, _ := weight(s, 0)
		switch {
		case w != 0 && noWeights:
			c.note(s.pos, "warning: weight %d of %s: keepalived ignores tracker weights in sync group %s (it has no sync_group_tracking_weight), "+
				"so %s going down means FAULT: carried over that way; to apply the weight, add weight = %d to its track_interfaces entry",
				w, s.kw(), g.name, s.kw(), w)
			w = 0
		case w > 0:
			c.note(s.pos, "warning: weight %d of %s: keepalived adds a positive weight while the link is up, vrrpd adds weights "+
				"while it is down: carried over as weight = %d, so add %d to priority to keep the same priorities", w, s.kw(), -w, w)
			w = -w
		}
		entry := "{ name = " + tomlString(s.kw())
		if w != 0 {
			entry += ", weight = " + strconv.Itoa(w)
		}
		list = append(list, entry+" }")
	}
	if len(list) > 0 {
		in.t.set("track_interfaces", "["+strings.Join(list, ", ")+"]", "")
	}

	list = nil
	for _, s := range in.tracks {
		own, ok := c.scripts[s.kw()]
		if !ok {
			c.note(s.pos, "not carried over: track_script %s: there is no vrrp_script %s with a script (keepalived ignores it too)", s.kw(), s.kw())
			continue
		}
		w, set := weight(s, own)
		if w != 0 && noWeights {
			c.note(s.pos, "warning: track_script %s: keepalived ignores a tracked script with a weight (%d) in sync group %s (it has no "+
				"sync_group_tracking_weight), so it never tracked it: left out; to track it, add { name = %q } to track_checks",
				s.kw(), w, g.name, s.kw())
			continue
		}
		entry := "{ name = " + tomlString(s.kw())
		if set {
			entry += ", weight = " + strconv.Itoa(w)
		}
		list = append(list, entry+" }")
	}
	if len(list) > 0 {
		in.t.set("track_checks", "["+strings.Join(list, ", ")+"]", "")
	}
}
