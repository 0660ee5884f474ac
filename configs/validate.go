package configs

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The walk below knows the schema: each section's keys, defaults and rules. Checks are walked before
// instances, so track_checks can be resolved, and instances before sync groups; decoder.err sorts the
// problems back into file order.

func (d *decoder) config(root *table) *Config {
	cfg := &Config{Global: d.global(root.sub("global"))}
	for _, t := range root.list("check") {
		cfg.Checks = append(cfg.Checks, d.check(t))
	}
	if !root.has("instance") {
		root.errorf("instance", "required (at least one [[instance]])")
	}
	for _, t := range root.list("instance") {
		cfg.Instances = append(cfg.Instances, d.instance(t))
	}
	for _, t := range root.list("sync_group") {
		cfg.SyncGroups = append(cfg.SyncGroups, d.syncGroup(t))
	}
	root.done()
	return cfg
}

func (d *decoder) global(t *table) Global {
	g := Global{Socket: "/run/vrrpd/vrrpd.sock", LogFormat: "text", LogLevel: slog.LevelInfo, StateDir: "/var/lib/vrrpd"}
	if !t.has("router_id") {
		var err error
		if g.RouterID, err = os.Hostname(); err != nil {
			t.errorf("router_id", "not set, and the hostname is unknown: %v", err)
		}
	}
	opt(t, "router_id", &g.RouterID, noControl, notEmpty)
	opt(t, "socket", &g.Socket, noControl, absPath)
	opt(t, "socket_group", &g.SocketGroup, noControl)
	g.ScriptCredential = userKey(t, "script_user", &g.ScriptUser)
	opt(t, "metrics", &g.Metrics, noControl, listenAddr)
	opt(t, "log_format", &g.LogFormat, oneOf("text", "json"))
	level := "info"
	if opt(t, "log_level", &level, oneOf("debug", "info", "warn", "error")) {
		_ = g.LogLevel.UnmarshalText([]byte(level)) // cannot fail: slog knows these four names
	}
	opt(t, "state_dir", &g.StateDir, noControl, absPath)
	opt(t, "watch_config", &g.WatchConfig)
	opt(t, "startup_delay", &g.StartupDelay, notNegative, atMost(time.Hour))
	t.done()
	return g
}

// userKey reads script_user or a check's user, and resolves it on this host.
func userKey(t *table, key string, dst *string) *syscall.Credential {
	if !opt(t, key, dst, noControl) || *dst == "" {
		return nil
	}
	cred, msg := resolveScriptUser(*dst)
	t.report(key, msg)
	return cred
}

// checkKinds are the keys of a check's kinds, in the order problems name them.
var checkKinds = []CheckKind{CheckProcess, CheckExec, CheckScript, CheckTCP, CheckHTTP, CheckFile, CheckPing}

