// Package keepalived converts a keepalived.conf into vrrpd's TOML, for `vrrpd convert`: parse.go reads
// keepalived's grammar, convert.go maps its keywords to vrrpd's (instance.go those of a
// vrrp_instance), and toml.go writes the result.
package keepalived

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vrrpd/vrrpd/configs"
)

// The conversion carries over what keepalived actually does with a configuration, not what it seems
// to say, where the two differ (checked against keepalived 2.2.7): `state MASTER` without a priority
// makes the address owner, a VRRPv2 advert_int is rounded to whole seconds, vrrp_strict drops
// authentication, a sync group drops its members' tracker weights, and so on. Each such difference
// gets a note saying how to get the other behaviour.

// Conversion is a keepalived configuration converted to vrrpd's TOML.
type Conversion struct {
	TOML []byte // the vrrpd configuration, with comments pointing at the keepalived source

	// Notes lists, one line each and in file order, what was not carried over and what to do
	// instead ("FILE:LINE: not carried over: ..."), and the traps a reader should look at
	// ("FILE:LINE: warning: ..."). A note about an included file names its keyword and place
	// only: what the line says stays out of it, as an included file may hold secrets.
	Notes []string
}

// Options says how to convert.
type Options struct {
	// RouterID is the host to convert for: keepalived's config-id (its -i option, by default the
	// first part of the host name), which decides the lines with an @ prefix (`@lb1 priority 110`
	// applies on lb1 only, `@^lb1 ...` everywhere else) and ${_INSTANCE}. With "", a configuration
	// that has such a line is refused.
	RouterID string
}

// Convert converts the keepalived configuration src, read from the file name, to vrrpd's
// TOML. name appears in comments, notes and errors, and relative includes are looked up from its
// directory (so "stdin" looks in the current directory).
//
// What vrrpd has no equivalent for is left out with a note, and known traps get a warning; neither
// is an error. An error, which matches ErrSyntax and names the file and line, means the
// input could not be read. The result is not validated: load Conversion.TOML with Parse for that.
func Convert(name string, src []byte, opts Options) (*Conversion, error) {
	stmts, parsed, err := parseKeepalived(name, src, opts)
	if err != nil {
		return nil, err
	}
	c := &kaConverter{main: name, global: &tomlTable{header: "[global]"}, garp: &tomlTable{},
		scripts: map[string]*kaCheck{}, files: map[string]*kaCheck{}, checkNames: map[string]bool{},
		names: map[string]kaPos{}, groupOf: map[string]*kaGroup{}, ifDelays: map[string]string{}, delayUsed: map[string]bool{}, garpGroups: map[string]map[string]string{}}
	c.notes = parsed
	for _, s := range stmts { // first, as they set defaults for the instances
		if s.kw() == "global_defs" {
			c.globalDefs(s)
		}
	}
	for _, s := range stmts {
		switch s.kw() {
		case "global_defs":
		case "vrrp_script":
			c.script(s)
		case "track_file", "vrrp_track_file":
			c.trackFile(s)
		case "vrrp_instance":
			c.instance(s)
		case "vrrp_sync_group":
			c.syncGroup(s)
		case "interface_up_down_delays":
			c.delays(s)
		case "garp_group":
			c.garpGroup(s)
		default:
			c.drop(s)
		}
	}
	for _, g := range c.groups { // before the instances: it changes how their trackers count
		c.finishGroup(g)
	}
	for _, in := range c.instances {
		c.finish(in)
	}
	c.finishChecks()
	for _, in := range c.instances {
		c.writeTrackChecks(in)
	}
	for _, s := range stmts {
		if s.kw() != "interface_up_down_delays" {
			continue
		}
		for _, d := range s.block {
			if _, ok := c.ifDelays[d.kw()]; ok && !c.delayUsed[d.kw()] {
				c.note(d.pos, "warning: interface_up_down_delays %s: no instance uses or tracks this interface", kaEcho(d.kw()))
			}
		}
	}
	notes := c.noteLines()
	return &Conversion{TOML: c.toml(name, len(notes)), Notes: notes}, nil
}

// kaNote is a line for Conversion.Notes.
type kaNote struct {
	pos  kaPos
	text string
}

