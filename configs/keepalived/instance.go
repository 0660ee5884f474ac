package keepalived

import (
	"cmp"
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

// kaInstance is a vrrp_instance being converted: its tables, and what finish needs to complete them.
type kaInstance struct {
	name      string
	t         *tomlTable // its sub is the [instance.notify] table
	iface     string
	state     *kaStmt // the last "state" line
	advert    *kaStmt // advert_int, whose rounding depends on the version
	strict    bool    // strict_mode
	nopreempt *kaStmt
	delay     *kaStmt // preempt_delay, which keepalived may ignore
	authType  *kaStmt
	authPass  *kaStmt
	vmac      *kaStmt   // use_vmac
	vips      []*kaStmt // virtual_ipaddress lines
	evips     []*kaStmt // virtual_ipaddress_excluded lines
	ifaces    []kaTrack // track_interface lines, its own and its sync group's
	tracks    []kaTrack // track_script lines
	files     []kaTrack // track_file lines
	notify    string    // its notify script, as TOML
	prio      *kaStmt   // notify_priority_changes
	refs      []kaRef   // the checks it tracks, resolved by finish
}

// kaTrack is a tracker's line, in an instance or in its sync group (group is then set).
type kaTrack struct {
	s     *kaStmt
	group *kaGroup
}

func kaTracks(lines []*kaStmt, g *kaGroup) []kaTrack {
	tracks := make([]kaTrack, len(lines))
	for i, s := range lines {
		tracks[i] = kaTrack{s, g}
	}
	return tracks
}

// kaRef is a check an instance tracks: the variant of a kaCheck, and vrrpd's weight for it.
type kaRef struct {
	check   *kaCheck
	variant int
	weight  int
	set     bool // the line gives the weight
}

func (c *kaConverter) instance(s *kaStmt) {
	if !c.section(s) {
		return
	}
	in := &kaInstance{name: s.arg(),
		t: &tomlTable{header: "[[instance]]", sub: notifyTable("instance"), comments: []string{fmt.Sprintf("vrrp_instance %s, %s", s.arg(), s.pos)},
			order: []string{"name", "interface", "vrid", "priority", "version", "advert_interval", "preempt", "preempt_delay",
				"vips", "vips_excluded", "unicast_src", "unicast_peers", "auth_pass", "garp_delay", "garp_repeat", "garp_refresh",
				"garp_interval", "vmac", "vmac_name", "routes", "rules", "track_interfaces", "track_checks"}},
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
					c.note(p.pos, "not carried over: %s: vrrpd has no per-peer settings; unicast_min_ttl sets the lowest TTL accepted from all peers", kaEcho(strings.Join(p.words[1:], " ")))
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
		case "virtual_ipaddress_excluded":
			in.evips = append(in.evips, c.block(d)...)
		case "virtual_routes":
			c.routes(in, c.block(d))
		case "virtual_rules":
			c.rules(in, c.block(d))
		case "track_interface":
			in.ifaces = append(in.ifaces, kaTracks(c.block(d), nil)...)
		case "track_script":
			in.tracks = append(in.tracks, kaTracks(c.block(d), nil)...)
		case "track_file":
			in.files = append(in.files, kaTracks(c.block(d), nil)...)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.hook(in.t.sub, strings.TrimPrefix(kw, "notify_"), d)
		case "notify":
			if c.hook(in.t.sub, "any", d) != nil {
				in.notify, _ = in.t.sub.get("any")
			}
		case "notify_master_rx_lower_pri":
			c.hook(in.t.sub, "reassert", d)
		case "notify_priority_changes":
			in.prio = d
		case "garp_master_delay":
			c.setSeconds(in.t, "garp_delay", d)
		case "garp_master_repeat":
			c.setInt(in.t, "garp_repeat", d)
		case "garp_master_refresh":
			c.setSeconds(in.t, "garp_refresh", d)
		case "use_vmac":
			in.vmac = d
		case "vmac_xmit_base":
			c.note(d.pos, kaXmitBase)
		case "no_accept":
			c.note(d.pos, kaNoAccept)
		case "strict_mode":
			in.strict = true
			c.note(d.pos, kaStrict, kw)
		default:
			if why := kaDefault(kw); why != "" {
				c.note(d.pos, "%s: nothing to carry over: %s", kw, why)
			} else {
				c.drop(d)
			}
		}
	}
	c.instances = append(c.instances, in)
}