func (d *decoder) check(t *table) Check {
	c := Check{Interval: 2 * time.Second, Rise: 1, Fall: 1}
	named := d.name(t, "check", &c.Name)
	opt(t, "process", &c.Process, noControl, notEmpty)
	opt(t, "exec", &c.Exec, argv)
	opt(t, "script", &c.Script, scriptLine, notEmpty)
	opt(t, "tcp", &c.TCP, noControl, endpoint)
	opt(t, "http", &c.HTTP, noControl, httpURL)
	opt(t, "file", &c.File, noControl, absPath)
	var ping string
	if opt(t, "ping", &ping) && t.has("ping") {
		var msg string
		c.Ping, msg = pingAddr(ping)
		t.report("ping", msg)
	}
	kinds := make([]string, len(checkKinds))
	for i, k := range checkKinds {
		kinds[i] = string(k)
	}
	for _, k := range checkKinds {
		switch {
		case !t.has(string(k)):
		case c.Kind == "":
			c.Kind = k
		default:
			t.errorf(string(k), "cannot be combined with %s: a check has exactly one of %s", c.Kind, strings.Join(kinds, ", "))
		}
	}
	if c.Kind == "" {
		t.errorf("", "needs one of %s", strings.Join(kinds, ", "))
	}
	c.UserCredential = userKey(t, "user", &c.User)
	if c.User != "" && c.Kind != "" && c.Kind != CheckExec && c.Kind != CheckScript {
		t.errorf("user", "only applies to exec and script checks, which run a program")
	}
	opt(t, "interval", &c.Interval, positive)
	c.Timeout = c.Interval
	opt(t, "timeout", &c.Timeout, positive)
	opt(t, "rise", &c.Rise, atLeast(1))
	opt(t, "fall", &c.Fall, atLeast(1))
	opt(t, "weight", &c.Weight, weight)
	opt(t, "init_fail", &c.InitFail)
	opt(t, "reverse", &c.Reverse)
	if c.Kind == CheckFile {
		// A file check reports the number it reads, at once: it has no probe to fail, so no
		// first success to wait for (its reverse is the policy's: see Reverse).
		for _, k := range []string{"init_fail", "rise", "fall", "timeout"} {
			if t.has(k) {
				t.errorf(k, "does not apply to a file check, which reports the number the file holds as it changes")
			}
		}
	}
	t.done()
	if named {
		d.checks[c.Name] = c
	}
	return c
}

// vridKey identifies a virtual router on a LAN: RFC 5798 §5.2.3 scopes a VRID to an interface, and
// IPv4 and IPv6 virtual routers are separate.
type vridKey struct {
	ifname string
	ipv6   bool
	vrid   uint8
}

func (d *decoder) instance(t *table) Instance {
	in := Instance{Priority: 100, Version: 3, AdvertInterval: time.Second, Preempt: true, UnicastMinTTL: 255,
		V3Checksum: "pseudo-header", GARPDelay: 5 * time.Second, GARPRepeat: 5}
	d.name(t, "instance", &in.Name)
	ifOK := req(t, "interface", &in.Interface, ifname)
	vrid, priority := 0, int(in.Priority)
	vridOK := req(t, "vrid", &vrid, between(1, 255))
	opt(t, "priority", &priority, between(1, 255))
	in.VRID, in.Priority = uint8(vrid), uint8(priority)
	versionOK := opt(t, "version", &in.Version, version)
	v2, v3 := versionOK && in.Version == 2, versionOK && in.Version == 3
	if opt(t, "advert_interval", &in.AdvertInterval) && versionOK {
		t.report("advert_interval", advertInterval(in.Version, in.AdvertInterval))
	}
	opt(t, "preempt", &in.Preempt)
	opt(t, "preempt_delay", &in.PreemptDelay, notNegative, atMost(time.Hour))

	d.addresses(t, &in)
	if v2 && in.IPv6() {
		t.errorf("version", "VRRPv2 is IPv4 only (RFC 3768): IPv6 needs version 3")
	}
	if ifOK && vridOK && len(in.VIPs) > 0 {
		k := vridKey{in.Interface, in.IPv6(), in.VRID}
		if other := d.vrids[k]; other != "" {
			t.errorf("vrid", "%d on %s (%s) is already used by %s", in.VRID, in.Interface, family(in.VIPs[0].Addr()), other)
		} else {
			d.vrids[k] = t.where
		}
	}
	unicast(t, &in)

	if opt(t, "auth_pass", &in.AuthPass, maxBytes(8)) && in.AuthPass != "" && v3 {
		t.errorf("auth_pass", "VRRPv3 has no authentication (RFC 5798 §9)")
	}
	if opt(t, "v3_checksum", &in.V3Checksum, oneOf("pseudo-header", "message")) && t.has("v3_checksum") {
		switch {
		case v2:
			t.errorf("v3_checksum", "only applies to version 3")
		case in.IPv6():
			t.errorf("v3_checksum", "only applies to IPv4: over IPv6 the checksum always covers the pseudo-header (RFC 5798 §5.2.8)")
		}
	}
	opt(t, "garp_delay", &in.GARPDelay, notNegative)
	opt(t, "garp_repeat", &in.GARPRepeat, between(1, 100))
	opt(t, "garp_refresh", &in.GARPRefresh, notNegative, offOrAtLeast(100*time.Millisecond))
	opt(t, "garp_interval", &in.GARPInterval, notNegative, atMost(time.Second))
	d.vmac(t, &in, vridOK)
	in.Routes = routes(t, &in)
	in.Rules = rules(t)
	d.trackers(t, &in)
	in.Notify = notify(t.sub("notify"))
	t.done()
	return in
}

