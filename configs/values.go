package configs

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

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

// noControl refuses NUL and the other control characters in a string that reaches a person (a log,
// a status table) or the kernel: such a character can hide or forge what they read.
func noControl(s string) string { return controlIn(s, "") }

// scriptLine is noControl for a shell command line, which may span lines and hold tabs.
func scriptLine(s string) string { return controlIn(s, "\t\n") }

func controlIn(s, allowed string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && !strings.ContainsRune(allowed, r) }) {
		return fmt.Sprintf("%q contains a control character", s)
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
	for _, a := range args {
		if msg := noControl(a); msg != "" {
			return msg
		}
	}
	return absPath(args[0])
}

// ifname follows the kernel's dev_valid_name (net/core/dev.c): 1-15 bytes (IFNAMSIZ 16 with the NUL),
// not "." or "..", without '/', ':' or whitespace; and without control characters.
func ifname(s string) string {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\v\f\r") || noControl(s) != "" {
		return fmt.Sprintf("%q is not a valid interface name", s)
	}
	return ""
}

// label checks an IPv4 address label as the kernel keeps it (IFA_LABEL, IFNAMSIZ): 1-15 bytes of
// printable characters without blanks. It must also start with its interface's name, which the
// caller checks.
func label(s string) string {
	if len(s) == 0 || len(s) > 15 || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fmt.Sprintf("%q is not a valid label: 1-15 bytes, printable, without blanks", s)
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

// addr parses an IP address that can be assigned to a host, without a zone.
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
	a := p.Addr()
	msg := hostAddr(a)
	if msg == "" {
		msg = peerAddr(a)
	}
	if msg == "" && a.Is4() && p.Bits() < 31 && a == lastAddr(p) {
		msg = fmt.Sprintf("%s is the broadcast address of %s", p, p.Masked())
	}
	if msg != "" {
		return netip.Prefix{}, msg
	}
	return p, ""
}

// lastAddr returns the last address of an IPv4 prefix: its broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
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

// broadcast is IPv4's limited broadcast address.
var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// unicastAddr accepts an address that one host answers for: not 255.255.255.255.
func unicastAddr(a netip.Addr) string {
	if a == broadcast {
		return fmt.Sprintf("%s is the broadcast address", a)
	}
	return hostAddr(a)
}

// peerAddr accepts an address another host can reach this one at, or this one another at: not
// loopback, nor the broadcast address. VIPs, unicast_src and unicast_peers are such addresses.
func peerAddr(a netip.Addr) string {
	if a.IsLoopback() {
		return fmt.Sprintf("%s is a loopback address, which no other host can reach", a)
	}
	return unicastAddr(a)
}

// pingAddr parses a ping check's address: a unicast address, whose zone names the interface
// of a link-local IPv6 address, and only of one.
func pingAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Sprintf("%q is not an IP address", s)
	case a.Zone() != "" && !a.IsLinkLocalUnicast():
		return netip.Addr{}, fmt.Sprintf("%q: only a link-local address has a zone", s)
	case a.Zone() != "" && ifname(a.Zone()) != "":
		return netip.Addr{}, fmt.Sprintf("%q: zone %s", s, ifname(a.Zone()))
	case a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "":
		return netip.Addr{}, fmt.Sprintf("%s is link-local: name its interface too, as %s%%eth0", a, a)
	}
	if msg := unicastAddr(a.WithZone("")); msg != "" {
		return netip.Addr{}, msg
	}
	return a, ""
}

func family(a netip.Addr) string {
	if a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}

// once says that v is listed twice if seen has it already, else records it.
func once[T comparable](seen map[T]bool, v T) string {
	if seen[v] {
		return show(v) + " is listed twice"
	}
	seen[v] = true
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
