package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// Duplicate is another host that answers for one of our VIPs.
type Duplicate struct {
	VIP netip.Addr
	MAC net.HardwareAddr
}

// Probe asks the LAN who else answers for the IPv4 VIPs, and listens for wait. It sends ARP
// probes (RFC 5227 §2.1.1: sender IP 0.0.0.0, so that no host's cache changes), and returns every
// host other than this interface that answered, or that sent ARP from one of the VIPs: after a
// failover, a host that still holds the VIP, such as one whose daemon was killed. IPv6 VIPs are
// not probed.
func (m *Manager) Probe(ifname string, vips []netip.Prefix, wait time.Duration) ([]Duplicate, error) {
	var targets []netip.Addr
	for _, v := range vips {
		if v.Addr().Is4() {
			targets = append(targets, v.Addr())
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	m.mu.Lock()
	link, err := m.link(ifname)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	attrs := link.Attrs()
	if len(attrs.HardwareAddr) != 6 {
		return nil, fmt.Errorf("probe on %s: %w", ifname, ErrNotEthernet)
	}
	c, err := listenARP(attrs, nil)
	if err != nil {
		return nil, fmt.Errorf("open ARP socket on %s: %w", ifname, err)
	}
	defer c.Close()
	for _, ip := range targets {
		frame, err := probeFrame(attrs.HardwareAddr, ip)
		if err != nil {
			return nil, err
		}
		if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: broadcast}); err != nil {
			return nil, fmt.Errorf("send ARP probe for %s on %s: %w", ip, ifname, err)
		}
	}
	var dups []Duplicate
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 128)
	for {
		n, _, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return dups, nil
		}
		if err != nil {
			return dups, fmt.Errorf("read ARP on %s: %w", ifname, err)
		}
		var p arp.Packet
		if n < 14 || binary.BigEndian.Uint16(buf[12:14]) != uint16(ethernet.EtherTypeARP) || p.UnmarshalBinary(buf[14:n]) != nil {
			continue
		}
		if !slices.Contains(targets, p.SenderIP) || slices.Equal(p.SenderHardwareAddr, attrs.HardwareAddr) {
			continue
		}
		d := Duplicate{VIP: p.SenderIP, MAC: slices.Clone(p.SenderHardwareAddr)}
		if !slices.ContainsFunc(dups, func(o Duplicate) bool { return o.VIP == d.VIP && slices.Equal(o.MAC, d.MAC) }) {
			dups = append(dups, d)
		}
	}
}
