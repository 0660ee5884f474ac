package vip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// VMAC is a macvlan interface carrying the RFC's virtual router MAC address, for the VIPs of one
// virtual router (keepalived's use_vmac).
type VMAC struct {
	Name string // the macvlan's name, e.g. "vrrp.51"
	Base string // the interface it sits on
	VRID uint8  // 1 to 255
	IPv6 bool   // 00:00:5e:00:02:VRID instead of 00:00:5e:00:01:VRID (RFC 5798 §7.3)
}

// MAC is the virtual router MAC address: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID}
// for IPv6 (RFC 5798 §7.3).
func (v VMAC) MAC() net.HardwareAddr {
	family := byte(1)
	if v.IPv6 {
		family = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, family, v.VRID}
}

func (v VMAC) check() error {
	var problems []string
	if v.Name == "" || len(v.Name) >= unix.IFNAMSIZ || strings.ContainsAny(v.Name, "/ \t\n") || v.Name == "." || v.Name == ".." {
		problems = append(problems, fmt.Sprintf("name %q: not an interface name", v.Name))
	}
	if v.Base == "" || v.Base == v.Name {
		problems = append(problems, fmt.Sprintf("base %q: the macvlan needs another interface to sit on", v.Base))
	}
	if v.VRID == 0 {
		problems = append(problems, "VRID 0: virtual router IDs are 1 to 255 (RFC 5798 §5.2.3)")
	}
	return oneLine(problems)
}

// The sysctls a VMAC gets, as keepalived sets them (vrrp_if_config.c), each for its reason.
var vmacSysctls = []struct{ key, value string }{
	// Answer ARP only for the addresses on the VMAC itself, never for the base's.
	{"ipv4/conf/%s/arp_ignore", "1"},
	// Accept packets from one of our own addresses: a peer's adverts from our VIP, say.
	{"ipv4/conf/%s/accept_local", "1"},
	// Receive on the VMAC although replies to a packet's source would leave by the base.
	{"ipv4/conf/%s/rp_filter", "0"},
	// Removing the first VIP of a subnet must not take the others with it.
	{"ipv4/conf/%s/promote_secondaries", "1"},
}

// The sysctls the base of a VMAC gets, put back when its last VMAC goes: with arp_ignore 0 the
// base would answer ARP for the VIPs on the VMAC with its own MAC, undoing the virtual one, and
// with arp_filter 1 it answers only where it would route its reply to the asker itself.
var baseSysctls = []struct{ key, value string }{
	{"ipv4/conf/%s/arp_ignore", "1"},
	{"ipv4/conf/%s/arp_filter", "1"},
}

// baseARP is a VMAC base's sysctls as they were before its first VMAC, and its VMACs.
type baseARP struct {
	before []string // values of baseSysctls, in order
	vmacs  map[string]bool
}

// EnsureVMAC makes v exist and returns its index: a macvlan in private mode on v.Base (it hears
// only frames for its own MAC, not its siblings'), with the virtual MAC, its sysctls set, up. For
// IPv6 it has no address made from the virtual MAC, which every router of the VRID would share
// (RFC 5798 §7.4), but the link-local address keepalived gives it: the base's, or one made from
// the base's MAC, added without duplicate address detection.
//
// An interface of that name with the right base, mode and MAC is reused, such as one left behind
// by a daemon that was killed; another macvlan of that name is deleted and made again; any other
// interface of that name is an error and left alone.
//
// The macvlan is made through netlink, in the Manager's namespace; the sysctls are written
// through /proc/sys as the calling thread sees it (see the package documentation).
func (m *Manager) EnsureVMAC(v VMAC) (index int, err error) {
	if err := v.check(); err != nil {
		return 0, fmt.Errorf("vmac %s: %w", v.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) (int, error) { return 0, fmt.Errorf("vmac %s on %s: %w", v.Name, v.Base, err) }
	base, err := m.h.LinkByName(v.Base)
	if err != nil {
		return fail(notFound(v.Base, err))
	}
	mac := v.MAC()
	link, err := m.h.LinkByName(v.Name)
	switch {
	case err == nil && reusable(link, base.Attrs().Index, mac):
		m.log.Debug("vmac reused", "vmac", v.Name, "base", v.Base, "index", link.Attrs().Index)
	case err == nil:
		if _, ok := link.(*netlink.Macvlan); !ok {
			return fail(fmt.Errorf("%s exists and is a %s, not a macvlan: left alone", v.Name, link.Type()))
		}
		m.log.Info("vmac replaced: it had another base, mode or MAC", "vmac", v.Name, "base", v.Base)
		if err := m.h.LinkDel(link); err != nil {
			return fail(fmt.Errorf("delete the old %s: %w", v.Name, err))
		}
		m.forgetLocked(link.Attrs().Index, v.Name)
		link = nil
	case !errors.As(err, new(netlink.LinkNotFoundError)):
		return fail(err)
	}
	if link == nil {
		mv := &netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: base.Attrs().Index, HardwareAddr: mac},
			Mode:      netlink.MACVLAN_MODE_PRIVATE,
		}
		if err := m.h.LinkAdd(mv); err != nil {
			return fail(fmt.Errorf("create the macvlan: %w", err))
		}
		if link, err = m.h.LinkByName(v.Name); err != nil {
			return fail(err)
		}
		m.forgetLocked(link.Attrs().Index, v.Name)
		m.log.Info("vmac created", "vmac", v.Name, "base", v.Base, "mac", mac.String(), "index", link.Attrs().Index)
	}
	// Before it is up: no link-local address from the shared virtual MAC (RFC 5798 §7.4).
	if err := m.h.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		if v.IPv6 {
			return fail(fmt.Errorf("turn off IPv6 address generation: %w", err))
		}
		m.log.Debug("vmac: cannot turn off IPv6 address generation", "vmac", v.Name, "err", err) // no IPv6 here
	}
	var errs []error
	for _, s := range vmacSysctls {
		errs = append(errs, writeSysctl(fmt.Sprintf(s.key, v.Name), s.value))
	}
	errs = append(errs, m.holdBase(v.Base, v.Name))
	if v.IPv6 {
		errs = append(errs, m.vmacLinkLocal(link, base))
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	if err := m.h.LinkSetUp(link); err != nil {
		return fail(fmt.Errorf("set it up: %w", err))
	}
	return link.Attrs().Index, nil
}