// finish completes an instance once every section is read: the checks it tracks and its sync
// group may come after it.
func (c *kaConverter) finish(in *kaInstance) {
	ipv6 := c.addresses(in, "vips", in.vips)
	c.addresses(in, "vips_excluded", in.evips)

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
				kaEcho(in.advert.arg()), configs.FormatDuration(r))
		}
	}

	c.preempt(in)
	c.auth(in, version)
	c.interfaces(in)
	c.trackChecks(in)
	for _, g := range c.garp.entries {
		if _, ok := in.t.get(g.key); !ok {
			in.t.set(g.key, g.value, g.remark)
		}
	}
	c.garpIntervalOf(in, ipv6)
	c.vmac(in, ipv6)
	c.priorityNotify(in)
}

// garpIntervalOf sets garp_interval: keepalived's interval between the GARPs (IPv6: unsolicited NAs)
// on an interface, from the garp_group that lists the instance's interface, else from global_defs.
func (c *kaConverter) garpIntervalOf(in *kaInstance, ipv6 bool) {
	key, global, remark := "garp", c.garpDefault, "global_defs vrrp_garp_interval"
	if ipv6 {
		key, global, remark = "gna", c.gnaDefault, "global_defs vrrp_gna_interval"
	}
	v := global
	if g, ok := c.garpGroups[in.iface]; ok && g[key] != "" {
		v, remark = g[key], "keepalived: garp_group "+key+"_interval of "+in.iface
	}
	if v != "" && v != `"0s"` {
		in.t.set("garp_interval", v, remark)
	}
}

// addresses carries virtual_ipaddress or virtual_ipaddress_excluded over as key, and says whether
// the addresses are IPv6. Each line is ADDRESS[/LEN] [dev IFNAME] [label LABEL] [scope SCOPE]
// [brd ADDRESS] ...; an address with a dev other than the instance's interface, a label or a
// scope is written as a table.
func (c *kaConverter) addresses(in *kaInstance, key string, lines []*kaStmt) (ipv6 bool) {
	var entries []string
	tables := false
	for _, s := range lines {
		addr := s.kw()
		// dev, label and scope, in the table's order; a repeated option counts once, the last,
		// as ip address add takes it.
		var opts [3]string
		ip, _, _ := strings.Cut(addr, "/")
		v6 := strings.Contains(ip, ":")
		for i := 1; i < len(s.words); i++ {
			opt, arg := s.words[i], ""
			if slices.Contains([]string{"dev", "brd", "broadcast", "scope", "label", "peer", "preferred_lft", "track_group"}, opt) {
				if i+1 == len(s.words) {
					c.note(s.pos, "not carried over: %s of %s: it has no value", kaEcho(opt), kaEcho(addr))
					continue
				}
				i++
				arg = s.words[i]
			}
			switch {
			case opt == "dev" && arg != in.iface:
				opts[0] = "dev = " + tomlString(arg)
			case opt == "dev":
				opts[0] = ""
			case opt == "label" && v6:
				c.note(s.pos, "not carried over: label %s of %s: IPv6 addresses have no labels", kaEcho(arg), kaEcho(addr))
			case opt == "label":
				opts[1] = "label = " + tomlString(arg)
			case opt == "scope" && (arg == "global" || arg == "universe"): // vrrpd's default
				opts[2] = ""
			case opt == "scope" && slices.Contains([]string{"site", "link", "host"}, arg):
				opts[2] = "scope = " + tomlString(arg)
			case opt == "scope":
				c.note(s.pos, "not carried over: scope %s of %s: vrrpd's scopes are global, site, link and host", kaEcho(arg), kaEcho(addr))
			case kaIsAddress(opt):
				c.note(s.pos, "not carried over: %s: keepalived reads one address per line and ignores this one after %s: put it on a line of its own", kaEcho(opt), kaEcho(addr))
			default:
				c.note(s.pos, "not carried over: %s of %s: vrrpd adds an address with its prefix length, dev, label and scope only",
					kaEcho(strings.TrimSpace(opt+" "+arg)), kaEcho(addr))
			}
		}
		fields := slices.DeleteFunc(opts[:], func(f string) bool { return f == "" })
		if len(fields) == 0 {
			entries = append(entries, tomlString(addr))
		} else {
			tables = true
			entries = append(entries, "{ address = "+tomlString(addr)+", "+strings.Join(fields, ", ")+" }")
		}
		ipv6 = ipv6 || v6
	}
	if len(entries) > 0 {
		in.t.set(key, tomlArray(entries, tables), "")
	}
	return ipv6
}