// kaMaxEcho is the most of a line a note quotes: 80 bytes, a terminal's line.
const kaMaxEcho = 80

// kaEcho is text from the configuration that a note quotes: cut to kaMaxEcho bytes, and left out
// of a note about an included file.
type kaEcho string

// kaConverter collects the output of one conversion.
type kaConverter struct {
	main                    string // the file the user named
	notes                   []kaNote
	global                  *tomlTable
	version                 string                       // global_defs vrrp_version: the instances' default
	strict                  bool                         // global_defs vrrp_strict
	garp                    *tomlTable                   // global_defs GARP settings: the instances' defaults
	garpGroups              map[string]map[string]string // garp_group: interface -> "garp" and "gna" -> its garp_interval, as TOML
	garpDefault, gnaDefault string                       // global_defs vrrp_garp_interval, vrrp_gna_interval: as TOML
	vmacPrefix              string                       // global_defs vmac_prefix: the start of a virtual MAC interface's name
	prioNotify              *kaStmt                      // global_defs vrrp_notify_priority_changes
	checks                  []*kaCheck                   // one per vrrp_script and track_file, in file order
	scripts                 map[string]*kaCheck          // vrrp_script name -> its check
	files                   map[string]*kaCheck          // track_file name -> its check
	checkNames              map[string]bool              // the [[check]] names in use
	instances               []*kaInstance                // one per vrrp_instance
	groups                  []*kaGroup                   // one per vrrp_sync_group
	names                   map[string]kaPos             // "vrrp_instance VI_1" -> where it is, to skip a second one
	groupOf                 map[string]*kaGroup          // instance name -> its sync group
	ifDelays                map[string]string            // interface_up_down_delays: interface -> its delays, as TOML keys
	delayUsed               map[string]bool              // the interfaces of ifDelays an instance uses
}

// kaGroup is a vrrp_sync_group being converted.
type kaGroup struct {
	name       string
	pos        kaPos
	t          *tomlTable
	members    []*kaStmt // the lines of its group block
	weights    bool      // sync_group_tracking_weight: its members' tracker weights count
	ifaces     []*kaStmt // its track_interface, track_script and track_file lines, which apply to every member
	tracks     []*kaStmt
	files      []*kaStmt
	prioNotify *kaStmt // notify_priority_changes
}

func (c *kaConverter) note(p kaPos, format string, args ...any) {
	c.notes = append(c.notes, kaNoteAt(c.main, p, format, args...))
}

// kaNoteAt makes a note at p, in a conversion of the file main: what it quotes of the
// configuration (its kaEcho arguments) is cut to kaMaxEcho bytes, or left out, as "...", from a
// file other than main.
func kaNoteAt(main string, p kaPos, format string, args ...any) kaNote {
	for i, a := range args {
		if e, ok := a.(kaEcho); ok {
			args[i] = kaCut(string(e))
			if p.file != main {
				args[i] = strings.Repeat(" ", len(e)-len(strings.TrimLeft(string(e), " "))) + "..."
			}
		}
	}
	return kaNote{p, fmt.Sprintf(format, args...)}
}

// noteLines returns the notes in the order of the source, without control characters.
func (c *kaConverter) noteLines() []string {
	slices.SortStableFunc(c.notes, func(a, b kaNote) int { return a.pos.seq - b.pos.seq })
	var lines []string
	for _, n := range c.notes {
		lines = append(lines, kaPrintable(n.pos.String()+": "+n.text))
	}
	return lines
}

// drop notes a statement that is not carried over, saying what to do instead.
func (c *kaConverter) drop(s *kaStmt) {
	c.note(s.pos, "not carried over: %s%s: %s", s.kw(), c.args(s), kaInstead(s.kw()))
}

// args returns the arguments of s for a note, after a blank, or "" if it has none.
func (c *kaConverter) args(s *kaStmt) kaEcho {
	if len(s.words) < 2 {
		return ""
	}
	return kaEcho(" " + strings.Join(s.words[1:], " "))
}

