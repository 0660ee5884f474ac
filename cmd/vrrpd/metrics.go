package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vrrpd/vrrpd/vrrp"
)

// metrics serves Prometheus metrics on a registry of its own. It reads the driver's and the
// trackers' state at each scrape, so it keeps no state that could drift from them.
type metrics struct {
	driver *vrrp.Driver
	track  *tracking

	state, prio, effPrio, since                *prometheus.Desc
	sent, received, drops, sockDrops, trans    *prometheus.Desc
	garpBursts, garpPackets, sendErrors, check *prometheus.Desc
	duplicate                                  *prometheus.Desc
}

func newMetrics(driver *vrrp.Driver, track *tracking) *metrics {
	inst := []string{"instance", "interface", "vrid"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("vrrpd_"+name, help, labels, nil)
	}
	return &metrics{
		driver: driver, track: track,
		state:       d("instance_state", "1 for the state the instance is in (INIT, BACKUP, MASTER, FAULT), 0 for the others.", append(inst, "state")...),
		prio:        d("instance_priority", "Configured (base) priority.", inst...),
		effPrio:     d("instance_effective_priority", "Priority after trackers' weights.", inst...),
		since:       d("instance_last_transition_timestamp_seconds", "When the instance entered its current state.", inst...),
		sent:        d("adverts_sent_total", "VRRP advertisements sent.", inst...),
		received:    d("adverts_received_total", "Valid VRRP advertisements received.", inst...),
		drops:       d("drops_total", "Received packets dropped, by reason (RFC 5798 section 7.1).", append(inst, "reason")...),
		sockDrops:   d("socket_drops_total", "Packets dropped before an instance was known: too short, or an unknown VRID.", "interface", "family", "reason"),
		trans:       d("transitions_total", "State transitions, by the state entered.", append(inst, "to")...),
		garpBursts:  d("garp_bursts_total", "Gratuitous ARP / unsolicited NA bursts.", inst...),
		garpPackets: d("garp_packets_total", "Gratuitous ARP / unsolicited NA packets sent.", inst...),
		sendErrors:  d("send_errors_total", "Advertisements that could not be sent.", inst...),
		check:       d("check_up", "1 while a health check counts as up.", "check"),
		duplicate:   d("duplicate_vip", "1 for each other host that answered ARP for a VIP of this master at the last probe.", append(inst, "vip", "mac")...),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	is, ss, err := m.driver.Status()
	if err != nil {
		return
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for _, s := range is {
		c := s.Config
		l := []string{c.Name, c.Interface, strconv.Itoa(int(c.VRID))}
		for _, st := range []vrrp.State{vrrp.Initialize, vrrp.Backup, vrrp.Master, vrrp.Fault} {
			ch <- prometheus.MustNewConstMetric(m.state, gauge, b2f(s.State == st), append(l, st.String())...)
		}
		ch <- prometheus.MustNewConstMetric(m.prio, gauge, float64(c.Machine.Priority), l...)
		ch <- prometheus.MustNewConstMetric(m.effPrio, gauge, float64(s.Priority), l...)
		if !s.Since.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.since, gauge, float64(s.Since.UnixNano())/1e9, l...)
		}
		ch <- prometheus.MustNewConstMetric(m.sent, counter, float64(s.AdvertsSent), l...)
		ch <- prometheus.MustNewConstMetric(m.received, counter, float64(s.AdvertsReceived), l...)
		for r := vrrp.DropNone + 1; r < vrrp.NumDrops; r++ {
			if r != vrrp.DropVRID {
				ch <- prometheus.MustNewConstMetric(m.drops, counter, float64(s.Drops[r]), append(l, r.String())...)
			}
		}
		for _, st := range []vrrp.State{vrrp.Backup, vrrp.Master, vrrp.Fault, vrrp.Initialize} {
			ch <- prometheus.MustNewConstMetric(m.trans, counter, float64(s.Transitions[st]), append(l, stateName(st, true))...)
		}
		ch <- prometheus.MustNewConstMetric(m.garpBursts, counter, float64(s.Announces), l...)
		ch <- prometheus.MustNewConstMetric(m.garpPackets, counter, float64(s.Announced), l...)
		ch <- prometheus.MustNewConstMetric(m.sendErrors, counter, float64(s.SendErrors), l...)
		for _, dup := range s.Duplicates {
			ch <- prometheus.MustNewConstMetric(m.duplicate, gauge, 1, append(l, dup.VIP.String(), dup.MAC)...)
		}
	}
	for _, s := range ss {
		for r := vrrp.DropNone + 1; r < vrrp.NumDrops; r++ {
			ch <- prometheus.MustNewConstMetric(m.sockDrops, counter, float64(s.Drops[r]), s.Interface, family(s.IPv6), r.String())
		}
	}
	for name, up := range m.track.checkStates() {
		ch <- prometheus.MustNewConstMetric(m.check, gauge, b2f(up), name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveMetrics serves /metrics on addr until ctx is done. Nothing else listens on the network.
func serveMetrics(ctx context.Context, addr string, m *metrics, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	log.Info("serving Prometheus metrics", "address", ln.Addr().String())
	return nil
}
