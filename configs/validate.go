package configs

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
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
	g := Global{Socket: "/run/vrrpd/vrrpd.sock", LogFormat: "text", LogLevel: slog.LevelInfo}
	if !t.has("router_id") {
		var err error
		if g.RouterID, err = os.Hostname(); err != nil {
			t.errorf("router_id", "not set, and the hostname is unknown: %v", err)
		}
	}
	opt(t, "router_id", &g.RouterID, notEmpty)
	opt(t, "socket", &g.Socket, absPath)
	opt(t, "socket_group", &g.SocketGroup)
	if opt(t, "script_user", &g.ScriptUser) && g.ScriptUser != "" {
		var msg string
		g.ScriptCredential, msg = resolveScriptUser(g.ScriptUser)
		t.report("script_user", msg)
	}
	opt(t, "metrics", &g.Metrics, listenAddr)
	opt(t, "log_format", &g.LogFormat, oneOf("text", "json"))
	level := "info"
	if opt(t, "log_level", &level, oneOf("debug", "info", "warn", "error")) {
		_ = g.LogLevel.UnmarshalText([]byte(level)) // cannot fail: slog knows these four names
	}
	t.done()
	return g
}

func (d *decoder) check(t *table) Check {
	c := Check{Interval: 2 * time.Second, Rise: 1, Fall: 1}
	named := d.name(t, "check", &c.Name)
	opt(t, "process", &c.Process, notEmpty)
	opt(t, "exec", &c.Exec, argv)
	opt(t, "script", &c.Script, notEmpty)
	opt(t, "tcp", &c.TCP, endpoint)
	opt(t, "http", &c.HTTP, httpURL)
	for _, k := range []CheckKind{CheckProcess, CheckExec, CheckScript, CheckTCP, CheckHTTP} {
		switch {
		case !t.has(string(k)):
		case c.Kind == "":
			c.Kind = k
		default:
			t.errorf(string(k), "cannot be combined with %s: a check has exactly one of process, exec, script, tcp, http", c.Kind)
		}
	}
	if c.Kind == "" {
		t.errorf("", "needs one of process, exec, script, tcp, http")
	}
	opt(t, "interval", &c.Interval, positive)
	c.Timeout = c.Interval
	opt(t, "timeout", &c.Timeout, positive)
	opt(t, "rise", &c.Rise, atLeast(1))
	opt(t, "fall", &c.Fall, atLeast(1))
	opt(t, "weight", &c.Weight, weight)
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
	d.trackers(t, &in)
	in.Notify = notify(t.sub("notify"))
	t.done()
	return in
}

// addresses reads the instance's vips. An address in the wrong family is left out, so the first
// one decides the family; one used twice is kept, to say which family the instance is.
func (d *decoder) addresses(t *table, in *Instance) {
	var list []string
	var seen []netip.Addr
	if !req(t, "vips", &list, notEmptyList) {
		return
	}
	for _, s := range list {
		p, msg := vip(s)
		if msg == "" && len(in.VIPs) > 0 && p.Addr().Is6() != in.IPv6() {
			a, first := p.Addr(), in.VIPs[0].Addr()
			msg = fmt.Sprintf("%s is %s but %s is %s: one address family per instance", a, family(a), first, family(first))
		}
		if msg != "" {
			t.errorf("vips", "%s", msg)
			continue
		}
		switch a, twice := p.Addr(), listedTwice(&seen, p.Addr()); {
		case twice != "":
			t.errorf("vips", "%s", twice)
		case d.vips[a] != "":
			t.errorf("vips", "%s is already used by %s", a, d.vips[a])
		default:
			d.vips[a] = t.where
		}
		in.VIPs = append(in.VIPs, p)
	}
}

