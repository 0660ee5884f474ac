// Package keepalived converts a keepalived.conf into vrrpd's TOML, for `vrrpd convert`: parse.go reads
// keepalived's grammar, convert.go maps its keywords to vrrpd's, and toml.go writes the result.
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
	// ("FILE:LINE: warning: ...").
	Notes []string
}

// Convert converts the keepalived configuration src, read from the file name, to vrrpd's
// TOML. name appears in comments, notes and errors, and relative includes are looked up from its
// directory (so "stdin" looks in the current directory).
//
// What vrrpd has no equivalent for is left out with a note, and known traps get a warning; neither
// is an error. An error, which matches ErrSyntax and names the file and line, means the
// input could not be read. The result is not validated: load Conversion.TOML with Parse for that.
func Convert(name string, src []byte) (*Conversion, error) {
	stmts, parsed, err := parseKeepalived(name, src)
	if err != nil {
		return nil, err
	}
	c := &kaConverter{notes: parsed, global: &tomlTable{header: "[global]"}, garp: &tomlTable{},
		scripts: map[string]int{}, names: map[string]kaPos{}, groupOf: map[string]*kaGroup{}}
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
		case "vrrp_instance":
			c.instance(s)
		case "vrrp_sync_group":
			c.syncGroup(s)
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
	notes := c.noteLines()
	return &Conversion{TOML: c.toml(name, len(notes)), Notes: notes}, nil
}

// kaNote is a line for Conversion.Notes.
type kaNote struct {
	pos  kaPos
	text string
}

// kaConverter collects the output of one conversion.
type kaConverter struct {
	notes     []kaNote
	global    *tomlTable
	version   string              // global_defs vrrp_version: the instances' default
	strict    bool                // global_defs vrrp_strict
	garp      *tomlTable          // global_defs GARP settings: the instances' defaults
	checks    []*tomlTable        // one per vrrp_script
	scripts   map[string]int      // vrrp_script name -> its weight, for track_script
	instances []*kaInstance       // one per vrrp_instance
	groups    []*kaGroup          // one per vrrp_sync_group
	names     map[string]kaPos    // "vrrp_instance VI_1" -> where it is, to skip a second one
	groupOf   map[string]*kaGroup // instance name -> its sync group
}

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
	vips      []*kaStmt // virtual_ipaddress lines
	ifaces    []*kaStmt // track_interface lines
	tracks    []*kaStmt // track_script lines
}

// kaGroup is a vrrp_sync_group being converted.
type kaGroup struct {
	name    string
	pos     kaPos
	t       *tomlTable
	members []*kaStmt // the lines of its group block
	weights bool      // sync_group_tracking_weight: its members' tracker weights count
}

func (c *kaConverter) note(p kaPos, format string, args ...any) {
	c.notes = append(c.notes, kaNote{p, fmt.Sprintf(format, args...)})
}

// noteLines returns the notes in the order of the source.
func (c *kaConverter) noteLines() []string {
	slices.SortStableFunc(c.notes, func(a, b kaNote) int { return a.pos.seq - b.pos.seq })
	var lines []string
	for _, n := range c.notes {
		lines = append(lines, n.pos.String()+": "+n.text)
	}
	return lines
}

// drop notes a statement that is not carried over, saying what to do instead.
func (c *kaConverter) drop(s *kaStmt) {
	c.note(s.pos, "not carried over: %s: %s", strings.Join(s.words, " "), kaInstead(s.kw()))
}

