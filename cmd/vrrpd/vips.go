package main

import (
	"log/slog"
	"time"

	"github.com/vrrpd/vrrpd/vip"
)

// probeWait is how long a probe for duplicate VIPs listens for answers.
const probeWait = 200 * time.Millisecond

// prober asks, with ARP probes and IPv6 duplicate address detection, who else answers for a
// master's addresses.
func prober(m *vip.Manager, log *slog.Logger) func([]vip.Addr) []vip.Duplicate {
	return func(addrs []vip.Addr) []vip.Duplicate {
		found, err := m.Probe(addrs, probeWait)
		if err != nil {
			log.Warn("probing for duplicate VIPs failed", "err", err)
		}
		return found
	}
}
