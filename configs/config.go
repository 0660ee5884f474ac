// Package configs loads vrrpd's TOML configuration (the schema in SPEC.md), applies its defaults and
// validates it.
//
// Loading is strict: an unknown key, a value of the wrong type and a value out of range are all errors,
// because a typo in a failover configuration must never pass silently. Every problem in a file is
// reported at once, in file order, one per line, each naming where it is:
//
//	instance "VI_1": vrid: 300 is out of range 1-255
//	instance "VI_1": track_checks[0].name: unknown check "ngnix" (did you mean "nginx"?)
//
// A Config returned without an error is complete: defaults are filled in and cross-references
// (track_checks, sync groups) are resolved, so its users need no further checks of the file
// itself. Parse reads nothing but the file, the hostname (router_id's default) and the user
// database (script_user). What depends on the host's files is checked apart, by CheckHost: the
// programs hooks and checks run must exist and be safe from other users. FileWarnings says what
// is unsafe about the configuration file itself.
package configs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultPath is where `vrrpd run` and `vrrpd check` look for the configuration.
const DefaultPath = "/etc/vrrpd/vrrpd.toml"

// ErrInvalid is matched (errors.Is) by every problem Parse and Load report, syntax errors included.
// A file that cannot be read gives the os error instead.
var ErrInvalid = errors.New("invalid configuration")

// Config is one host's configuration.
type Config struct {
	Global     Global
	Checks     []Check     // [[check]], in file order
	Instances  []Instance  // [[instance]], in file order
	SyncGroups []SyncGroup // [[sync_group]], in file order
}

// Global is the [global] table.
type Global struct {
	RouterID    string     // router_id: names this node in logs and status; default the hostname
	Socket      string     // socket: absolute path of the control socket; default "/run/vrrpd/vrrpd.sock"
	SocketGroup string     // socket_group: group that may use the socket (mode 0660); "" (default): root only (0600)
	Metrics     string     // metrics: host:port serving Prometheus /metrics, host optional; "" (default): off
	LogFormat   string     // log_format: "text" (default) or "json"
	LogLevel    slog.Level // log_level: "debug", "info" (default), "warn" or "error"

	// state_dir: absolute path of the directory holding what must survive a restart or a reboot
	// (the drained instances); default "/var/lib/vrrpd".
	StateDir string
	// watch_config: reload when the configuration file changes, as SIGHUP does (a Kubernetes
	// ConfigMap update, which swaps a symbolic link, included); default false.
	WatchConfig bool
	// startup_delay: how long to wait after start before taking part in elections, for interfaces
	// that settle late at boot; 0s (default) to 1h.
	StartupDelay time.Duration

	// script_user: the user notify hooks and exec and script checks run as, like keepalived's
	// script_user: "USER", or "USER:GROUP"; each a name or a number. "" (default): vrrpd's own user.
	// Switching to it needs vrrpd to run as root, or with CAP_SETUID and CAP_SETGID (CheckHost
	// says so). The environment stays vrrpd's own: HOME and USER are not changed.
	ScriptUser string
	// ScriptCredential is ScriptUser resolved on this host when the file was parsed, nil when
	// ScriptUser is "". With "USER" it is the user's uid, its primary group and every group it
	// belongs to, as login and systemd's User= give. With "USER:GROUP" it is the user's uid and
	// that group alone, as primary and only group. A number that is not in the user or group
	// database is taken as it is, but a uid alone needs its group: "1234:1234".
	ScriptCredential *syscall.Credential
}

// CheckKind says how a Check probes its target: the name of the key that set it.
type CheckKind string

const (
	CheckProcess CheckKind = "process" // a process with this name is running
	CheckExec    CheckKind = "exec"    // a command (argv, no shell) exits 0
	CheckScript  CheckKind = "script"  // a shell command line exits 0
	CheckTCP     CheckKind = "tcp"     // a TCP connect succeeds
	CheckHTTP    CheckKind = "http"    // a GET answers 2xx
	CheckFile    CheckKind = "file"    // a file's number, as keepalived's track_file
	CheckPing    CheckKind = "ping"    // an ICMP or ICMPv6 echo is answered
)