// kaInstead says what to do instead of a keepalived keyword vrrpd has no equivalent for.
func kaInstead(kw string) string {
	switch kw {
	case "notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout",
		"smtp_helo_name", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker":
		return "vrrpd sends no e-mail: send alerts from a notify hook (any gets INSTANCE <name> <state> <priority>)"
	case "virtual_server", "virtual_server_group":
		return "LVS load balancing is out of vrrpd's scope: keep it in a keepalived.conf run by `keepalived --check` (the checker alone), or manage IPVS with ipvsadm"
	case "use_vmac", "vmac_xmit_base":
		return "vrrpd has no virtual MAC interfaces (not implemented): its VIPs go on the interface itself, and gratuitous ARP and unsolicited NA move them"
	case "auth_type":
		return "vrrpd has no IPsec AH authentication (RFC 3768 §5.3.6 keeps type 2 reserved): drop it on every node, or keep VRRP on a trusted segment"
	case "virtual_ipaddress_excluded":
		return "vrrpd has no excluded VIPs: list them in vips on every node (they are then advertised too), or add them from a notify hook"
	case "virtual_routes", "virtual_rules", "static_ipaddress", "static_routes", "static_rules":
		return "vrrpd manages VIPs only: add routes, rules and static addresses from a notify hook or the host's network configuration"
	case "track_file", "track_process", "track_bfd", "vrrp_track_file", "vrrp_track_process", "bfd_instance":
		return `write a [[check]] (process = "NAME" for a process, exec for anything else) and list it in track_checks`
	case "dont_track_primary":
		return "vrrpd always tracks the instance's interface: its link going down means FAULT"
	case "unicast_ttl":
		return "vrrpd sends with TTL 255 (RFC 5798 §5.1.1.3); unicast_min_ttl sets the lowest TTL it accepts"
	case "garp_master_refresh_repeat", "vrrp_garp_master_refresh_repeat":
		return "vrrpd sends garp_repeat packets per refresh"
	case "notify_master_rx_lower_pri", "notify_deleted":
		return "vrrpd has no such hook: the any hook runs on every state change"
	case "vrrp_mcast_group4", "vrrp_mcast_group6":
		return "vrrpd sends to the RFC's groups, 224.0.0.18 and ff02::12: for other destinations use unicast_peers"
	case "vrrp_skip_check_adv_addr", "skip_check_adv_addr":
		return "vrrpd checks the addresses of every VRRPv2 advertisement (RFC 3768 §7.1): list the same VIPs on every node"
	case "user":
		return `vrrpd runs every check and hook as script_user in [global] (its own user if that is not set): to run just this one ` +
			`as another user, leave script_user unset, run vrrpd as root, and start the check's exec with "/usr/sbin/runuser", "-u", "USER", "--"`
	case "track_interface", "track_script": // in a sync group
		return "vrrpd tracks per instance: put the trackers in each member's track_interfaces and track_checks"
	}
	return "vrrpd has no equivalent: check whether you rely on it"
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
)

// section checks the top-level statement s is `KEYWORD NAME { ... }`, and that NAME is new.
func (c *kaConverter) section(s *kaStmt) bool {
	key := s.kw() + " " + s.arg()
	switch first := c.names[key]; {
	case len(s.words) != 2 || !s.open:
		c.note(s.pos, "not carried over: %s: keepalived expects %s NAME { ... } and skips it too", strings.Join(s.words, " "), s.kw())
		return false
	case first != kaPos{}:
		c.note(s.pos, "not carried over: %s: already defined at %s; keepalived skips the second one too", key, first)
		return false
	}
	c.names[key] = s.pos
	return true
}

// block returns the statements of s's block, noting it if s has none.
func (c *kaConverter) block(s *kaStmt) []*kaStmt {
	if !s.open {
		c.note(s.pos, "not carried over: %s: a { } block must follow it", strings.Join(s.words, " "))
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
	v, ok := c.value(s)
	if !ok {
		return false
	}
	if _, err := strconv.Atoi(v); err != nil {
		c.note(s.pos, "not carried over: %s %s: not a whole number", s.kw(), v)
		return false
	}
	t.set(key, v, "")
	return true
}

func (c *kaConverter) setSeconds(t *tomlTable, key string, s *kaStmt) bool {
	v, ok := c.value(s)
	if !ok {
		return false
	}
	d, ok := kaSeconds(v)
	if !ok {
		c.note(s.pos, "not carried over: %s %s: not a number of seconds", s.kw(), v)
		return false
	}
	t.set(key, tomlString(configs.FormatDuration(d)), "")
	return true
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
				c.note(d.pos, "not carried over: vrrp_version %s: not 2 or 3", v)
			}
		case "script_user": // script_user USER [GROUP]
			switch len(d.words) {
			case 2:
				c.global.set("script_user", tomlString(d.words[1]), "")
			case 3:
				c.global.set("script_user", tomlString(d.words[1]+":"+d.words[2]), "")
			default:
				c.note(d.pos, "not carried over: %s: keepalived expects script_user USER [GROUP]", strings.Join(d.words, " "))
			}
		case "enable_script_security":
			c.note(d.pos, "%s: nothing to carry over: vrrpd always enforces it, and refuses a hook or check that a user other "+
				"than root and script_user could change (`vrrpd check` says which file and what to chmod)", d.kw())
		case "vrrp_strict":
			c.strict = true
			c.note(d.pos, kaStrict, d.kw())
		case "vrrp_garp_master_delay":
			garp("garp_delay", d, c.setSeconds)
		case "vrrp_garp_master_repeat":
			garp("garp_repeat", d, c.setInt)
		case "vrrp_garp_master_refresh":
			garp("garp_refresh", d, c.setSeconds)
		default:
			c.drop(d)
		}
	}
}

