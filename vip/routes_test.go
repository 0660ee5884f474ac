package vip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// findRoutes returns the kernel's routes to r.To in r's table.
func findRoutes(t *testing.T, m *Manager, r Route) []netlink.Route {
	t.Helper()
	family := netlink.FAMILY_V4
	if r.To.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	table := int(r.Table)
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	list, err := m.h.RouteListFiltered(family, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Route
	for _, k := range list {
		if k.Dst != nil && prefixOf(k.Dst) == r.To {
			out = append(out, k)
		}
	}
	return out
}

// Routes go in with every field, again without error or a second copy, and come out, again
// without error.
func TestRoutes(t *testing.T) {
	_, _, m := twoHosts(t)
	link, err := m.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	eth0 := link.Attrs().Index
	routes := []Route{
		{To: netip.MustParsePrefix("10.9.0.0/16"), Via: netip.MustParseAddr("10.0.4.1"), Src: netip.MustParseAddr("10.0.4.20"), Dev: "eth0", Table: 100, Metric: 5},
		{To: netip.MustParsePrefix("10.8.0.0/16"), Dev: "eth0"},
		{To: netip.MustParsePrefix("10.6.0.0/16"), Dev: "eth0", Scope: "host", Table: 300},
		{To: netip.MustParsePrefix("fd09::/64"), Via: netip.MustParseAddr("fd00:4::1"), Dev: "eth0", Metric: 7},
		{To: netip.MustParsePrefix("10.7.0.0/16"), Type: "blackhole", Table: 100},
		{To: netip.MustParsePrefix("fd07::/64"), Type: "unreachable"},
	}
	// What the kernel holds for each: gateway, source, interface, table, metric, scope, type.
	type kernel struct {
		gw, src                 string
		dev, table, metric, typ int
		scope                   netlink.Scope
	}
	want := []kernel{
		{"10.0.4.1", "10.0.4.20", eth0, 100, 5, unix.RTN_UNICAST, netlink.SCOPE_UNIVERSE},
		{"<nil>", "<nil>", eth0, unix.RT_TABLE_MAIN, 0, unix.RTN_UNICAST, netlink.SCOPE_LINK},
		{"<nil>", "<nil>", eth0, 300, 0, unix.RTN_UNICAST, netlink.SCOPE_HOST},
		{"fd00:4::1", "<nil>", eth0, unix.RT_TABLE_MAIN, 7, unix.RTN_UNICAST, netlink.SCOPE_UNIVERSE},
		{"<nil>", "<nil>", 0, 100, 0, unix.RTN_BLACKHOLE, netlink.SCOPE_UNIVERSE},
		{"<nil>", "<nil>", 0, unix.RT_TABLE_MAIN, 1024, unix.RTN_UNREACHABLE, netlink.SCOPE_UNIVERSE},
	}
	for range 2 {
		if err := m.AddRoutes(routes); err != nil {
			t.Fatal(err)
		}
		for i, r := range routes {
			found := findRoutes(t, m, r)
			if len(found) != 1 {
				t.Errorf("%s: %d routes in the kernel, want 1: %v", r, len(found), found)
				continue
			}
			k := found[0]
			if k.Type == unix.RTN_UNREACHABLE {
				k.LinkIndex = 0 // IPv6 puts it on lo
			}
			got := kernel{k.Gw.String(), k.Src.String(), k.LinkIndex, k.Table, k.Priority, k.Type, k.Scope}
			if got != want[i] {
				t.Errorf("%s: the kernel has %+v, want %+v", r, got, want[i])
			}
		}
	}
	for range 2 {
		if err := m.RemoveRoutes(routes); err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if found := findRoutes(t, m, r); len(found) != 0 {
				t.Errorf("%s still there: %v", r, found)
			}
		}
	}
	// A route whose interface is gone went with it.
	if err := m.RemoveRoutes([]Route{{To: netip.MustParsePrefix("10.5.0.0/16"), Dev: "nosuch0"}}); err != nil {
		t.Errorf("RemoveRoutes on a missing interface: %v", err)
	}
}

