package main

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/vrrp"
)

// The metrics are written by hand in Prometheus's text format (version 0.0.4), not through
// client_golang, which with protobuf would add to the resident memory of every daemon, metrics on
// or off, for a dozen families that are all read fresh at each scrape (the README says how much).
// The tests parse the output with Prometheus's own parser and lint it.

// processStart is when the process started, near enough: package initialisation.
var processStart = time.Now()

// The metrics server's bounds: a scrape is one small GET, and Prometheus scrapes every few
// seconds. Whoever asks more, or slower, is refused or cut off, never served at the protocol
// loop's expense.
const (
	metricsConns        = 8                // connections at once; one more closes the oldest
	metricsReadTimeout  = 5 * time.Second  // to send a request, its headers included
	metricsWriteTimeout = 10 * time.Second // to read the answer
	metricsIdleTimeout  = 30 * time.Second // a kept-alive connection between scrapes
	snapshotMaxAge      = time.Second      // a scrape reads the driver's state at most once a second
)

// metricsHandler serves /metrics from a snapshot of the driver's state at most snapshotMaxAge
// old, so that scrapes, however many, never queue on the protocol loop.
type metricsHandler struct {
	driver interface {
		Status() (*vrrp.Snapshot, error)
	} // *vrrp.Driver
	refused []*refusals // the doors', control socket and metrics

	mu   sync.Mutex // held while the snapshot is read, so that one scrape reads it for all
	snap *vrrp.Snapshot
	at   time.Time
}

func (m *metricsHandler) snapshot() (*vrrp.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.snap == nil || time.Since(m.at) >= snapshotMaxAge {
		snap, err := m.driver.Status()
		if err != nil {
			return nil, err
		}
		m.snap, m.at = snap, time.Now()
	}
	return m.snap, nil
}

func (m *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	snap, err := m.snapshot()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	// Written as it is made, never held whole.
	e := exposition{bufio.NewWriter(w)}
	e.vrrp(snap.Instances, snap.Sockets, snap.Checks)
	e.refusals(m.refused)
	e.process()
	_ = e.Flush()
}