func (c *kaConverter) script(s *kaStmt) {
	if !c.section(s) {
		return
	}
	t := &tomlTable{header: "[[check]]", order: []string{"name", "process", "exec", "interval", "timeout", "rise", "fall", "weight"},
		comments: []string{fmt.Sprintf("vrrp_script %s, %s", s.arg(), s.pos)}}
	t.set("name", tomlString(s.arg()), "")
	t.set("interval", `"1s"`, "keepalived's default") // vrrpd's is 2s
	weight, hasScript := 0, false
	for _, d := range s.block {
		switch d.kw() {
		case "script":
			hasScript = c.checkCommand(t, d)
		case "interval", "timeout":
			c.setSeconds(t, d.kw(), d)
		case "rise", "fall":
			c.setInt(t, d.kw(), d)
		case "weight":
			if c.setInt(t, "weight", d) {
				weight, _ = strconv.Atoi(d.arg())
			}
			if slices.Contains(d.words, "reverse") {
				c.note(d.pos, "not carried over: reverse: vrrpd cannot reverse a weight: invert the script's exit status instead")
			}
		default:
			c.drop(d)
		}
	}
	if !hasScript {
		c.note(s.pos, "not carried over: vrrp_script %s: it has no script (keepalived ignores it too)", s.arg())
		return
	}
	c.scripts[s.arg()] = weight
	c.checks = append(c.checks, t)
}

// checkCommand carries a vrrp_script's script over: `killall -0 NAME` and `pidof NAME`, the usual
// "is it running" tests, become vrrpd's process check; anything else runs as exec, without a
// shell, as keepalived runs it.
func (c *kaConverter) checkCommand(t *tomlTable, s *kaStmt) bool {
	argv, rest, ok := c.command(s)
	if !ok {
		return false
	}
	if len(rest) > 0 {
		c.note(s.pos, "warning: script: keepalived runs %q and ignores what follows it (quote the whole command line); carried over as keepalived runs it", strings.Join(argv, " "))
	}
	base := filepath.Base(argv[0])
	if len(argv) == 3 && base == "killall" && argv[1] == "-0" || len(argv) == 2 && base == "pidof" {
		t.set("process", tomlString(argv[len(argv)-1]), "keepalived: script "+tomlString(strings.Join(argv, " ")))
		return true
	}
	value, remark := kaArgv(argv)
	t.set("exec", value, remark)
	return true
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

// hook carries a notify script over as the hook key of t.
func (c *kaConverter) hook(t *tomlTable, key string, s *kaStmt) {
	argv, rest, ok := c.command(s)
	if !ok {
		return
	}
	value, remark := kaArgv(argv)
	if len(rest) > 0 {
		c.note(s.pos, "not carried over: %s: keepalived reads %q after the script as the user to run it as (and skips the hook "+
			"if there is no such user; quote the whole command line to pass arguments); vrrpd runs every hook as script_user in "+
			"[global] (its own user if that is not set), so this is carried over as %s", s.kw(), strings.Join(rest, " "), value)
	}
	t.set(key, value, remark)
}

// notifyTable returns an empty [PARENT.notify] table.
func notifyTable(parent string) *tomlTable {
	return &tomlTable{header: "[" + parent + ".notify]", order: []string{"master", "backup", "fault", "stop", "any"}}
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
		default:
			c.drop(d)
		}
	}
	c.groups = append(c.groups, g)
}

// finishGroup lists the group's members, once every instance is known.
func (c *kaConverter) finishGroup(g *kaGroup) {
	var names []string
	for _, m := range g.members {
		for _, name := range m.words {
			if c.names["vrrp_instance "+name] == (kaPos{}) {
				c.note(m.pos, "not carried over: %s in sync group %s: there is no vrrp_instance %s (keepalived ignores it too)", name, g.name, name)
				continue
			}
			names = append(names, name)
			c.groupOf[name] = g
		}
	}
	if len(names) == 0 {
		c.note(g.pos, "not carried over: vrrp_sync_group %s: it has no instances", g.name)
		return
	}
	g.t.set("instances", tomlStrings(names), "")
}