// Check is one [[check]]: a named health check that instances track by name. Exactly one of Process,
// Exec, Script, TCP, HTTP, File and Ping is set, as Kind says.
type Check struct {
	Name string    // name: required, unique among checks
	Kind CheckKind // which of the seven keys below is set

	// process: a process name. It matches a process whose /proc/PID/comm (which the kernel cuts to
	// 15 bytes) or base name of argv[0] is this name.
	Process string
	Exec    []string // exec: argv run without a shell; argv[0] is an absolute path; exit 0 is healthy
	Script  string   // script: command line run with /bin/sh -c; exit 0 is healthy
	TCP     string   // tcp: host:port; healthy if a TCP connect succeeds
	HTTP    string   // http: http:// or https:// URL; healthy on a 2xx answer

	// file: absolute path of a file holding an integer N, as keepalived's track_file; a missing
	// file counts as 0. With weight 0 the check is down while N is not 0; otherwise N x weight is
	// added to the priority.
	File string
	// ping: an IPv4 or IPv6 unicast address, healthy when it answers an echo request within the
	// timeout. A link-local IPv6 address names its interface as a zone: "fe80::1%eth0".
	Ping netip.Addr

	// user: the user an exec or script check runs as, instead of global.script_user: "USER" or
	// "USER:GROUP", as script_user (an error on other kinds); "" (default): script_user.
	User string
	// UserCredential is User resolved as ScriptCredential is; nil when User is "".
	UserCredential *syscall.Credential

	InitFail bool // init_fail: the check counts as down until its first success; default false (up)
	// reverse: the check counts as up while its probe fails, and down while it succeeds; default
	// false. A file check (keepalived's track_file reverse) subtracts N x weight instead of adding
	// it, and with weight 0 is down while the file holds 0.
	Reverse bool

	Interval time.Duration // interval: time between probes; default 2s, > 0
	Timeout  time.Duration // timeout: a probe running longer fails; default Interval, > 0
	Rise     int           // rise: consecutive successes before the check counts as up; default 1, >= 1
	Fall     int           // fall: consecutive failures before the check counts as down; default 1, >= 1

	// weight: priority change, -253..253. Negative: added while the check is down; positive: added
	// while it is up; 0 (default): trackers go to FAULT while it is down. track_checks may override it.
	Weight int
}

// Instance is one [[instance]]: a virtual router.
type Instance struct {
	Name      string // name: required, unique among instances
	Interface string // interface: required; a Linux interface name, whose link is always tracked
	VRID      uint8  // vrid: required, 1-255; unique per interface and address family
	Priority  uint8  // priority: 1-255, default 100; 255 means this node owns the addresses
	Version   int    // version: VRRP version, 2 (RFC 3768, IPv4 only) or 3 (RFC 5798, default)

	// advert_interval: time between advertisements, default 1s. Version 2: whole seconds, 1s-255s
	// (RFC 3768 §5.3.7). Version 3: a multiple of 10ms from 10ms to 40.95s (RFC 5798 §5.2.7).
	AdvertInterval time.Duration
	Preempt        bool          // preempt: take over from a lower-priority master; default true
	PreemptDelay   time.Duration // preempt_delay: wait this long before preempting; default 0, at most 1h

	// vips: required, at least one, in file order; all IPv4, or (version 3 only) all IPv6; no address
	// twice, and no address in two instances. "10.0.4.99/24" keeps the host address with its prefix
	// length; an address without a length is a /32 or /128. An entry is that string, or a table
	// { address = "10.0.4.99/24", dev = "eth1", label = "eth0:vip", scope = "link" } whose options
	// go to VIPOptions. There is no limit on how many: an advert carries as many as fit.
	// Each is an address a host can hold: not loopback, multicast, unspecified, 255.255.255.255, nor
	// the broadcast address of its own IPv4 prefix (10.0.4.255/24; /31 and /32 have none).
	VIPs []netip.Prefix
	// vips_excluded: more addresses, written as vips are, added and removed with them but never
	// carried in adverts (keepalived's virtual_ipaddress_excluded): either family, any number; not
	// empty if present; none also in vips or in another instance. Default none.
	VIPsExcluded []netip.Prefix
	// VIPOptions holds the options of the VIPs and excluded VIPs written as tables; an address
	// written as a string has none, and AddressOptions gives the defaults for it.
	VIPOptions map[netip.Addr]VIPOption

	// unicast_src: the source address of advertisements, in the VIPs' family. Zero (the default):
	// the interface's first address of that family.
	UnicastSrc netip.Addr
	// unicast_peers: send advertisements to these addresses, and accept them only from these,
	// instead of multicast (224.0.0.18 or ff02::12). Same family as the VIPs, without UnicastSrc.
	// Empty (the default): multicast.
	UnicastPeers []netip.Addr
	// unicast_min_ttl (an extension): the lowest TTL or hop limit accepted from peers, 1-255;
	// default 255, as RFC 5798 §5.1.1.3 and §5.1.2.3 require. Lower it only for peers that are
	// routed hops away. Setting it without unicast_peers is an error.
	UnicastMinTTL int

	// auth_pass: VRRPv2 simple password (RFC 3768 §5.3.6), at most 8 bytes; "" (default): none.
	// Setting it with version 3 is an error: VRRPv3 has no authentication (RFC 5798 §9).
	AuthPass string
	// v3_checksum: how IPv4 VRRPv3 advertisements are checksummed: "pseudo-header" (the default,
	// RFC 5798 §5.2.8, what keepalived and FRR send) or "message" (RFC 9568). Setting it for
	// version 2 or IPv6 is an error.
	V3Checksum string

	GARPDelay   time.Duration // garp_delay: a second GARP/NA burst this long after becoming master; default 5s, >= 0
	GARPRepeat  int           // garp_repeat: packets per burst, 1-100; default 5
	GARPRefresh time.Duration // garp_refresh: while master, a burst this often; 0 (default): off; else >= 100ms

	// garp_interval: the pause between the packets of one GARP/NA burst, for very long VIP lists
	// (keepalived's garp_interval); 0s (default) to 1s.
	GARPInterval time.Duration

	// vmac: put the VIPs on a macvlan interface with the RFC's virtual MAC, 00:00:5e:00:01:VRID
	// (IPv6: 00:00:5e:00:02:VRID), and send and receive adverts on it (RFC 5798 §7.3), as
	// keepalived's use_vmac; default false.
	VMAC bool
	// vmac_name: the macvlan interface's name, only with vmac = true; default "vrrp.VRID"
	// (keepalived's name), "vrrp6.VRID" for an IPv6 instance, so that the IPv4 and IPv6 routers of
	// one VRID can share an interface. Interface names are the host's: no two instances have one
	// name. Empty without vmac.
	VMACName string

	// routes: routes added while master and removed otherwise, as keepalived's virtual_routes.
	Routes []Route
	// rules: policy routing rules added while master and removed otherwise, as keepalived's
	// virtual_rules.
	Rules []Rule

	// track_interfaces: more links to watch. An entry may name the instance's own interface, to set
	// its delays; its weight is then 0, as that link is always tracked and puts the instance in FAULT.
	TrackInterfaces []TrackInterface
	TrackChecks     []TrackCheck // track_checks: checks to watch
	Notify          Notify       // [instance.notify]
}