// Every bad route is named, each with what is wrong with it, and the good ones still go in.
func TestRouteErrors(t *testing.T) {
	_, _, m := twoHosts(t)
	good := Route{To: netip.MustParsePrefix("10.9.0.0/16"), Dev: "eth0"}
	err := m.AddRoutes([]Route{
		{Dev: "eth0"},
		{To: netip.MustParsePrefix("10.9.1.0/24"), Via: netip.MustParseAddr("fd00::1")},
		{To: netip.MustParsePrefix("10.9.2.0/24"), Type: "blackhole", Via: netip.MustParseAddr("10.0.4.1")},
		{To: netip.MustParsePrefix("10.9.3.0/24"), Type: "nat", Dev: "eth0"},
		{To: netip.MustParsePrefix("10.9.4.0/24"), Scope: "planet", Dev: "eth0"},
		{To: netip.MustParsePrefix("10.9.5.0/24")},
		{To: netip.MustParsePrefix("10.9.6.0/24"), Dev: "nosuch0"},
		good,
	})
	for _, w := range []string{
		"add route invalid Prefix dev eth0: no destination",
		"add route 10.9.1.0/24 via fd00::1: via fd00::1 is not of the destination's family",
		"add route blackhole 10.9.2.0/24 via 10.0.4.1: a blackhole route goes to no gateway or interface",
		`add route nat 10.9.3.0/24 dev eth0: unknown type "nat"`,
		`add route 10.9.4.0/24 dev eth0 scope planet: unknown scope "planet"`,
		"add route 10.9.5.0/24: a unicast route needs a gateway (via) or an interface (dev)",
		"add route 10.9.6.0/24 dev nosuch0: no such interface: nosuch0",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("AddRoutes: %v\nwant it to say %q", err, w)
		}
	}
	if !errors.Is(err, ErrNoInterface) {
		t.Errorf("AddRoutes: %v, want ErrNoInterface among its errors", err)
	}
	if found := findRoutes(t, m, good); len(found) != 1 {
		t.Errorf("%s not added beside the bad ones", good)
	}
}

// findRules returns the kernel's rules that r matches, in family.
func findRules(t *testing.T, m *Manager, r Rule, family int) []netlink.Rule {
	t.Helper()
	list, err := m.h.RuleList(family)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Rule
	for _, k := range list {
		if k.Table == int(r.Table) {
			out = append(out, k)
		}
	}
	return out
}

// Rules go in with every field, once however often they are added, for both families when they
// name no address, and come out, again without error.
func TestRules(t *testing.T) {
	_, _, m := twoHosts(t)
	rules := []Rule{
		{From: netip.MustParsePrefix("10.0.4.99/32"), Table: 100},
		{From: netip.MustParsePrefix("10.0.4.98/32"), To: netip.MustParsePrefix("10.9.0.0/16"), IIF: "eth0", OIF: "lo", FWMark: 7, Table: 101, Priority: 1000},
		{To: netip.MustParsePrefix("fd09::/64"), Table: 102, Priority: 1001},
		{FWMark: 9, Table: 103},
	}
	type kernel struct {
		src, dst string
		iif, oif string
		mark     uint32
		priority int
	}
	for range 2 {
		if err := m.AddRules(rules); err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			families, _ := r.families()
			for _, f := range families {
				found := findRules(t, m, r, f)
				if len(found) != 1 {
					t.Errorf("%s (family %d): %d rules in the kernel, want 1: %v", r, f, len(found), found)
					continue
				}
				k := found[0]
				got := kernel{k.Src.String(), k.Dst.String(), k.IifName, k.OifName, k.Mark, k.Priority}
				want := kernel{ipNet(r.From).String(), ipNet(r.To).String(), r.IIF, r.OIF, r.FWMark, int(r.Priority)}
				if r.Priority == 0 {
					want.priority = k.Priority // the kernel's pick
				}
				if got != want {
					t.Errorf("%s: the kernel has %+v, want %+v", r, got, want)
				}
			}
		}
	}
	if n := len(findRules(t, m, rules[3], netlink.FAMILY_V6)); n != 1 {
		t.Errorf("%s: %d IPv6 rules, want 1: a rule without addresses is for both families", rules[3], n)
	}
	for range 2 {
		if err := m.RemoveRules(rules); err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			for _, f := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
				if found := findRules(t, m, r, f); len(found) != 0 {
					t.Errorf("%s still there: %v", r, found)
				}
			}
		}
	}

	err := m.AddRules([]Rule{
		{From: netip.MustParsePrefix("10.0.4.99/32")},
		{From: netip.MustParsePrefix("10.0.4.99/32"), To: netip.MustParsePrefix("fd00::/64"), Table: 5},
	})
	for _, w := range []string{
		"add rule from 10.0.4.99/32 table 0: no table to look up",
		"add rule from 10.0.4.99/32 to fd00::/64 table 5: from and to are of different families",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("AddRules: %v\nwant it to say %q", err, w)
		}
	}
}