// unicast reads the unicast keys, which must agree with the VIPs' family.
func unicast(t *table, in *Instance) {
	check := func(key, s string) (netip.Addr, bool) {
		a, msg := addr(s)
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
	for _, s := range peers {
		if a, ok := check("unicast_peers", s); ok && a == in.UnicastSrc {
			t.errorf("unicast_peers", "%s is unicast_src, this node itself", a)
		} else if ok {
			t.report("unicast_peers", listedTwice(&in.UnicastPeers, a))
		}
	}
	if opt(t, "unicast_min_ttl", &in.UnicastMinTTL, between(1, 255)) && t.has("unicast_min_ttl") && peersOK && len(peers) == 0 {
		t.errorf("unicast_min_ttl", "only applies with unicast_peers")
	}
}

// trackers reads track_interfaces and track_checks; a tracked check's weight defaults to its own.
func (d *decoder) trackers(t *table, in *Instance) {
	var seen []string
	for _, e := range t.list("track_interfaces") {
		var ti TrackInterface
		if req(e, "name", &ti.Name, ifname) {
			e.report("name", listedTwice(&seen, ti.Name))
		}
		opt(e, "weight", &ti.Weight, weight)
		e.done()
		in.TrackInterfaces = append(in.TrackInterfaces, ti)
	}
	seen = nil
	for _, e := range t.list("track_checks") {
		var tc TrackCheck
		if req(e, "name", &tc.Name) {
			if c, ok := d.checks[tc.Name]; ok {
				tc.Weight = c.Weight
				e.report("name", listedTwice(&seen, tc.Name))
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
	var seen []string
	if req(t, "instances", &g.Instances, notEmptyList) {
		for _, name := range g.Instances {
			switch twice := listedTwice(&seen, name); {
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

// The rules. Each returns "" for a valid value, else the problem, starting with the value.

func between(lo, hi int) func(int) string {
	return func(n int) string {
		switch {
		case n >= lo && n <= hi:
			return ""
		case lo < 0:
			return fmt.Sprintf("%d is out of range %d to %d", n, lo, hi)
		}
		return fmt.Sprintf("%d is out of range %d-%d", n, lo, hi)
	}
}

// weight bounds a priority change: 253 takes priority 1 to 254 and back, the whole range a
// non-owner can have (RFC 5798 §5.2.4).
func weight(n int) string { return between(-253, 253)(n) }

func atLeast(lo int) func(int) string {
	return func(n int) string {
		if n < lo {
			return fmt.Sprintf("%d is less than %d", n, lo)
		}
		return ""
	}
}

func version(v int) string {
	if v != 2 && v != 3 {
		return fmt.Sprintf("%d is not 2 or 3", v)
	}
	return ""
}

func positive(d time.Duration) string {
	if d <= 0 {
		return fmt.Sprintf("%s is not positive", FormatDuration(d))
	}
	return ""
}

func notNegative(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("%s is negative", FormatDuration(d))
	}
	return ""
}

func atMost(hi time.Duration) func(time.Duration) string {
	return func(d time.Duration) string {
		if d > hi {
			return fmt.Sprintf("%s is more than %s", FormatDuration(d), FormatDuration(hi))
		}
		return ""
	}
}

func offOrAtLeast(lo time.Duration) func(time.Duration) string {
	return func(d time.Duration) string {
		if d != 0 && d < lo {
			return fmt.Sprintf(`%s is less than %s ("0s" turns it off)`, FormatDuration(d), FormatDuration(lo))
		}
		return ""
	}
}

// advertInterval checks an advertisement interval against what the version's packet can carry:
// RFC 3768 §5.3.7, an 8-bit count of seconds; RFC 5798 §5.2.7, a 12-bit count of centiseconds.
func advertInterval(version int, d time.Duration) string {
	if version == 2 {
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			return fmt.Sprintf("%s is not a whole number of seconds from 1s to 255s (VRRPv2)", FormatDuration(d))
		}
		return ""
	}
	if d%(10*time.Millisecond) != 0 || d < 10*time.Millisecond || d > 4095*10*time.Millisecond {
		return fmt.Sprintf("%s is not a multiple of 10ms from 10ms to 40.95s (VRRPv3)", FormatDuration(d))
	}
	return ""
}

func oneOf(values ...string) func(string) string {
	return func(s string) string {
		if !slices.Contains(values, s) {
			return fmt.Sprintf("%q is not one of %s", s, strings.Join(values, ", "))
		}
		return ""
	}
}

func notEmpty(s string) string {
	if s == "" {
		return "must not be empty"
	}
	return ""
}

func notEmptyList(list []string) string {
	if len(list) == 0 {
		return "must not be empty"
	}
	return ""
}

// validName keeps names printable in one word: they appear in logs, in status tables and as
// arguments to notify hooks.
func validName(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fmt.Sprintf("%q contains a space or a control character", s)
	}
	return notEmpty(s)
}

func maxBytes(n int) func(string) string {
	return func(s string) string {
		if len(s) > n {
			return fmt.Sprintf("%d bytes is more than %d", len(s), n) // a password: don't echo it
		}
		return ""
	}
}

func absPath(s string) string {
	if !filepath.IsAbs(s) {
		return fmt.Sprintf("%q is not an absolute path", s)
	}
	return ""
}

// argv checks a command run without a shell, so without a $PATH search.
func argv(args []string) string {
	if len(args) == 0 {
		return "must not be empty"
	}
	return absPath(args[0])
}

// ifname follows the kernel's dev_valid_name (net/core/dev.c): 1-15 bytes (IFNAMSIZ 16 with the NUL),
// not "." or "..", without '/', ':' or whitespace.
func ifname(s string) string {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\v\f\r") {
		return fmt.Sprintf("%q is not a valid interface name", s)
	}
	return ""
}

// hostPort checks host:port with a numeric port; the host may be empty only if emptyHost.
func hostPort(s string, emptyHost bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" && !emptyHost {
		return fmt.Sprintf("%q is not host:port", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Sprintf("%q: port %q is out of range 1-65535", s, port)
	}
	return ""
}

func endpoint(s string) string { return hostPort(s, false) }

// listenAddr is "" (off) or where to listen; no host means every address.
func listenAddr(s string) string {
	if s == "" {
		return ""
	}
	return hostPort(s, true)
}

func httpURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", s)
	}
	return ""
}

// addr parses a unicast IP address.
func addr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return a, fmt.Sprintf("%q is not an IP address", s)
	}
	return a, hostAddr(a)
}