// addresses reads the instance's vips and vips_excluded. In vips, an address in the wrong family
// is left out, so the first one decides the family; one used twice is kept, to say which family
// the instance is.
func (d *decoder) addresses(t *table, in *Instance) {
	listed := map[netip.Addr]string{} // address -> the key that lists it
	in.VIPs = d.addressList(t, "vips", in, listed)
	if t.has("vips_excluded") {
		in.VIPsExcluded = d.addressList(t, "vips_excluded", in, listed)
	}
}

// addressList reads vips or vips_excluded: an array whose entries are strings or tables.
func (d *decoder) addressList(t *table, key string, in *Instance, listed map[netip.Addr]string) []netip.Prefix {
	v, ok := t.value(key)
	if !ok {
		if key == "vips" {
			t.errorf(key, "required")
		}
		return nil
	}
	var elems []any
	switch v := v.(type) {
	case []any:
		elems = v
	case []map[string]any:
		for _, m := range v {
			elems = append(elems, m)
		}
	default:
		t.errorf(key, "%s is not an array of addresses", show(v))
		return nil
	}
	if len(elems) == 0 {
		t.errorf(key, "must not be empty")
		return nil
	}
	var list []netip.Prefix
	for i, e := range elems {
		var p netip.Prefix
		var o VIPOption
		var entry *table // the entry's table, or nil for a string
		switch e := e.(type) {
		case string:
			var msg string
			p, msg = vip(e)
			t.report(key, msg)
			if msg != "" {
				continue
			}
		case map[string]any:
			entry = t.child(key, i, e)
			var ok bool
			if p, o, ok = vipTable(entry, in); !ok {
				continue
			}
		default:
			t.errorf(fmt.Sprintf("%s[%d]", key, i), "%s is not an address or a table", show(e))
			continue
		}
		at, report := t, key // where to report a problem with the address
		if entry != nil {
			at, report = entry, "address"
		}
		a := p.Addr()
		if key == "vips" && len(list) > 0 && a.Is6() != list[0].Addr().Is6() {
			first := list[0].Addr()
			at.errorf(report, "%s is %s but %s is %s: one address family per instance", a, family(a), first, family(first))
			continue
		}
		switch first := listed[a]; {
		case first == key:
			at.errorf(report, "%s is listed twice", a)
		case first != "":
			at.errorf(report, "%s is in %s too", a, first)
		case d.vips[a] != "":
			at.errorf(report, "%s is already used by %s", a, d.vips[a])
		default:
			listed[a] = key
			d.vips[a] = t.where
		}
		if entry != nil {
			if in.VIPOptions == nil {
				in.VIPOptions = map[netip.Addr]VIPOption{}
			}
			in.VIPOptions[a] = o
		}
		list = append(list, p)
	}
	return list
}

// vipTable reads a VIP written as a table.
func vipTable(t *table, in *Instance) (netip.Prefix, VIPOption, bool) {
	o := VIPOption{Scope: "global"}
	var s string
	var p netip.Prefix
	ok := req(t, "address", &s)
	if ok {
		var msg string
		p, msg = vip(s)
		t.report("address", msg)
		ok = msg == ""
	}
	devOK := opt(t, "dev", &o.Dev, ifname)
	if opt(t, "label", &o.Label, label) && o.Label != "" {
		dev := o.Dev
		if dev == "" {
			dev = in.Interface
		}
		switch {
		case ok && p.Addr().Is6():
			t.errorf("label", "only applies to IPv4: IPv6 addresses have no labels")
		case devOK && dev != "" && !strings.HasPrefix(o.Label, dev):
			t.errorf("label", "%q does not start with %s, the interface the address goes on, as a label must", o.Label, dev)
		}
	}
	opt(t, "scope", &o.Scope, oneOf("global", "site", "link", "host"))
	t.done()
	return p, o, ok
}