func kaIsAddress(s string) bool {
	_, err := netip.ParsePrefix(s)
	_, err2 := netip.ParseAddr(s)
	return err == nil || err2 == nil
}

// kaTable reads a routing table's number or name, as find_rttables_table does from iproute2's
// rt_tables, which names main, local and default. It returns "" for the main table.
func kaTable(s string) (string, bool) {
	switch s {
	case "main", "254":
		return "", true
	case "local":
		return "255", true
	case "default":
		return "253", true
	}
	n, err := strconv.ParseUint(s, 0, 32)
	return strconv.FormatUint(n, 10), err == nil
}

// kaScope reads a route's scope, by name or number (iproute2's rt_scopes).
func kaScope(s string) (string, bool) {
	switch s {
	case "global", "universe", "0":
		return "global", true
	case "site", "200":
		return "site", true
	case "link", "253":
		return "link", true
	case "host", "254":
		return "host", true
	}
	return "", false
}

// routes carries virtual_routes over. Each line is [src ADDRESS] [to] PREFIX [via|gw ADDRESS]
// [dev IFNAME] [scope SCOPE] [table TABLE] [metric N], or blackhole, unreachable or prohibit
// before the prefix (keepalived's alloc_route). A route with an option vrrpd's routes lack is
// left out whole, as leaving out the option would make it another route.
func (c *kaConverter) routes(in *kaInstance, lines []*kaStmt) {
	// to, via, dev, src, table, metric, scope, type
	c.optionLines(in, "routes", "route", "destination", lines, 8, 0, func(f []string, w string, arg func() string) string {
		switch w {
		case "inet", "inet6", "no_track", "prepend", "add", "append":
			// the family, which the addresses say; keepalived's own tracking; how the kernel
			// orders equal routes
		case "src":
			f[3] = "src = " + tomlString(arg())
		case "via", "gw":
			v := arg()
			if v == "inet" || v == "inet6" {
				v = arg()
			}
			f[1] = "via = " + tomlString(v)
		case "dev", "oif":
			f[2] = "dev = " + tomlString(arg())
		case "table":
			v := arg()
			t, ok := kaTable(v)
			if !ok {
				return "table " + v + " (write its number)"
			}
			if t != "" {
				f[4] = "table = " + t
			}
		case "metric", "priority", "preference":
			v := arg()
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return w + " " + v
			}
			f[5] = "metric = " + strconv.FormatUint(n, 10)
		case "scope":
			v := arg()
			sc, ok := kaScope(v)
			if !ok {
				return "scope " + v
			}
			f[6] = "scope = " + tomlString(sc)
		case "unicast":
		case "blackhole", "unreachable", "prohibit":
			f[7] = "type = " + tomlString(w)
		case "to":
			f[0] = "to = " + tomlString(arg())
		default:
			if f[0] != "" || !kaIsAddress(w) && w != "default" {
				return w
			}
			f[0] = "to = " + tomlString(w)
		}
		return ""
	})
}