// IPv6 reports whether the instance's addresses are IPv6: the family of its VIPs, which is the one
// its adverts carry (VIPsExcluded may hold either family).
func (i *Instance) IPv6() bool { return len(i.VIPs) > 0 && i.VIPs[0].Addr().Is6() }

// AddressOptions returns how the address a of VIPs or VIPsExcluded is added: its VIPOptions entry
// if it has one, with Dev the instance's interface when it names none; else that interface, no
// label, and scope "global". (With VMAC, an address whose Dev is the instance's interface goes on
// the VMACName interface, as keepalived's use_vmac puts it.)
func (i *Instance) AddressOptions(a netip.Addr) VIPOption {
	o, ok := i.VIPOptions[a]
	if !ok {
		o.Scope = "global"
	}
	if o.Dev == "" {
		o.Dev = i.Interface
	}
	return o
}

// VIPOption is how one VIP, written as a table, is added.
type VIPOption struct {
	// dev: the interface the address goes on instead of the instance's; "" (default): the instance's
	// interface (or its vmac interface).
	Dev string
	// label: the address's label, IPv4 only: at most 15 bytes, starting with the name of the
	// interface the address goes on ("eth0:vip"), as ip address add requires; "" (default): none.
	Label string
	// scope: "global" (the default), "site", "link" or "host".
	Scope string
}

// Route is one entry of routes: a route the instance adds while it is master.
type Route struct {
	// to: required; the destination prefix, without host bits; an address alone is a /32 or /128;
	// "default" is 0.0.0.0/0 or ::/0, in the family of via, else src, else the VIPs.
	To  netip.Prefix
	Via netip.Addr // via: the next hop, a unicast address of To's family; zero (default): none
	// dev: the interface the route goes out of; "" (default): with via, the one the kernel finds
	// for the gateway (as keepalived leaves it); without, the instance's interface.
	Dev string
	// src: the preferred source address for the route, a unicast address of To's family; zero
	// (default): none, the kernel chooses.
	Src netip.Addr
	// table: the routing table, 0-4294967295; 0 (default) is the main table (254).
	Table uint32
	// metric: the route's priority, 0-4294967295; default 0.
	Metric uint32
	// scope: "global" (the default, as keepalived's; ip route add gives a route without via
	// "link"), "site", "link" or "host".
	Scope string
	// type: "unicast" (the default), "blackhole", "unreachable" or "prohibit". Only a unicast route
	// has via and dev.
	Type string
}