// reusable reports whether link is the macvlan a VMAC wants.
func reusable(link netlink.Link, base int, mac net.HardwareAddr) bool {
	mv, ok := link.(*netlink.Macvlan)
	return ok && mv.ParentIndex == base && mv.Mode == netlink.MACVLAN_MODE_PRIVATE && bytes.Equal(mv.HardwareAddr, mac)
}

// vmacLinkLocal gives the VMAC the link-local address keepalived does (vrrp_vmac.c): the base's
// own, or else one made from the base's MAC, so that adverts go from this router's address.
func (m *Manager) vmacLinkLocal(link, base netlink.Link) error {
	ll, err := m.linkLocal(base)
	if err != nil {
		return fmt.Errorf("base %s: %w", base.Attrs().Name, err)
	}
	if !ll.IsValid() {
		if ll, err = eui64LinkLocal(base.Attrs().HardwareAddr); err != nil {
			return fmt.Errorf("base %s: %w", base.Attrs().Name, err)
		}
	}
	a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ll, 64)), Flags: unix.IFA_F_NODAD}
	if err := m.h.AddrReplace(link, a); err != nil {
		return fmt.Errorf("add link-local %s: %w", ll, err)
	}
	return nil
}

// eui64LinkLocal is the link-local address made from a MAC (RFC 4291 appendix A): fe80::, then
// the MAC with ff:fe in its middle and the universal/local bit flipped.
func eui64LinkLocal(mac net.HardwareAddr) (netip.Addr, error) {
	if len(mac) != 6 {
		return netip.Addr{}, ErrNotEthernet
	}
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}), nil
}

// holdBase sets the base's sysctls for its first VMAC, keeping what they were. m.mu must be held.
func (m *Manager) holdBase(base, vmac string) error {
	b := m.bases[base]
	if b == nil {
		b = &baseARP{vmacs: map[string]bool{}}
		var errs []error
		for _, s := range baseSysctls {
			old, err := os.ReadFile(path.Join("/proc/sys/net", fmt.Sprintf(s.key, base)))
			errs = append(errs, err)
			b.before = append(b.before, string(bytes.TrimSpace(old)))
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("base %s: %w", base, err)
		}
		m.bases[base] = b
	}
	b.vmacs[vmac] = true
	var errs []error
	for _, s := range baseSysctls {
		errs = append(errs, writeSysctl(fmt.Sprintf(s.key, base), s.value))
	}
	return errors.Join(errs...)
}

// releaseBase puts the base's sysctls back once its last VMAC is gone. m.mu must be held.
func (m *Manager) releaseBase(vmac string) error {
	for name, b := range m.bases {
		if !b.vmacs[vmac] {
			continue
		}
		delete(b.vmacs, vmac)
		if len(b.vmacs) > 0 {
			return nil
		}
		delete(m.bases, name)
		var errs []error
		for i, s := range baseSysctls {
			errs = append(errs, writeSysctl(fmt.Sprintf(s.key, name), b.before[i]))
		}
		return errors.Join(errs...)
	}
	return nil
}

// RemoveVMAC deletes the VMAC of that name, and puts its base's sysctls back if it was the last
// VMAC this Manager made on it. A missing one is not an error; an interface of that name that is
// not a macvlan is, and is left alone.
func (m *Manager) RemoveVMAC(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	link, err := m.h.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return m.releaseBase(name)
	}
	if err != nil {
		return fmt.Errorf("remove vmac %s: %w", name, err)
	}
	if _, ok := link.(*netlink.Macvlan); !ok {
		return fmt.Errorf("remove vmac %s: it is a %s, not a macvlan: left alone", name, link.Type())
	}
	if err := m.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("remove vmac %s: %w", name, err)
	}
	m.forgetLocked(link.Attrs().Index, name)
	m.log.Info("vmac removed", "vmac", name)
	return m.releaseBase(name)
}

// writeSysctl writes a sysctl below /proc/sys/net, in the calling thread's namespace.
func writeSysctl(key, value string) error {
	if err := os.WriteFile(path.Join("/proc/sys/net", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl net/%s: %w", key, err)
	}
	return nil
}