// serveMetrics serves /metrics on addr until ctx is done. Nothing else listens on the network.
// An address beyond loopback is allowed, with a warning: anyone who reaches it reads the
// instances' names, addresses and states.
func serveMetrics(ctx context.Context, addr string, h http.Handler, refused *refusals, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if beyondLoopback(ln.Addr()) {
		log.Warn("metrics are served beyond loopback: anyone who can reach this address can read them; "+
			"set metrics = \"127.0.0.1:PORT\" unless a firewall keeps others out", "address", ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsReadTimeout,
		ReadTimeout:       metricsReadTimeout,
		WriteTimeout:      metricsWriteTimeout,
		IdleTimeout:       metricsIdleTimeout,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(&limitListener{Listener: ln, live: &connLimit{max: metricsConns}, refused: refused}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	log.Info("serving Prometheus metrics", "address", ln.Addr().String())
	return nil
}

// beyondLoopback reports whether a listening address can be reached from other hosts.
func beyondLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && !t.IP.IsLoopback()
}

// limitListener keeps at most live.max connections open: one more closes the oldest, counted.
type limitListener struct {
	net.Listener
	live    *connLimit
	refused *refusals
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if oldest := l.live.add(c); oldest != nil {
		l.refused.refuse("connections", "too many connections at once: closed the oldest", "limit", l.live.max)
		oldest.Close()
	}
	return &limitedConn{Conn: c, live: l.live}, nil
}

// limitedConn leaves its limit when it closes.
type limitedConn struct {
	net.Conn
	live *connLimit
}

func (c *limitedConn) Close() error {
	c.live.remove(c.Conn)
	return c.Conn.Close()
}

// exposition writes a scrape's body in Prometheus's text format. Each family is written whole, its
// HELP and TYPE first, as the format requires.
type exposition struct{ *bufio.Writer }

const (
	gauge   = "gauge"
	counter = "counter"
)

func (e *exposition) family(name, typ, help string) {
	e.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

// sample writes one series: labels are name, value pairs, written sorted by name.
func (e *exposition) sample(name string, v float64, labels ...string) {
	e.WriteString(name)
	if len(labels) > 0 {
		pairs := make([][2]string, 0, len(labels)/2)
		for i := 0; i+1 < len(labels); i += 2 {
			pairs = append(pairs, [2]string{labels[i], labels[i+1]})
		}
		slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		e.WriteByte('{')
		for i, p := range pairs {
			if i > 0 {
				e.WriteByte(',')
			}
			e.WriteString(p[0] + `="`)
			_, _ = labelEscaper.WriteString(e, p[1])
			e.WriteByte('"')
		}
		e.WriteByte('}')
	}
	e.WriteByte(' ')
	switch {
	case math.IsInf(v, 1):
		e.WriteString("+Inf")
	case math.IsInf(v, -1):
		e.WriteString("-Inf")
	default:
		e.WriteString(strconv.FormatFloat(v, 'g', -1, 64)) // NaN prints as the format's NaN
	}
	e.WriteByte('\n')
}

// labelEscaper escapes a label value as the text format asks: backslash, double quote, newline.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// vrrp writes the instances', sockets' and checks' families.
func (e *exposition) vrrp(is []vrrp.InstanceStatus, ss []vrrp.SocketStatus, checks map[string]bool) {
	inst := func(s vrrp.InstanceStatus, more ...string) []string {
		c := s.Config
		return append([]string{"instance", c.Name, "interface", c.Interface, "vrid", strconv.Itoa(int(c.VRID))}, more...)
	}
	perInstance := func(name, typ, help string, value func(vrrp.InstanceStatus) float64) {
		e.family(name, typ, help)
		for _, s := range is {
			e.sample(name, value(s), inst(s)...)
		}
	}

	e.family("vrrpd_instance_state", gauge, "1 for the state the instance is in (INIT, BACKUP, MASTER, FAULT), 0 for the others.")
	for _, s := range is {
		for _, st := range []vrrp.State{vrrp.Initialize, vrrp.Backup, vrrp.Master, vrrp.Fault} {
			e.sample("vrrpd_instance_state", b2f(s.State == st), inst(s, "state", st.String())...)
		}
	}
	perInstance("vrrpd_instance_priority", gauge, "Configured (base) priority.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.Config.Machine.Priority) })
	perInstance("vrrpd_instance_effective_priority", gauge, "Priority after trackers' weights.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.Priority) })
	perInstance("vrrpd_instance_drained", gauge, "1 while the operator has drained the instance (vrrpd drain).",
		func(s vrrp.InstanceStatus) float64 { return b2f(!s.Drained.IsZero()) })
	e.family("vrrpd_instance_last_transition_timestamp_seconds", gauge, "When the instance entered its current state.")
	for _, s := range is {
		if !s.Since.IsZero() {
			e.sample("vrrpd_instance_last_transition_timestamp_seconds", float64(s.Since.UnixNano())/1e9, inst(s)...)
		}
	}
	perInstance("vrrpd_adverts_sent_total", counter, "VRRP advertisements sent.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.AdvertsSent) })
	perInstance("vrrpd_adverts_received_total", counter, "Valid VRRP advertisements received.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.AdvertsReceived) })
	e.family("vrrpd_drops_total", counter, "Received packets dropped, by reason (RFC 5798 section 7.1).")
	for _, s := range is {
		for r := vrrp.DropNone + 1; r < vrrp.NumDrops; r++ {
			if r != vrrp.DropVRID {
				e.sample("vrrpd_drops_total", float64(s.Drops[r]), inst(s, "reason", r.String())...)
			}
		}
	}
	e.family("vrrpd_socket_drops_total", counter, "Packets dropped before an instance was known: too short, or an unknown VRID.")
	for _, s := range ss {
		for r := vrrp.DropNone + 1; r < vrrp.NumDrops; r++ {
			e.sample("vrrpd_socket_drops_total", float64(s.Drops[r]), "interface", s.Interface, "family", family(s.IPv6), "reason", r.String())
		}
	}
	e.family("vrrpd_transitions_total", counter, "State transitions, by the state entered.")
	for _, s := range is {
		for _, st := range []vrrp.State{vrrp.Backup, vrrp.Master, vrrp.Fault, vrrp.Initialize} {
			e.sample("vrrpd_transitions_total", float64(s.Transitions[st]), inst(s, "to", stateName(st, true))...)
		}
	}
	perInstance("vrrpd_garp_bursts_total", counter, "Gratuitous ARP / unsolicited NA bursts.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.Announces) })
	perInstance("vrrpd_garp_packets_total", counter, "Gratuitous ARP / unsolicited NA packets sent.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.Announced) })
	perInstance("vrrpd_send_errors_total", counter, "Advertisements that could not be sent.",
		func(s vrrp.InstanceStatus) float64 { return float64(s.SendErrors) })
	e.family("vrrpd_duplicate_vip", gauge, "1 for each other host that answered for a VIP of this master at the last probe (at most 4 listed per VIP).")
	for _, s := range is {
		for _, dup := range s.Duplicates {
			for _, mac := range dup.MACs {
				e.sample("vrrpd_duplicate_vip", 1, inst(s, "vip", dup.VIP.String(), "mac", mac.String())...)
			}
		}
	}
	e.family("vrrpd_duplicate_vip_answers", gauge, "How many other hosts (MACs) answered for a VIP of this master at the last probe.")
	for _, s := range is {
		for _, dup := range s.Duplicates {
			e.sample("vrrpd_duplicate_vip_answers", float64(dup.Seen), inst(s, "vip", dup.VIP.String())...)
		}
	}
	e.family("vrrpd_check_up", gauge, "1 while a health check counts as up.")
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e.sample("vrrpd_check_up", b2f(checks[name]), "check", name)
	}
}

// refusals writes what the daemon's doors refused, by door and reason.
func (e *exposition) refusals(doors []*refusals) {
	e.family("vrrpd_refused_total", counter, "Requests and connections the control socket and the metrics server refused, by reason.")
	for _, d := range doors {
		counts := d.counted()
		reasons := make([]string, 0, len(counts))
		for r := range counts {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			e.sample("vrrpd_refused_total", float64(counts[r]), "door", d.door, "reason", r)
		}
	}
}

// process writes the process's and the Go runtime's own families, under the names
// client_golang's collectors give them, so existing dashboards keep working. A value that
// cannot be read is left out.
func (e *exposition) process() {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		e.family("process_cpu_seconds_total", counter, "Total user and system CPU time spent in seconds.")
		e.sample("process_cpu_seconds_total", time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
	}
	// /proc/self/statm: the size and the resident set, in pages.
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			page := float64(os.Getpagesize())
			size, err1 := strconv.ParseFloat(f[0], 64)
			rss, err2 := strconv.ParseFloat(f[1], 64)
			if err1 == nil && err2 == nil {
				e.family("process_virtual_memory_bytes", gauge, "Virtual memory size in bytes.")
				e.sample("process_virtual_memory_bytes", size*page)
				e.family("process_resident_memory_bytes", gauge, "Resident memory size in bytes.")
				e.sample("process_resident_memory_bytes", rss*page)
			}
		}
	}
	e.family("process_start_time_seconds", gauge, "Start time of the process since unix epoch in seconds.")
	e.sample("process_start_time_seconds", float64(processStart.UnixNano())/1e9)
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		e.family("process_open_fds", gauge, "Number of open file descriptors.")
		e.sample("process_open_fds", float64(len(fds)-1)) // less the one reading the directory
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		e.family("process_max_fds", gauge, "Maximum number of open file descriptors.")
		e.sample("process_max_fds", float64(lim.Cur))
	}

	e.family("go_info", gauge, "Information about the Go environment.")
	e.sample("go_info", 1, "version", runtime.Version())
	e.family("go_goroutines", gauge, "Number of goroutines that currently exist.")
	e.sample("go_goroutines", float64(runtime.NumGoroutine()))
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	metrics.Read(s)
	e.family("go_memstats_heap_alloc_bytes", gauge, "Number of heap bytes allocated and still in use.")
	e.sample("go_memstats_heap_alloc_bytes", float64(s[0].Value.Uint64()))
	e.family("go_memstats_sys_bytes", gauge, "Number of bytes obtained from system.")
	e.sample("go_memstats_sys_bytes", float64(s[1].Value.Uint64()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