// unicast reads the unicast keys, which must agree with the VIPs' family.
func unicast(t *table, in *Instance) {
	check := func(key, s string) (netip.Addr, bool) {
		a, msg := addr(s)
		if msg == "" {
			msg = peerAddr(a)
		}
		if msg == "" && len(in.VIPs) > 0 && a.Is6() != in.IPv6() {
			msg = fmt.Sprintf("%s is %s but the VIPs are %s", a, family(a), family(in.VIPs[0].Addr()))
		}
		t.report(key, msg)
		return a, msg == ""
	}
	var src string
	if opt(t, "unicast_src", &src) && src != "" {
		if a, ok := check("unicast_src", src); ok {
			in.UnicastSrc = a
		}
	}
	var peers []string
	peersOK := opt(t, "unicast_peers", &peers)
	seen := map[netip.Addr]bool{}
	for _, s := range peers {
		switch a, ok := check("unicast_peers", s); {
		case !ok:
		case a == in.UnicastSrc:
			t.errorf("unicast_peers", "%s is unicast_src, this node itself", a)
		case seen[a]:
			t.errorf("unicast_peers", "%s is listed twice", a)
		default:
			seen[a] = true
			in.UnicastPeers = append(in.UnicastPeers, a)
		}
	}
	if opt(t, "unicast_min_ttl", &in.UnicastMinTTL, between(1, 255)) && t.has("unicast_min_ttl") && peersOK && len(peers) == 0 {
		t.errorf("unicast_min_ttl", "only applies with unicast_peers")
	}
}

// vmac reads vmac and vmac_name. Interface names are the host's, so no two instances may name the
// same virtual MAC interface.
func (d *decoder) vmac(t *table, in *Instance, vridOK bool) {
	opt(t, "vmac", &in.VMAC)
	name := ""
	nameOK := opt(t, "vmac_name", &name, ifname)
	switch {
	case t.has("vmac_name") && !in.VMAC:
		t.errorf("vmac_name", "only applies with vmac = true")
		return
	case !in.VMAC || !nameOK:
		return
	case name != "":
		in.VMACName = name
	case !vridOK:
		return
	case in.IPv6():
		in.VMACName = fmt.Sprintf("vrrp6.%d", in.VRID)
	default:
		in.VMACName = fmt.Sprintf("vrrp.%d", in.VRID)
	}
	key, why := "vmac_name", ""
	if name == "" {
		key, why = "vmac", fmt.Sprintf(" (the default name for vrid %d: set vmac_name)", in.VRID)
	}
	switch other := d.vmacs[in.VMACName]; {
	case in.VMACName == in.Interface:
		t.errorf(key, "%s is the instance's own interface", in.VMACName)
	case other != "":
		t.errorf(key, "the interface %s%s is already used by %s", in.VMACName, why, other)
	default:
		d.vmacs[in.VMACName] = t.where
	}
}