// rules carries virtual_rules over. Each line is from PREFIX [to PREFIX] [iif IFNAME] [oif IFNAME]
// [fwmark N] table TABLE [priority N] (keepalived's alloc_rule), any of them but the table left
// out. A rule with an option vrrpd's rules lack is left out whole, as leaving out the option would
// make it another rule.
func (c *kaConverter) rules(in *kaInstance, lines []*kaStmt) {
	// from, to, iif, oif, fwmark, table, priority
	c.optionLines(in, "rules", "rule", "table", lines, 7, 5, func(f []string, w string, arg func() string) string {
		switch w {
		case "inet", "inet6", "no_track":
		case "from":
			f[0] = "from = " + tomlString(arg())
		case "to":
			f[1] = "to = " + tomlString(arg())
		case "iif", "dev":
			f[2] = "iif = " + tomlString(arg())
		case "oif":
			f[3] = "oif = " + tomlString(arg())
		case "fwmark":
			v := arg()
			n, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return "fwmark " + v
			}
			f[4] = "fwmark = " + strconv.FormatUint(n, 10)
		case "table", "lookup":
			v := arg()
			t, ok := kaTable(v)
			if !ok {
				return "table " + v + " (write its number)"
			}
			f[5] = "table = " + cmp.Or(t, "254")
		case "priority", "preference", "order":
			v := arg()
			n, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return w + " " + v
			}
			f[6] = "priority = " + strconv.FormatUint(n, 10)
		default:
			return w
		}
		return ""
	})
}

// optionLines carries over a list of lines of options, as virtual_routes and virtual_rules are,
// into the TOML array key. option reads one word of a line into its n fields (in the TOML's
// order), taking the word's value with arg, or returns what vrrpd's entries lack. A line without
// fields[need], its what, is left out, as keepalived ignores it; so is a line with anything
// vrrpd lacks, as leaving out the option would make it another route or rule.
func (c *kaConverter) optionLines(in *kaInstance, key, kind, what string, lines []*kaStmt, n, need int,
	option func(f []string, w string, arg func() string) (unsupported string)) {
	var entries []string
	for _, s := range lines {
		f := make([]string, n)
		unsupported := ""
		ws := s.words
		for i := 0; i < len(ws) && unsupported == ""; i++ {
			arg := func() string {
				if i+1 < len(ws) {
					i++
					return ws[i]
				}
				unsupported = ws[i] + " without a value"
				return ""
			}
			if u := option(f, ws[i], arg); unsupported == "" {
				unsupported = u
			}
		}
		switch {
		case unsupported != "":
			c.note(s.pos, "not carried over: %s %s: vrrpd's %s have no %s: add it from a notify hook", kind, kaEcho(strings.Join(ws, " ")), key, kaEcho(unsupported))
		case f[need] == "":
			c.note(s.pos, "not carried over: %s %s: it has no %s (keepalived ignores it too)", kind, kaEcho(strings.Join(ws, " ")), what)
		default:
			entries = append(entries, "{ "+strings.Join(slices.DeleteFunc(f, func(x string) bool { return x == "" }), ", ")+" }")
		}
	}
	if len(entries) > 0 {
		in.t.set(key, tomlArray(entries, true), "")
	}
}

// vmac carries use_vmac [NAME] [MAC] over. Without a name keepalived calls the interface
// PREFIX.VRID, PREFIX being vmac_prefix or "vrrp", as vrrpd does an IPv4 instance's.
func (c *kaConverter) vmac(in *kaInstance, ipv6 bool) {
	if in.vmac == nil {
		return
	}
	in.t.set("vmac", "true", "keepalived: use_vmac")
	name := ""
	for _, w := range in.vmac.words[1:] {
		if strings.Contains(w, ":") { // interface names have none
			c.note(in.vmac.pos, "not carried over: use_vmac's MAC address %s: vrrpd uses the RFC's virtual MAC, 00:00:5e:00:01:VRID "+
				"(IPv6 00:00:5e:00:02:VRID; RFC 5798 §7.3)", kaEcho(w))
		} else {
			name = w
		}
	}
	prefix := c.vmacPrefix
	if prefix == "" {
		prefix = "vrrp"
	}
	vrid, _ := in.t.get("vrid")
	switch {
	case name != "":
		in.t.set("vmac_name", tomlString(name), "")
	case ipv6:
		in.t.set("vmac", "true", "keepalived: use_vmac, with an interface it names "+prefix+"."+vrid+" (vrrpd: vrrp6."+vrid+")")
	case c.vmacPrefix != "":
		in.t.set("vmac_name", tomlString(prefix+"."+vrid), "global_defs vmac_prefix")
	}
}