// kaInstead says what to do instead of a keepalived keyword vrrpd has no equivalent for.
func kaInstead(kw string) string {
	switch kw {
	case "notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout",
		"smtp_helo_name", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker":
		return "vrrpd sends no e-mail: send alerts from a notify hook (any gets INSTANCE <name> <state> <priority>)"
	case "virtual_server", "virtual_server_group":
		return "LVS load balancing is out of vrrpd's scope: keep it in a keepalived.conf run by `keepalived --check` (the checker alone), or manage IPVS with ipvsadm"
	case "auth_type":
		return "vrrpd has no IPsec AH authentication (RFC 3768 §5.3.6 keeps type 2 reserved): drop it on every node, or keep VRRP on a trusted segment"
	case "static_ipaddress", "static_routes", "static_rules":
		return "vrrpd adds addresses, routes and rules only with an instance: add static ones in the host's network configuration"
	case "track_process", "track_bfd", "vrrp_track_process", "bfd_instance":
		return `write a [[check]] (process = "NAME" for a process, exec for anything else) and list it in track_checks`
	case "dont_track_primary":
		return "vrrpd always tracks the instance's interface: its link going down means FAULT"
	case "unicast_ttl":
		return "vrrpd sends with TTL 255 (RFC 5798 §5.1.1.3); unicast_min_ttl sets the lowest TTL it accepts"
	case "garp_master_refresh_repeat", "vrrp_garp_master_refresh_repeat":
		return "vrrpd sends garp_repeat packets per refresh"
	case "notify_deleted":
		return "vrrpd has no such hook: the any hook runs on every state change"
	case "vrrp_mcast_group4", "vrrp_mcast_group6":
		return "vrrpd sends to the RFC's groups, 224.0.0.18 and ff02::12: for other destinations use unicast_peers"
	case "vrrp_skip_check_adv_addr", "skip_check_adv_addr":
		return "vrrpd checks the addresses of every VRRPv2 advertisement (RFC 3768 §7.1): list the same VIPs on every node"
	}
	return "vrrpd has no equivalent: check whether you rely on it"
}

// kaDefault says, for a keyword that asks keepalived for what vrrpd always does, what that is; ""
// for another keyword.
func kaDefault(kw string) string {
	switch kw {
	case "accept":
		return "vrrpd always accepts packets to the VIPs (RFC 5798 accept mode)"
	case "check_unicast_src", "vrrp_check_unicast_src":
		return "vrrpd always checks an advert's source against unicast_peers, and drops one from another address"
	case "dynamic_interfaces":
		return "vrrpd always handles interfaces that come and go: an instance whose interface is missing is in FAULT until it appears"
	case "reload_check_config":
		return "vrrpd always validates a new configuration before a reload, and keeps running on the old one if it is invalid"
	case "higher_prio_send_advert", "vrrp_higher_prio_send_advert":
		return "a vrrpd master that hears a higher priority always yields with a priority-0 advert, so the other takes over at once"
	case "lower_prio_no_advert", "vrrp_lower_prio_no_advert":
		return "a vrrpd master always answers a lower-priority master's advert with its own and a GARP/NA burst, rate limited, " +
			"so that a healed split brain ends at once; it cannot be told to stay silent"
	}
	return ""
}

// The notes for keepalived's known traps.
const (
	kaStrict = "warning: %s: left out. keepalived's sample configuration sets it, and then keepalived installs firewall rules " +
		"that drop traffic to the VIPs (so the VIP does not even answer ping) and ignores authentication and preempt_delay; " +
		"vrrpd has no strict mode and installs no firewall rules"
	kaNopreempt = "warning: nopreempt: carried over as preempt = false. It only keeps a node from taking the VIPs back from " +
		"a lower-priority master, so it acts on the highest-priority node of vrid %[2]s and does nothing on one with a lower " +
		"priority (this one has %[1]s): set preempt = false on every node of vrid %[2]s. keepalived honours it only with " +
		"state BACKUP; vrrpd has no state"
	kaMaster = "not carried over: state MASTER: vrrpd has no initial state: a node starts as backup (the address owner, " +
		"priority 255, as master) and the election makes the node with the highest priority master (RFC 5798 §6.4.1); " +
		"to choose the master, give it the highest priority"
	kaNoAccept = "warning: no_accept: left out: vrrpd always accepts packets to the VIPs (RFC 5798 accept mode), where keepalived " +
		"would drop those to a non-owner: if you rely on that, drop them with the host's firewall"
	kaXmitBase = "vmac_xmit_base: nothing to carry over: vrrpd sends and receives adverts on the virtual MAC interface, as " +
		"RFC 5798 §7.3 asks, so peers see the virtual MAC as their source; keepalived with vmac_xmit_base sends them from the " +
		"base interface. The two interoperate"
)

