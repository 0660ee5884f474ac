package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route is a route that follows a VIP (keepalived's virtual_routes).
type Route struct {
	To       netip.Prefix
	Via, Src netip.Addr // the gateway and the preferred source; the zero Addr for none
	Dev      string     // "": the kernel finds the interface from Via
	Table    uint32     // 0: main
	Metric   uint32     // 0: the kernel's default (0 for IPv4, 1024 for IPv6)
	Scope    string     // "", "global", "site", "link", "host"; "": link without Via, else global (as ip route)
	Type     string     // "", "unicast", "blackhole", "unreachable", "prohibit"; "": unicast
}

func (r Route) String() string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(r.To.String())
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Table != 0 {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.Scope != "" {
		b.WriteString(" scope " + r.Scope)
	}
	return b.String()
}

// routeTypes are the route types by name (rtnetlink's RTN_*).
var routeTypes = map[string]int{
	"": unix.RTN_UNICAST, "unicast": unix.RTN_UNICAST, "blackhole": unix.RTN_BLACKHOLE,
	"unreachable": unix.RTN_UNREACHABLE, "prohibit": unix.RTN_PROHIBIT,
}

// netlinkRoute checks r and turns it into netlink's form. m.mu must be held.
func (m *Manager) netlinkRoute(r Route) (*netlink.Route, error) {
	var problems []string
	family := func(what string, ip netip.Addr) {
		if ip.IsValid() && r.To.IsValid() && ip.Is4() != r.To.Addr().Is4() {
			problems = append(problems, fmt.Sprintf("%s %s is not of the destination's family", what, ip))
		}
	}
	if !r.To.IsValid() {
		problems = append(problems, "no destination")
	}
	family("via", r.Via)
	family("src", r.Src)
	scope, ok := scopes[r.Scope]
	if !ok {
		problems = append(problems, fmt.Sprintf("unknown scope %q (want global, site, link or host)", r.Scope))
	}
	typ, ok := routeTypes[r.Type]
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("unknown type %q (want unicast, blackhole, unreachable or prohibit)", r.Type))
	case typ != unix.RTN_UNICAST && (r.Via.IsValid() || r.Dev != ""):
		problems = append(problems, fmt.Sprintf("a %s route goes to no gateway or interface", r.Type))
	case typ == unix.RTN_UNICAST && !r.Via.IsValid() && r.Dev == "":
		problems = append(problems, "a unicast route needs a gateway (via) or an interface (dev)")
	}
	if err := oneLine(problems); err != nil {
		return nil, err
	}
	if r.Scope == "" && typ == unix.RTN_UNICAST && !r.Via.IsValid() {
		scope = unix.RT_SCOPE_LINK // directly connected, as ip route has it
	}
	nr := &netlink.Route{
		Dst: ipNet(r.To), Table: int(r.Table), Priority: int(r.Metric), Scope: netlink.Scope(scope), Type: typ,
	}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Dev != "" {
		l, err := m.link(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	return nr, nil
}

// AddRoutes adds every route, or replaces the one to the same destination in the same table with
// the same metric. Every route that can be added is, and the error names each that could not.
func (m *Manager) AddRoutes(rs []Route) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, r := range rs {
		nr, err := m.netlinkRoute(r)
		if err == nil {
			err = m.h.RouteReplace(nr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveRoutes deletes every route. A route that is not there, or whose interface no longer
// exists, is not an error.
func (m *Manager) RemoveRoutes(rs []Route) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, r := range rs {
		nr, err := m.netlinkRoute(r)
		if errors.Is(err, ErrNoInterface) {
			continue // the route went with it
		}
		if err == nil {
			err = m.h.RouteDel(nr)
		}
		if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: no such route
			errs = append(errs, fmt.Errorf("remove route %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// Rule is a policy routing rule that follows a VIP (keepalived's virtual_rules): packets that
// match every field given look up Table.
type Rule struct {
	From, To netip.Prefix // the zero Prefix: any
	IIF, OIF string       // "": any
	FWMark   uint32       // 0: any
	Table    uint32       // the table to look up; required
	Priority uint32       // 0: the kernel picks one, just before the first rule after priority 0
}

func (r Rule) String() string {
	var b strings.Builder
	if r.Priority != 0 {
		fmt.Fprintf(&b, "priority %d ", r.Priority)
	}
	if r.From.IsValid() {
		b.WriteString("from " + r.From.String() + " ")
	}
	if r.To.IsValid() {
		b.WriteString("to " + r.To.String() + " ")
	}
	if r.IIF != "" {
		b.WriteString("iif " + r.IIF + " ")
	}
	if r.OIF != "" {
		b.WriteString("oif " + r.OIF + " ")
	}
	if r.FWMark != 0 {
		fmt.Fprintf(&b, "fwmark %#x ", r.FWMark)
	}
	fmt.Fprintf(&b, "table %d", r.Table)
	return b.String()
}

// families are the address families r applies to: its prefixes', or both if it has none.
func (r Rule) families() ([]int, error) {
	var problems []string
	if r.Table == 0 {
		problems = append(problems, "no table to look up")
	}
	if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is4() != r.To.Addr().Is4() {
		problems = append(problems, "from and to are of different families")
	}
	if err := oneLine(problems); err != nil {
		return nil, err
	}
	for _, p := range []netip.Prefix{r.From, r.To} {
		if p.IsValid() {
			if p.Addr().Is4() {
				return []int{netlink.FAMILY_V4}, nil
			}
			return []int{netlink.FAMILY_V6}, nil
		}
	}
	return []int{netlink.FAMILY_V4, netlink.FAMILY_V6}, nil
}

// matches reports whether the kernel's rule k is r: every field equal, the priority too unless
// r leaves it to the kernel.
func (r Rule) matches(k netlink.Rule) bool {
	prefix := func(n *net.IPNet, p netip.Prefix) bool { return n.String() == ipNet(p).String() }
	return k.Table == int(r.Table) && k.IifName == r.IIF && k.OifName == r.OIF && k.Mark == r.FWMark &&
		prefix(k.Src, r.From) && prefix(k.Dst, r.To) && k.Goto < 0 &&
		(r.Priority == 0 || k.Priority == int(r.Priority))
}

func (r Rule) netlink(family int) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family, nr.Table = family, int(r.Table)
	nr.Src, nr.Dst = ipNet(r.From), ipNet(r.To)
	nr.IifName, nr.OifName, nr.Mark = r.IIF, r.OIF, r.FWMark
	if r.Priority != 0 {
		nr.Priority = int(r.Priority)
	}
	return nr
}

// AddRules adds every rule that is not there yet; a rule without From or To goes in for IPv4 and
// IPv6 both. Every rule that can be added is, and the error names each that could not.
func (m *Manager) AddRules(rs []Rule) error {
	return m.eachRule(rs, "add", func(r Rule, family int, have *[]netlink.Rule) error {
		for _, k := range *have {
			if r.matches(k) {
				return nil
			}
		}
		nr := r.netlink(family)
		if err := m.h.RuleAdd(nr); err != nil {
			return err
		}
		*have = append(*have, *nr) // so that the same rule again is not added twice
		return nil
	})
}

// RemoveRules deletes every rule, and any duplicates of it. A rule that is not there is not an
// error.
func (m *Manager) RemoveRules(rs []Rule) error {
	return m.eachRule(rs, "remove", func(r Rule, family int, have *[]netlink.Rule) error {
		for _, k := range *have {
			if !r.matches(k) {
				continue
			}
			del := r.netlink(family)
			del.Priority = k.Priority // this one, not another that matches r
			if err := m.h.RuleDel(del); err != nil && !errors.Is(err, unix.ENOENT) {
				return err
			}
		}
		return nil
	})
}

// eachRule calls do for each rule and family, with the rules of that family as they are.
func (m *Manager) eachRule(rs []Rule, verb string, do func(r Rule, family int, have *[]netlink.Rule) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	have := map[int][]netlink.Rule{}
	var errs []error
	for _, r := range rs {
		families, err := r.families()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s rule %s: %w", verb, r, err))
			continue
		}
		for _, f := range families {
			if _, ok := have[f]; !ok {
				list, err := m.h.RuleList(f)
				if err != nil {
					return errors.Join(append(errs, fmt.Errorf("list rules: %w", err))...)
				}
				have[f] = list
			}
			list := have[f]
			err := do(r, f, &list)
			have[f] = list
			if err != nil {
				errs = append(errs, fmt.Errorf("%s rule %s: %w", verb, r, err))
			}
		}
	}
	return errors.Join(errs...)
}