// priorityNotify carries notify_priority_changes over, from the instance, else its sync group,
// else global_defs' vrrp_notify_priority_changes.
func (c *kaConverter) priorityNotify(in *kaInstance) {
	s := in.prio
	if g := c.groupOf[in.name]; s == nil && g != nil {
		s = g.prioNotify
	}
	if s == nil {
		s = c.prioNotify
	}
	if s == nil {
		return
	}
	if on, ok := c.boolValue(s); !ok || !on {
		return
	}
	if in.notify == "" && s == c.prioNotify { // global_defs' default: an instance without a notify script has nothing to change
		return
	}
	if in.notify == "" {
		c.note(s.pos, "warning: %s: instance %s has no notify script to run on a change of priority: "+
			"set notify.priority to a program that vrrpd runs on each change, with the new priority in $VRRPD_PRIORITY", s.kw(), kaEcho(in.name))
		return
	}
	in.t.sub.set("priority", in.notify, "keepalived: "+s.kw())
	c.note(s.pos, "warning: %s: carried over as notify.priority, the notify script of instance %s, which vrrpd runs on each change of "+
		"the effective priority, without arguments and with the new priority in $VRRPD_PRIORITY. keepalived itself writes priority "+
		"changes only to its notify FIFOs (INSTANCE \"NAME\" MASTER_PRIORITY PRIORITY), never to the notify script: make sure "+
		"the script does the right thing without arguments", s.kw(), kaEcho(in.name))
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

// noWeights reports whether keepalived ignores the weights of an instance's own trackers: in a sync
// group without sync_group_tracking_weight. It returns that group.
func (c *kaConverter) noWeights(in *kaInstance) *kaGroup {
	if g := c.groupOf[in.name]; g != nil && !g.weights {
		return g
	}
	return nil
}

// interfaces carries track_interface over, with the delays of interface_up_down_delays. Each line
// is `NAME [weight N [reverse]]`. In a sync group without sync_group_tracking_weight, keepalived
// ignores the weights: a tracked interface puts the instance in FAULT instead.
func (c *kaConverter) interfaces(in *kaInstance) {
	g := c.noWeights(in)
	var list []string
	seen := map[string]bool{}
	for _, tr := range in.ifaces {
		s := tr.s
		if seen[s.kw()] {
			continue // keepalived tracks an interface once
		}
		seen[s.kw()] = true
		w, reverse, _, ok := c.trackWeight(s, 0, false)
		if !ok {
			continue
		}
		switch {
		case reverse && w == 0:
			c.note(s.pos, "not carried over: weight 0 reverse of %s: vrrpd cannot put an instance in FAULT while a link is up: "+
				"tracked as a link going down means FAULT", kaEcho(s.kw()))
		case w != 0 && s.kw() == in.iface:
			c.note(s.pos, "warning: weight %d of %s: vrrpd always tracks the instance's own interface with weight 0, FAULT while it "+
				"is down: carried over that way", w, kaEcho(s.kw()))
			w = 0
		case w != 0 && g != nil && tr.group == nil:
			c.note(s.pos, "warning: weight %d of %s: keepalived ignores tracker weights in sync group %s (it has no sync_group_tracking_weight), "+
				"so %s going down means FAULT: carried over that way; to apply the weight, add weight = %d to its track_interfaces entry",
				w, kaEcho(s.kw()), kaEcho(g.name), kaEcho(s.kw()), w)
			w = 0
		case reverse:
			// keepalived subtracts a positive weight while the link is up, and adds a negative one's
			// size while it is down: vrrpd adding the size while it is down keeps the difference.
			if w > 0 {
				c.note(s.pos, "warning: weight %d reverse of %s: keepalived subtracts %d while the link is up, vrrpd adds weights "+
					"while it is down: carried over as weight = %d, so subtract %d from priority to keep the same priorities", w, kaEcho(s.kw()), w, w, w)
			}
			w = max(w, -w)
		case w > 0:
			c.note(s.pos, "warning: weight %d of %s: keepalived adds a positive weight while the link is up, vrrpd adds weights "+
				"while it is down: carried over as weight = %d, so add %d to priority to keep the same priorities", w, kaEcho(s.kw()), -w, w)
			w = -w
		}
		entry := "{ name = " + tomlString(s.kw())
		if w != 0 {
			entry += ", weight = " + strconv.Itoa(w)
		}
		list = append(list, entry+c.delayKeys(s.kw())+" }")
	}
	if c.ifDelays[in.iface] != "" && !seen[in.iface] { // its own interface, for its delays
		list = append(list, "{ name = "+tomlString(in.iface)+c.delayKeys(in.iface)+" }")
	}
	if len(list) > 0 {
		in.t.set("track_interfaces", "["+strings.Join(list, ", ")+"]", "")
	}
}

// delayKeys returns the keys of an interface's delays, after ", ", if it has any.
func (c *kaConverter) delayKeys(ifname string) string {
	keys, ok := c.ifDelays[ifname]
	c.delayUsed[ifname] = c.delayUsed[ifname] || ok
	if keys == "" {
		return ""
	}
	return ", " + keys
}

// trackWeight reads a tracker line's `NAME [weight W [reverse|noreverse]]`, as alloc_track_script
// and vrrp_alloc_track_file do, starting from the tracked thing's own weight and reverse. ok is
// false if keepalived does not track it at all.
func (c *kaConverter) trackWeight(s *kaStmt, weight int, reverse bool) (w int, rev, set, ok bool) {
	switch {
	case len(s.words) == 1:
		return weight, reverse, false, true
	case s.words[1] != "weight" || len(s.words) == 2:
		c.note(s.pos, "not carried over: %s %s: keepalived expects NAME [weight W [reverse|noreverse]], and ignores the line", kaEcho(s.kw()), kaEcho(strings.Join(s.words[1:], " ")))
		return 0, false, false, false
	}
	w, err := strconv.Atoi(s.words[2])
	if err != nil || w < -254 || w > 254 {
		c.note(s.pos, "not carried over: weight %s of %s: not a whole number from -254 to 254; keepalived uses the default, %d", kaEcho(s.words[2]), kaEcho(s.kw()), weight)
		w = weight
	}
	rev = reverse
	switch {
	case len(s.words) == 3:
	case s.words[3] == "reverse":
		rev = true
	case s.words[3] == "noreverse":
		rev = false
	default:
		c.note(s.pos, "not carried over: %s of %s: keepalived knows reverse and noreverse only", kaEcho(s.words[3]), kaEcho(s.kw()))
	}
	return w, rev, true, true
}

// trackChecks resolves track_script and track_file: which variant of which check each needs, and
// vrrpd's weight for it. In a sync group without sync_group_tracking_weight, keepalived ignores a
// tracked script with a weight, and a track_file's weight: one of 1 (its default) means FAULT,
// another is not tracked at all. The sync group's own trackers keep their weights.
func (c *kaConverter) trackChecks(in *kaInstance) {
	g := c.noWeights(in)
	seen := map[*kaCheck]bool{}
	for _, kind := range []string{"track_script", "track_file"} {
		tracks, checks, what := in.tracks, c.scripts, "vrrp_script %s with a script"
		if kind == "track_file" {
			tracks, checks, what = in.files, c.files, "track_file %s with a file"
		}
		for _, tr := range tracks {
			s := tr.s
			k := checks[s.kw()]
			switch {
			case k == nil:
				c.note(s.pos, "not carried over: %s %s: there is no "+what+" (keepalived ignores it too)", kind, kaEcho(s.kw()), kaEcho(s.kw()))
				continue
			case seen[k]:
				c.note(s.pos, "%s %s: nothing to carry over: instance %s tracks it already, and keepalived ignores this line", kind, kaEcho(s.kw()), kaEcho(in.name))
				continue
			}
			seen[k] = true
			w, rev, set, ok := c.trackWeight(s, k.weight, k.reverse)
			switch {
			case !ok:
				continue
			case g == nil || tr.group != nil || w == 0:
			case kind == "track_file" && w == 1:
				c.note(s.pos, "warning: track_file %s: keepalived ignores its weight 1 in sync group %s (it has no sync_group_tracking_weight), "+
					"so a number other than 0 in the file means FAULT: carried over that way", kaEcho(s.kw()), kaEcho(g.name))
				w, set = 0, true
			default:
				c.note(s.pos, "warning: %s %s: keepalived ignores a tracked %s with a weight (%d) in sync group %s (it has no "+
					"sync_group_tracking_weight), so it never tracked it: left out; to track it, add { name = %q } to track_checks",
					kind, kaEcho(s.kw()), strings.TrimPrefix(kind, "track_"), w, kaEcho(g.name), s.kw())
				continue
			}
			r := kaRef{check: k, variant: k.variant(w, rev), weight: k.vrrpdWeight(w, rev), set: set}
			k.used[r.variant] = true
			in.refs = append(in.refs, r)
		}
	}
}

// finishChecks completes the checks once every instance has said which variants it tracks: a check
// has the variant of its own weight and reverse, or the other one if only that is tracked, or both.
func (c *kaConverter) finishChecks() {
	for _, k := range c.checks {
		own := k.own()
		if !k.used[own] && k.used[1-own] {
			own = 1 - own
		}
		k.table[own] = k.t
		if other := 1 - own; k.used[other] {
			suffix, how := "_noreverse", "without"
			if other == 1 {
				suffix, how = "_reverse", "with"
			}
			t := checkTable(fmt.Sprintf("%s %s, %s, tracked %s reverse", k.kind, k.name, k.pos, how))
			c.nameCheck(t, k.name+suffix)
			for _, e := range k.t.entries {
				if e.key != "name" {
					t.set(e.key, e.value, e.remark)
				}
			}
			k.table[other] = t
		}
		for v, t := range k.table {
			if t == nil {
				continue
			}
			t.del("weight")
			if w := k.tableWeight(v); w != 0 {
				t.set("weight", strconv.Itoa(w), "")
			}
			t.del("reverse")
			if v == 1 {
				t.set("reverse", "true", "keepalived: weight reverse")
			}
		}
	}
}

// tableWeight is vrrpd's weight of a check's variant v.
func (k *kaCheck) tableWeight(v int) int {
	switch {
	case v == k.own():
		return k.vrrpdWeight(k.weight, k.reverse)
	case k.kind == "track_file" && v == 1: // a reversed track_file's check has weight 0
		return 0
	}
	return k.vrrpdWeight(k.weight, v == 1)
}

// writeTrackChecks writes an instance's track_checks, once the checks are complete.
func (c *kaConverter) writeTrackChecks(in *kaInstance) {
	var list []string
	for _, r := range in.refs {
		t := r.check.table[r.variant]
		name, _ := t.get("name")
		entry := "{ name = " + name
		if r.set || r.weight != r.check.tableWeight(r.variant) {
			entry += ", weight = " + strconv.Itoa(r.weight)
		}
		list = append(list, entry+" }")
	}
	if len(list) > 0 {
		in.t.set("track_checks", "["+strings.Join(list, ", ")+"]", "")
	}
}