// section checks the top-level statement s is `KEYWORD NAME { ... }`, and that NAME is new.
func (c *kaConverter) section(s *kaStmt) bool {
	kind := s.kw()
	if kind == "vrrp_track_file" {
		kind = "track_file"
	}
	key := kind + " " + s.arg()
	switch first := c.names[key]; {
	case len(s.words) != 2 || !s.open:
		c.note(s.pos, "not carried over: %s%s: keepalived expects %s NAME { ... } and skips it too", s.kw(), c.args(s), s.kw())
		return false
	case first != kaPos{}:
		c.note(s.pos, "not carried over: %s %s: already defined at %s; keepalived skips the second one too", s.kw(), kaEcho(s.arg()), first)
		return false
	}
	c.names[key] = s.pos
	return true
}

// block returns the statements of s's block, noting it if s has none.
func (c *kaConverter) block(s *kaStmt) []*kaStmt {
	if !s.open {
		c.note(s.pos, "not carried over: %s%s: a { } block must follow it", s.kw(), c.args(s))
	}
	return s.block
}

// value returns s's argument, noting it if there is none.
func (c *kaConverter) value(s *kaStmt) (string, bool) {
	if len(s.words) < 2 {
		c.note(s.pos, "not carried over: %s: it needs a value", s.kw())
		return "", false
	}
	return s.words[1], true
}

func (c *kaConverter) setString(t *tomlTable, key string, s *kaStmt, remark string) bool {
	v, ok := c.value(s)
	if ok {
		t.set(key, tomlString(v), remark)
	}
	return ok
}

func (c *kaConverter) setInt(t *tomlTable, key string, s *kaStmt) bool {
	n, ok := c.intValue(s)
	if ok {
		t.set(key, strconv.Itoa(n), "")
	}
	return ok
}

// intValue returns s's argument as a whole number, noting it if it is not one.
func (c *kaConverter) intValue(s *kaStmt) (int, bool) {
	v, ok := c.value(s)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		c.note(s.pos, "not carried over: %s %s: not a whole number", s.kw(), kaEcho(v))
		return 0, false
	}
	return n, true
}

func (c *kaConverter) setSeconds(t *tomlTable, key string, s *kaStmt) bool {
	d, ok := c.seconds(s)
	if ok {
		t.set(key, tomlString(configs.FormatDuration(d)), "")
	}
	return ok
}

// seconds returns s's argument as keepalived's seconds, noting it if it is not.
func (c *kaConverter) seconds(s *kaStmt) (time.Duration, bool) {
	v, ok := c.value(s)
	if !ok {
		return 0, false
	}
	d, ok := kaSeconds(v)
	if !ok {
		c.note(s.pos, "not carried over: %s %s: not a number of seconds", s.kw(), kaEcho(v))
	}
	return d, ok
}

// kaSeconds parses keepalived's seconds, which may have a fraction ("0.5"), exactly.
func kaSeconds(s string) (time.Duration, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
		return 0, false
	}
	w, err := strconv.ParseUint("0"+whole, 10, 32)
	if err != nil {
		return 0, false
	}
	f, _ := strconv.ParseUint((frac + "000000000")[:9], 10, 64)
	return time.Duration(w)*time.Second + time.Duration(f), true
}