// routes reads the instance's routes.
func routes(t *table, in *Instance) []Route {
	var list []Route
	type routeKey struct { // what the kernel tells routes apart by
		to            netip.Prefix
		table, metric uint32
	}
	seen := map[routeKey]bool{}
	for _, e := range t.list("routes") {
		r := Route{Via: e.unicastKey("via"), Src: e.unicastKey("src"), Scope: "global", Type: "unicast"}
		var to string
		if req(e, "to", &to) {
			var msg string
			r.To, msg = routePrefix(to, in, r.Via, r.Src)
			e.report("to", msg)
		}
		for i, a := range []netip.Addr{r.Via, r.Src} {
			if r.To.IsValid() && a.IsValid() && a.Is6() != r.To.Addr().Is6() {
				e.errorf([]string{"via", "src"}[i], "%s is %s but to is %s", a, family(a), family(r.To.Addr()))
			}
		}
		opt(e, "dev", &r.Dev, ifname)
		opt(e, "table", &r.Table)
		opt(e, "metric", &r.Metric)
		opt(e, "scope", &r.Scope, oneOf("global", "site", "link", "host"))
		if opt(e, "type", &r.Type, oneOf("unicast", "blackhole", "unreachable", "prohibit")) && r.Type != "unicast" {
			for _, k := range []string{"via", "dev"} {
				if e.has(k) {
					e.errorf(k, "only a unicast route has one (type is %q)", r.Type)
				}
			}
		}
		e.done()
		k := routeKey{r.To, r.Table, r.Metric}
		if k.table == 0 {
			k.table = 254 // RT_TABLE_MAIN
		}
		if r.To.IsValid() && seen[k] {
			e.errorf("to", "%s is listed twice with table %d and metric %d", r.To, r.Table, r.Metric)
		}
		seen[k] = true
		list = append(list, r)
	}
	return list
}

// routePrefix parses a route's destination; "default" takes its family from via, else src, else
// the VIPs.
func routePrefix(s string, in *Instance, via, src netip.Addr) (netip.Prefix, string) {
	if s == "default" {
		v6 := in.IPv6()
		switch {
		case via.IsValid():
			v6 = via.Is6()
		case src.IsValid():
			v6 = src.Is6()
		}
		if v6 {
			return netip.MustParsePrefix("::/0"), ""
		}
		return netip.MustParsePrefix("0.0.0.0/0"), ""
	}
	return network(s)
}

// network parses a prefix without host bits, "10.9.0.0/16"; an address alone is a /32 or /128.
func network(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if !strings.Contains(s, "/") {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			p, err = a.Prefix(a.BitLen())
		}
	}
	switch {
	case err != nil || !p.IsValid():
		return netip.Prefix{}, fmt.Sprintf("%q is not an IP prefix", s)
	case p.Addr().Is4In6():
		return netip.Prefix{}, fmt.Sprintf("%s is an IPv4-mapped IPv6 address: write it as IPv4", p.Addr())
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Sprintf("%q has host bits set: write %q", s, p.Masked())
	}
	return p, ""
}

// rules reads the instance's rules.
func rules(t *table) []Rule {
	var list []Rule
	seen := map[Rule]bool{}
	for _, e := range t.list("rules") {
		problems := len(t.d.problems)
		r := Rule{From: e.networkKey("from"), To: e.networkKey("to")}
		if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is6() != r.To.Addr().Is6() {
			e.errorf("to", "%s is %s but from is %s", r.To, family(r.To.Addr()), family(r.From.Addr()))
		}
		opt(e, "iif", &r.IIF, ifname)
		opt(e, "oif", &r.OIF, ifname)
		opt(e, "fwmark", &r.FWMark)
		req(e, "table", &r.Table, func(n uint32) string {
			if n == 0 {
				return "0 is not a table: the main table is 254"
			}
			return ""
		})
		opt(e, "priority", &r.Priority)
		if !e.has("from") && !e.has("to") && r.IIF == "" && r.OIF == "" && r.FWMark == 0 {
			e.errorf("", "matches every packet: give at least one of from, to, iif, oif, fwmark (not 0)")
		}
		e.done()
		if len(t.d.problems) == problems && seen[r] { // a rule with problems would be a second problem
			e.errorf("", "is listed twice")
		}
		seen[r] = true
		list = append(list, r)
	}
	return list
}

// networkKey reads the prefix under key; absent, it is none.
func (t *table) networkKey(key string) netip.Prefix {
	var s string
	if !opt(t, key, &s) || !t.has(key) {
		return netip.Prefix{}
	}
	p, msg := network(s)
	t.report(key, msg)
	return p
}