// Rule is one entry of rules: a policy routing rule the instance adds while it is master. It
// matches on at least one of From, To, IIF, OIF and FWMark. Its family is that of From and To,
// else the VIPs'.
type Rule struct {
	From     netip.Prefix // from: source prefix, without host bits; an address alone is a /32 or /128; zero (default): any
	To       netip.Prefix // to: destination prefix, From's family; zero (default): any
	IIF      string       // iif: the interface packets come in on; "" (default): any
	OIF      string       // oif: the interface packets go out of; "" (default): any
	FWMark   uint32       // fwmark: the firewall mark packets carry; 0 (default): any
	Table    uint32       // table: required; the table to look up, 1-4294967295 (254 is main)
	Priority uint32       // priority: the rule's place, 0-4294967295; 0 (default): the kernel's choice, as ip rule add
}

// TrackInterface is one entry of track_interfaces.
type TrackInterface struct {
	Name   string // name: required, a Linux interface name
	Weight int    // weight: added to the priority while the link is down, -253..253; 0 (default): FAULT instead

	// down_delay and up_delay: a link going down, or coming back up, counts only once it has
	// stayed so this long (keepalived's interface_up_down_delays); 0s (default) to 1h.
	DownDelay time.Duration
	UpDelay   time.Duration
}

// TrackCheck is one entry of track_checks.
type TrackCheck struct {
	Name   string // name: required, a [[check]]'s name
	Weight int    // weight: -253..253; default the check's own Weight (see Check.Weight)
}

// Notify holds the hooks run on state changes. Each hook is an argv, run without a shell; argv[0] is an
// absolute path. A nil hook is not run.
type Notify struct {
	Master []string // master: on becoming MASTER
	Backup []string // backup: on becoming BACKUP
	Fault  []string // fault: on entering FAULT
	Stop   []string // stop: when the instance stops
	Any    []string // any: on every change, with INSTANCE <name> <state> <priority> appended
	// reassert: while master, after another master was heard and answered (a healed split brain),
	// to re-claim the addresses where GARP is not enough, as keepalived's notify_master_rx_lower_pri
	Reassert []string
	Priority []string      // priority: when the effective priority changes; VRRPD_PRIORITY holds the new one
	Timeout  time.Duration // timeout: a hook still running after this is killed; default 30s, > 0
}

// SyncGroup is one [[sync_group]]: instances that change state together.
type SyncGroup struct {
	Name      string   // name: required, unique among sync groups
	Instances []string // instances: required, at least one; each an instance's name, in no other group
	Notify    Notify   // [sync_group.notify]
}

// Load reads and parses the file at path. See Parse. It reads no more than MaxFileSize bytes and
// one more, to say that a file is too large, whatever the file is.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// MaxFileSize is the largest configuration Parse reads: 4 MiB, far more than the largest real
// configuration needs. A reload parses inside the running daemon, so a file that large is a
// mistake (a log, an image) that would only cost the daemon memory and time.
const MaxFileSize = 4 << 20

// Parse parses and validates a configuration. When it is invalid, the error lists every problem, one
// per line in file order (see Problems), and each matches ErrInvalid. A syntax error stops parsing: it
// is the only problem, and it wraps the toml.ParseError, whose ErrorWithPosition shows the line. So
// does a file larger than MaxFileSize, or nested deeper than the schema goes (see maxNesting): those
// are refused before the TOML decoder sees them.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, &problem{msg: fmt.Sprintf("the file is larger than %d MiB, the most a configuration may be", MaxFileSize>>20)}
	}
	if p := prescan(data); p != nil {
		return nil, p
	}
	var root map[string]any
	md, err := toml.Decode(string(data), &root)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := strings.ReplaceAll(pe.Message, "\n", " ")
			return nil, &problem{msg: fmt.Sprintf("line %d: %s", pe.Position.Line, msg), cause: pe}
		}
		return nil, &problem{msg: err.Error(), cause: err}
	}
	d := newDecoder(md)
	cfg := d.config(d.root(root))
	if err := d.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Problems splits an error from Load or Parse into its problems, one line each, for printing one per
// line. It returns nil for a nil error.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// problem is one thing wrong with a configuration, in one line.
type problem struct {
	msg   string
	cause error // the toml.ParseError of a syntax error, else nil
}

func (p *problem) Error() string        { return p.msg }
func (p *problem) Unwrap() error        { return p.cause }
func (p *problem) Is(target error) bool { return target == ErrInvalid }