// vip parses a VIP, "10.0.4.99/24" or "10.0.4.99" (a /32), keeping the host address (not Masked).
func vip(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s) // which refuses zones
	if !strings.Contains(s, "/") {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); a.Zone() == "" {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || !p.IsValid() {
		return p, fmt.Sprintf("%q is not an IP address or prefix", s)
	}
	if msg := hostAddr(p.Addr()); msg != "" {
		return netip.Prefix{}, msg
	}
	return p, ""
}

// hostAddr accepts an address that can be assigned to a host.
func hostAddr(a netip.Addr) string {
	switch {
	case a.Is4In6():
		return fmt.Sprintf("%s is an IPv4-mapped IPv6 address: write it as IPv4", a)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Sprintf("%s is not a unicast address", a)
	}
	return ""
}

func family(a netip.Addr) string {
	if a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}

// listedTwice says so if v is in *seen already, else adds it.
func listedTwice[T comparable](seen *[]T, v T) string {
	if slices.Contains(*seen, v) {
		return show(v) + " is listed twice"
	}
	*seen = append(*seen, v)
	return ""
}

// FormatDuration writes d as Go does, without its zero minutes and seconds: "1h", not "1h0m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// suggest returns ` (did you mean "x"?)` naming the candidate closest to word, if it is within two
// edits and no other candidate is as close; else "".
func suggest(word string, candidates []string) string {
	best, bestDist, tie := "", 3, false
	for _, c := range candidates {
		switch d := distance(word, c); {
		case d < bestDist:
			best, bestDist, tie = c, d, false
		case d == bestDist && c != best:
			tie = true
		}
	}
	if best == "" || tie {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the optimal string alignment distance: the number of single-byte insertions,
// deletions, substitutions and swaps of neighbours that turn a into b ("ngnix" to "nginx" is 1).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