// unicastKey reads the unicast address under key; absent or "", it is none.
func (t *table) unicastKey(key string) netip.Addr {
	var s string
	if !opt(t, key, &s) || s == "" {
		return netip.Addr{}
	}
	a, msg := addr(s)
	if msg == "" {
		msg = unicastAddr(a)
	}
	t.report(key, msg)
	if msg != "" {
		return netip.Addr{}
	}
	return a
}

// trackers reads track_interfaces and track_checks; a tracked check's weight defaults to its own.
func (d *decoder) trackers(t *table, in *Instance) {
	seen := map[string]bool{}
	for _, e := range t.list("track_interfaces") {
		var ti TrackInterface
		if req(e, "name", &ti.Name, ifname) {
			e.report("name", once(seen, ti.Name))
		}
		if opt(e, "weight", &ti.Weight, weight) && ti.Weight != 0 && ti.Name != "" && ti.Name == in.Interface {
			e.errorf("weight", "the instance's own interface is always tracked with weight 0 (FAULT)")
		}
		opt(e, "down_delay", &ti.DownDelay, notNegative, atMost(time.Hour))
		opt(e, "up_delay", &ti.UpDelay, notNegative, atMost(time.Hour))
		e.done()
		in.TrackInterfaces = append(in.TrackInterfaces, ti)
	}
	seen = map[string]bool{}
	for _, e := range t.list("track_checks") {
		var tc TrackCheck
		if req(e, "name", &tc.Name) {
			if c, ok := d.checks[tc.Name]; ok {
				tc.Weight = c.Weight
				e.report("name", once(seen, tc.Name))
			} else {
				e.errorf("name", "unknown check %q%s", tc.Name, suggest(tc.Name, d.known("check")))
			}
		}
		opt(e, "weight", &tc.Weight, weight)
		e.done()
		in.TrackChecks = append(in.TrackChecks, tc)
	}
}

func (d *decoder) syncGroup(t *table) SyncGroup {
	g := SyncGroup{}
	d.name(t, "sync_group", &g.Name)
	seen := map[string]bool{}
	if req(t, "instances", &g.Instances, notEmptyList) {
		for _, name := range g.Instances {
			switch twice := once(seen, name); {
			case d.names["instance"][name] == "":
				t.errorf("instances", "unknown instance %q%s", name, suggest(name, d.known("instance")))
			case twice != "":
				t.errorf("instances", "%s", twice)
			case d.groupOf[name] != "":
				t.errorf("instances", "%q is already in %s", name, d.groupOf[name])
			default:
				d.groupOf[name] = t.where
			}
		}
	}
	g.Notify = notify(t.sub("notify"))
	t.done()
	return g
}

func notify(t *table) Notify {
	n := Notify{Timeout: 30 * time.Second}
	opt(t, "master", &n.Master, argv)
	opt(t, "backup", &n.Backup, argv)
	opt(t, "fault", &n.Fault, argv)
	opt(t, "stop", &n.Stop, argv)
	opt(t, "any", &n.Any, argv)
	opt(t, "reassert", &n.Reassert, argv)
	opt(t, "priority", &n.Priority, argv)
	opt(t, "timeout", &n.Timeout, positive)
	t.done()
	return n
}

// name reads a section's required name. If it is valid and unused among its kind, it is recorded,
// and problems name the section by it (`instance "VI_1"`); otherwise they keep its number
// (`instance #2`).
func (d *decoder) name(t *table, kind string, dst *string) bool {
	if !req(t, "name", dst, validName) {
		return false
	}
	if first := d.names[kind][*dst]; first != "" {
		t.errorf("name", "%q is already used by %s", *dst, first)
		return false
	}
	d.names[kind][*dst] = t.where
	t.where = fmt.Sprintf("%s %q", kind, *dst)
	return true
}

// known returns the valid names of a kind of section, for suggestions.
func (d *decoder) known(kind string) []string { return slices.Collect(maps.Keys(d.names[kind])) }