// boolValue reads keepalived's optional <BOOL> argument (check_true_false): none is true.
func (c *kaConverter) boolValue(s *kaStmt) (bool, bool) {
	if len(s.words) < 2 {
		return true, true
	}
	switch strings.ToLower(s.words[1]) {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	c.note(s.pos, "not carried over: %s %s: not true or false", s.kw(), kaEcho(s.words[1]))
	return false, false
}

func (c *kaConverter) globalDefs(s *kaStmt) {
	garp := func(key string, d *kaStmt, set func(*tomlTable, string, *kaStmt) bool) {
		if set(c.garp, key, d) {
			c.garp.entries[len(c.garp.entries)-1].remark = "global_defs " + d.kw()
		}
	}
	for _, d := range c.block(s) {
		switch d.kw() {
		case "router_id":
			c.setString(c.global, "router_id", d, "")
		case "vrrp_version":
			if v, ok := c.value(d); ok && (v == "2" || v == "3") {
				c.version = v
			} else if ok {
				c.note(d.pos, "not carried over: vrrp_version %s: not 2 or 3", kaEcho(v))
			}
		case "script_user": // script_user USER [GROUP]
			if user, ok := c.user(d); ok {
				c.global.set("script_user", tomlString(user), "")
			}
		case "enable_script_security":
			c.note(d.pos, "%s: nothing to carry over: vrrpd always enforces it, and refuses a hook or check that a user other "+
				"than root and script_user could change (`vrrpd check` says which file and what to chmod)", d.kw())
		case "vrrp_strict":
			c.strict = true
			c.note(d.pos, kaStrict, d.kw())
		case "vrrp_startup_delay":
			c.setSeconds(c.global, "startup_delay", d)
		case "vrrp_garp_master_delay":
			garp("garp_delay", d, c.setSeconds)
		case "vrrp_garp_master_repeat":
			garp("garp_repeat", d, c.setInt)
		case "vrrp_garp_master_refresh":
			garp("garp_refresh", d, c.setSeconds)
		case "vrrp_garp_interval":
			c.garpDefault = c.garpInterval(d)
		case "vrrp_gna_interval":
			c.gnaDefault = c.garpInterval(d)
		case "vmac_prefix":
			if v, ok := c.value(d); ok {
				c.vmacPrefix = v
			}
		case "vrrp_notify_priority_changes":
			c.prioNotify = d
		default:
			if why := kaDefault(d.kw()); why != "" {
				c.note(d.pos, "%s: nothing to carry over: %s", d.kw(), why)
			} else {
				c.drop(d)
			}
		}
	}
}

// garpInterval reads vrrp_garp_interval or vrrp_gna_interval, or those of a garp_group: keepalived's
// seconds, at most vrrpd's 1s. It returns garp_interval's value, or "".
func (c *kaConverter) garpInterval(s *kaStmt) string {
	d, ok := c.seconds(s)
	if !ok {
		return ""
	}
	if d > time.Second {
		c.note(s.pos, "warning: %s %s: vrrpd pauses at most 1s between the packets of a burst: carried over as 1s", s.kw(), kaEcho(s.arg()))
		d = time.Second
	}
	return tomlString(configs.FormatDuration(d))
}

// garpGroup reads a garp_group { garp_interval S gna_interval S interface IFNAME | interfaces { IFNAME ... } }:
// the intervals of the instances on those interfaces.
func (c *kaConverter) garpGroup(s *kaStmt) {
	intervals := map[string]string{}
	var ifaces []string
	for _, d := range c.block(s) {
		switch d.kw() {
		case "garp_interval":
			intervals["garp"] = c.garpInterval(d)
		case "gna_interval":
			intervals["gna"] = c.garpInterval(d)
		case "interface":
			if v, ok := c.value(d); ok {
				ifaces = append(ifaces, v)
			}
		case "interfaces":
			for _, i := range c.block(d) {
				ifaces = append(ifaces, i.words...)
			}
		default:
			c.drop(d)
		}
	}
	for _, i := range ifaces {
		c.garpGroups[i] = intervals
	}
}

// user reads `KEYWORD USER [GROUP]`, as script_user and a vrrp_script's user give them, as vrrpd's
// "USER" or "USER:GROUP".
func (c *kaConverter) user(s *kaStmt) (string, bool) {
	switch len(s.words) {
	case 2:
		return s.words[1], true
	case 3:
		return s.words[1] + ":" + s.words[2], true
	}
	c.note(s.pos, "not carried over: %s%s: keepalived expects %s USER [GROUP]", s.kw(), c.args(s), s.kw())
	return "", false
}

// delays reads interface_up_down_delays { IFNAME DOWN [UP] }: seconds, UP as DOWN if left out.
// They become the down_delay and up_delay of the interface wherever an instance uses or tracks it.
func (c *kaConverter) delays(s *kaStmt) {
	for _, d := range c.block(s) {
		var keys []string
		for i, key := range []string{"down_delay", "up_delay"} {
			v := d.words[min(len(d.words)-1, i+1)]
			dur, ok := kaSeconds(v)
			if len(d.words) < 2 || len(d.words) > 3 || !ok {
				c.note(d.pos, "not carried over: interface_up_down_delays %s: keepalived expects IFNAME DOWN [UP], in seconds", kaEcho(strings.Join(d.words, " ")))
				keys = nil
				break
			}
			if dur != 0 {
				keys = append(keys, key+" = "+tomlString(configs.FormatDuration(dur)))
			}
		}
		if keys != nil {
			c.ifDelays[d.kw()] = strings.Join(keys, ", ")
		}
	}
}

// kaCheck is a vrrp_script or track_file being converted to a [[check]]. keepalived's reverse is
// a property of each tracking, vrrpd's of the check: a check tracked both with and without it
// becomes two [[check]]s, its variants.
type kaCheck struct {
	kind    string // "vrrp_script" or "track_file"
	name    string // its keepalived name
	pos     kaPos
	t       *tomlTable // the [[check]] of its own variant
	weight  int        // its own weight; a track_file's defaults to 1
	reverse bool       // its own "weight W reverse"
	process bool       // a vrrp_script that became a process check

	used  [2]bool       // the variants tracked, by index kaVariant
	table [2]*tomlTable // the [[check]] of each variant, set by finishChecks
}

// own is the variant the check's own weight and reverse select.
func (k *kaCheck) own() int { return k.variant(k.weight, k.reverse) }

// variant is the index of the [[check]] a tracking with keepalived's weight and reverse needs: 1 for
// a reversed check. A track_file with a weight folds reverse into its sign (keepalived adds
// value x weight x -1), so only one of weight 0 needs a reversed check.
func (k *kaCheck) variant(weight int, reverse bool) int {
	if reverse && (k.kind == "vrrp_script" || weight == 0) {
		return 1
	}
	return 0
}

// vrrpdWeight is vrrpd's weight for keepalived's weight and reverse. Reversed, keepalived subtracts
// a positive weight while the script succeeds and adds a negative one's size while it fails;
// vrrpd's reversed check is down while the probe succeeds, so the same priorities need the weight
// negated. A track_file's reverse is in the sign alone.
func (k *kaCheck) vrrpdWeight(weight int, reverse bool) int {
	if reverse {
		return -weight
	}
	return weight
}

// checkTable returns a new [[check]] table.
func checkTable(comment string) *tomlTable {
	return &tomlTable{header: "[[check]]", comments: []string{comment},
		order: []string{"name", "process", "exec", "file", "user", "interval", "timeout", "rise", "fall", "weight", "init_fail", "reverse"}}
}

// nameCheck names a [[check]] as close to name as the names in use allow.
func (c *kaConverter) nameCheck(t *tomlTable, name string) {
	unique := name
	for i := 2; c.checkNames[unique]; i++ {
		unique = fmt.Sprintf("%s_%d", name, i)
	}
	c.checkNames[unique] = true
	remark := ""
	if unique != name {
		remark = "another check has the name " + name
	}
	t.set("name", tomlString(unique), remark)
}

// ownWeight reads the weight line of a vrrp_script or track_file: weight W [reverse].
func (c *kaConverter) ownWeight(k *kaCheck, s *kaStmt) {
	if w, ok := c.intValue(s); ok {
		k.weight = w
	}
	switch {
	case len(s.words) == 3 && s.words[2] == "reverse":
		k.reverse = true
	case len(s.words) > 2:
		c.note(s.pos, "not carried over: %s: keepalived expects weight W [reverse]", kaEcho(strings.Join(s.words, " ")))
	}
}

func (c *kaConverter) script(s *kaStmt) {
	if !c.section(s) {
		return
	}
	k := &kaCheck{kind: "vrrp_script", name: s.arg(), pos: s.pos, t: checkTable(fmt.Sprintf("vrrp_script %s, %s", s.arg(), s.pos))}
	k.t.set("interval", `"1s"`, "keepalived's default") // vrrpd's is 2s
	hasScript := false
	var user *kaStmt
	for _, d := range s.block {
		switch d.kw() {
		case "script":
			hasScript, k.process = c.checkCommand(k.t, d)
		case "interval", "timeout":
			c.setSeconds(k.t, d.kw(), d)
		case "rise", "fall":
			c.setInt(k.t, d.kw(), d)
		case "weight":
			c.ownWeight(k, d)
		case "user":
			user = d
		case "init_fail":
			k.t.set("init_fail", "true", "")
		default:
			c.drop(d)
		}
	}
	if !hasScript {
		c.note(s.pos, "not carried over: vrrp_script %s: it has no script (keepalived ignores it too)", kaEcho(s.arg()))
		return
	}
	if user != nil {
		switch u, ok := c.user(user); {
		case ok && k.process:
			c.note(user.pos, "user %s: nothing to carry over: the check became a process check, which runs no program", kaEcho(u))
		case ok:
			k.t.set("user", tomlString(u), "")
		}
	}
	c.nameCheck(k.t, s.arg())
	c.scripts[s.arg()] = k
	c.checks = append(c.checks, k)
}

// trackFile carries a track_file section over: `track_file NAME { file PATH weight W [reverse]
// init_file [VALUE] [overwrite] }`, vrrp_track_file its old name.
func (c *kaConverter) trackFile(s *kaStmt) {
	if !c.section(s) {
		return
	}
	k := &kaCheck{kind: "track_file", name: s.arg(), pos: s.pos, weight: 1, t: checkTable(fmt.Sprintf("%s %s, %s", s.kw(), s.arg(), s.pos))}
	hasFile := false
	for _, d := range s.block {
		switch d.kw() {
		case "file":
			hasFile = c.setString(k.t, "file", d, "")
		case "weight":
			c.ownWeight(k, d)
		case "init_file": // init_file [VALUE] [overwrite]
			value, overwrite := "0", false
			for _, w := range d.words[1:] {
				if w == "overwrite" {
					overwrite = true
				} else {
					value = w
				}
			}
			switch {
			case overwrite:
				c.note(d.pos, "warning: init_file: keepalived writes %s into the file each time it starts; vrrpd does not write it: "+
					"write it before vrrpd starts (a missing file counts as 0)", kaEcho(value))
			case value != "0":
				c.note(d.pos, "warning: init_file: keepalived creates the file with %s if it is missing; vrrpd does not create it "+
					"and counts a missing file as 0: create it before vrrpd starts", kaEcho(value))
			default:
				c.note(d.pos, "init_file: nothing to carry over: vrrpd counts a missing file as 0, as keepalived's new file holds")
			}
		default:
			c.drop(d)
		}
	}
	if !hasFile {
		c.note(s.pos, "not carried over: %s %s: it has no file (keepalived ignores it too)", s.kw(), kaEcho(s.arg()))
		return
	}
	c.nameCheck(k.t, s.arg())
	c.files[s.arg()] = k
	c.checks = append(c.checks, k)
}

// checkCommand carries a vrrp_script's script over: `killall -0 NAME` and `pidof NAME`, the usual
// "is it running" tests, become vrrpd's process check; anything else runs as exec, without a
// shell, as keepalived runs it. It reports whether the script was carried over, and whether it
// became a process check.
func (c *kaConverter) checkCommand(t *tomlTable, s *kaStmt) (ok, process bool) {
	argv, rest, ok := c.command(s)
	if !ok {
		return false, false
	}
	if len(rest) > 0 {
		c.note(s.pos, "warning: script: keepalived runs only the first word after script, %s, and ignores what follows it "+
			"(quote the whole command line); carried over as keepalived runs it", kaEcho(strconv.Quote(strings.Join(argv, " "))))
	}
	base := filepath.Base(argv[0])
	if len(argv) == 3 && base == "killall" && argv[1] == "-0" || len(argv) == 2 && base == "pidof" {
		t.set("process", tomlString(argv[len(argv)-1]), "keepalived: script "+tomlString(strings.Join(argv, " ")))
		return true, true
	}
	value, remark := kaArgv(argv)
	t.set("exec", value, remark)
	return true, false
}

// command splits a script's line as keepalived does (notify_script_init): the line is split again
// with quotes and escapes, its second word is the command line, split once more into argv, and
// the words after it (the user and group to run it as, for a notify script) are rest.
func (c *kaConverter) command(s *kaStmt) (argv, rest []string, ok bool) {
	words, err := kaSplitCommand(s.line)
	if err == nil && len(words) > 1 {
		argv, err = kaSplitCommand(words[1])
	}
	if err != nil || len(argv) == 0 {
		c.note(s.pos, "not carried over: %s: cannot split its command line (%v)", s.kw(), err)
		return nil, nil, false
	}
	return argv, words[2:], true
}

// kaArgv writes a command as a TOML array, with a remark. vrrpd runs commands by absolute path:
// one without a path is run through /usr/bin/env, which searches $PATH as keepalived does.
func kaArgv(argv []string) (value, remark string) {
	if filepath.IsAbs(argv[0]) {
		return tomlStrings(argv), ""
	}
	return tomlStrings(append([]string{"/usr/bin/env"}, argv...)), "keepalived searched $PATH for " + argv[0] + "; env does too"
}

// hook carries a notify script over as the hook key of t, and returns its argv.
func (c *kaConverter) hook(t *tomlTable, key string, s *kaStmt) []string {
	argv, rest, ok := c.command(s)
	if !ok {
		return nil
	}
	value, remark := kaArgv(argv)
	if len(rest) > 0 {
		c.note(s.pos, "not carried over: %s: keepalived reads %s after the script as the user to run it as (and skips the hook "+
			"if there is no such user; quote the whole command line to pass arguments); vrrpd runs every hook as script_user in "+
			"[global] (its own user if that is not set), so this is carried over as %s", s.kw(), kaEcho(strconv.Quote(strings.Join(rest, " "))), kaEcho(value))
	}
	t.set(key, value, remark)
	return argv
}

// notifyTable returns an empty [PARENT.notify] table.
func notifyTable(parent string) *tomlTable {
	return &tomlTable{header: "[" + parent + ".notify]", order: []string{"master", "backup", "fault", "stop", "any", "reassert", "priority"}}
}

func (c *kaConverter) syncGroup(s *kaStmt) {
	if !c.section(s) {
		return
	}
	g := &kaGroup{name: s.arg(), pos: s.pos,
		t: &tomlTable{header: "[[sync_group]]", order: []string{"name", "instances"}, sub: notifyTable("sync_group"),
			comments: []string{fmt.Sprintf("vrrp_sync_group %s, %s", s.arg(), s.pos)}},
	}
	g.t.set("name", tomlString(s.arg()), "")
	for _, d := range s.block {
		switch kw := d.kw(); kw {
		case "group":
			g.members = append(g.members, c.block(d)...)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.hook(g.t.sub, strings.TrimPrefix(kw, "notify_"), d)
		case "notify":
			c.hook(g.t.sub, "any", d)
		case "sync_group_tracking_weight", "global_tracking": // vrrpd's way: weights count
			g.weights = true
		case "track_interface":
			g.ifaces = append(g.ifaces, c.block(d)...)
		case "track_script":
			g.tracks = append(g.tracks, c.block(d)...)
		case "track_file":
			g.files = append(g.files, c.block(d)...)
		case "notify_priority_changes":
			g.prioNotify = d
		default:
			c.drop(d)
		}
	}
	c.groups = append(c.groups, g)
}

// finishGroup lists the group's members, once every instance is known, and gives them its trackers.
func (c *kaConverter) finishGroup(g *kaGroup) {
	var names []string
	for _, m := range g.members {
		for _, name := range m.words {
			if c.names["vrrp_instance "+name] == (kaPos{}) {
				c.note(m.pos, "not carried over: %s in sync group %s: there is no vrrp_instance %s (keepalived ignores it too)", kaEcho(name), kaEcho(g.name), kaEcho(name))
				continue
			}
			names = append(names, name)
			c.groupOf[name] = g
		}
	}
	if len(names) == 0 {
		c.note(g.pos, "not carried over: vrrp_sync_group %s: it has no instances", kaEcho(g.name))
		return
	}
	g.t.set("instances", tomlStrings(names), "")
	for _, in := range c.instances {
		if c.groupOf[in.name] == g {
			in.ifaces = append(in.ifaces, kaTracks(g.ifaces, g)...)
			in.tracks = append(in.tracks, kaTracks(g.tracks, g)...)
			in.files = append(in.files, kaTracks(g.files, g)...)
		}
	}
}
