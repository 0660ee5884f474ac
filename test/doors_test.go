package test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/vrrp"
)

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// refusedDoc is `vrrpd status --json`'s refused.
type refusedDoc struct {
	Refused struct {
		Control map[string]uint64 `json:"control"`
		Metrics map[string]uint64 `json:"metrics"`
	} `json:"refused"`
}

func (d *daemon) refused(t *testing.T) refusedDoc {
	t.Helper()
	out, err := exec.Command(vrrpdBin, "status", "--json", "--socket", d.socket()).Output()
	if err != nil {
		t.Fatalf("vrrpd status: %v", err)
	}
	var r refusedDoc
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// poller asks both daemons for their status every 200ms, as an operator or a monitor would, and
// records every time one did not answer (three tries within 5s: a burst of connections may close
// an attempt) and every time the pair did not have exactly lb1 as master.
type poller struct {
	mu       sync.Mutex
	polls    int
	problems []string
	stop     chan struct{}
	done     chan struct{}
}

func startPoller(t *testing.T, d1, d2 *daemon) *poller {
	p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	ask := func(d *daemon) (instance, error) {
		var err error
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var out []byte
			out, err = exec.CommandContext(ctx, vrrpdBin, "status", "--json", "--socket", d.socket()).Output()
			cancel()
			if err == nil {
				var s status
				if s, err = parseStatus(d.name, out); err == nil {
					if in, ok := s.instance("VI_1"); ok {
						return in, nil
					}
					err = fmt.Errorf("no VI_1")
				}
			}
		}
		return instance{}, err
	}
	go func() {
		defer close(p.done)
		for {
			i1, err1 := ask(d1)
			i2, err2 := ask(d2)
			p.mu.Lock()
			p.polls++
			switch {
			case err1 != nil || err2 != nil:
				p.problems = append(p.problems, fmt.Sprintf("%s: status did not answer: lb1 %v, lb2 %v", time.Now().Format("15:04:05.000"), err1, err2))
			case i1.State != "MASTER" || i2.State != "BACKUP":
				p.problems = append(p.problems, fmt.Sprintf("%s: lb1 %s, lb2 %s", time.Now().Format("15:04:05.000"), i1.State, i2.State))
			}
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { p.end() })
	return p
}

func (p *poller) end() (int, []string) {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polls, p.problems
}

// scrape gets /metrics from addr, from h's namespace: dialled on this goroutine, which an
// http.Client would not do.
func scrape(h *lab.Host, addr string) (string, error) {
	var body []byte
	err := h.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\n\r\n")
		body, err = io.ReadAll(c)
		return err
	})
	return string(body), err
}

// arpSpray sends gratuitous ARP replies for vip from n made-up MACs, from h's eth0, until stop.
func arpSpray(t *testing.T, h *lab.Host, vip netip.Addr, n int, stop <-chan struct{}) {
	t.Helper()
	var conn *packet.Conn
	var ifi *net.Interface
	err := h.Do(func() error {
		var err error
		if ifi, err = net.InterfaceByName("eth0"); err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, 0x0806, nil)
		return err
	})
	if err != nil {
		t.Fatalf("%s: packet socket: %v", h.Name, err)
	}
	go func() {
		defer conn.Close()
		bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		frame := make([]byte, 42)
		for {
			for i := range n {
				mac := net.HardwareAddr{0x02, 0xee, 0, 0, byte(i >> 8), byte(i)}
				copy(frame[0:], bcast)
				copy(frame[6:], mac)
				binary.BigEndian.PutUint16(frame[12:], 0x0806)
				binary.BigEndian.PutUint16(frame[14:], 1)      // htype Ethernet
				binary.BigEndian.PutUint16(frame[16:], 0x0800) // ptype IPv4
				frame[18], frame[19] = 6, 4
				binary.BigEndian.PutUint16(frame[20:], 2) // reply
				copy(frame[22:], mac)
				copy(frame[28:], vip.AsSlice())
				copy(frame[32:], bcast)
				copy(frame[38:], vip.AsSlice())
				conn.WriteTo(frame, &packet.Addr{HardwareAddr: bcast})
				if i%50 == 49 {
					time.Sleep(time.Millisecond)
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
}

// The local doors, attacked one after the other while a pair at 1s runs: the control socket
// (a 256 MiB request, 200 connections held open, clients that trickle a byte at a time), the
// metrics server from another host (100 connections held open), a flood of 10,000 priority-0
// adverts, ARP replies for a VIP from 400 MACs, reloads with a config nested 2000 deep and with
// VIPs no host can hold. Throughout, lb1 stays master and lb2 backup, `vrrpd status` answers,
// lb1's memory stays within a few MiB of its start, and each attack is refused, counted and
// logged once.
func TestHostileLocal(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	evil := n.client // another host on the LAN
	base := func(prio int, extra string) string {
		return configWith(n.lb1.Name, `metrics = "10.0.4.20:9650"`, shared(prio, "1s").with(extra))
	}
	d1 := startDaemon(t, n.lb1, base(110, ""))
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "1s")))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_1", "following lb1", 10*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	d1.logged(t, 5*time.Second, "metrics are served beyond loopback")
	before, _ := d1.instance("VI_1")
	peer, _ := d2.instance("VI_1")
	pid := d1.cmd.Process.Pid
	time.Sleep(time.Second)
	rss0 := rssKiB(t, pid)
	polls := startPoller(t, d1, d2)

	t.Run("a 256 MiB request", func(t *testing.T) {
		c, err := net.Dial("unix", d1.socket())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			chunk := []byte(`{"command": "status", "x": "` + strings.Repeat("a", 1<<20))
			for range 256 {
				if _, err := c.Write(chunk); err != nil {
					return // the daemon stopped reading, as it should
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		answer, _ := io.ReadAll(c)
		if !strings.Contains(string(answer), "bad request: request longer than 4096 bytes") {
			t.Errorf("answer %q", answer)
		}
	})

	t.Run("200 connections held open", func(t *testing.T) {
		var held []net.Conn
		for range 200 {
			c, err := net.Dial("unix", d1.socket())
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		time.Sleep(time.Second) // the poller asks meanwhile
		for _, c := range held {
			c.Close()
		}
		if r := d1.refused(t); r.Refused.Control["connections"] < 200-16 {
			t.Errorf("refused %v, want at least 184 connections", r.Refused.Control)
		}
	})

	t.Run("clients that trickle", func(t *testing.T) {
		var wg sync.WaitGroup
		var cut atomic.Int32
		for range 10 {
			wg.Go(func() {
				c, err := net.Dial("unix", d1.socket())
				if err != nil {
					return
				}
				defer c.Close()
				for range 20 { // 6s, three times the request timeout
					if _, err := c.Write([]byte(" ")); err != nil {
						cut.Add(1)
						return
					}
					time.Sleep(300 * time.Millisecond)
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(make([]byte, 1)); err != nil {
					cut.Add(1)
				}
			})
		}
		wg.Wait()
		if cut.Load() != 10 {
			t.Errorf("%d of 10 trickling clients were cut off", cut.Load())
		}
		if r := d1.refused(t); r.Refused.Control["timeout"] < 10 {
			t.Errorf("refused %v, want 10 timeouts", r.Refused.Control)
		}
	})

	t.Run("100 metrics connections from another host", func(t *testing.T) {
		var held []net.Conn
		err := evil.Do(func() error {
			for range 100 {
				c, err := net.Dial("tcp", "10.0.4.20:9650")
				if err != nil {
					return err
				}
				held = append(held, c)
			}
			return nil
		})
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		if err != nil {
			t.Fatal(err)
		}
		if body, err := scrape(evil, "10.0.4.20:9650"); err != nil || !strings.Contains(body, "vrrpd_instance_state") {
			t.Errorf("a scrape beside 100 held connections: %v\n%s", err, body)
		}
		if r := d1.refused(t); r.Refused.Metrics["connections"] < 100-8 {
			t.Errorf("refused %v, want at least 92 connections", r.Refused.Metrics)
		}
	})

	t.Run("10,000 priority-0 adverts", func(t *testing.T) {
		capt := startCapture(t, evil)
		raw := newRawSender(t, evil)
		src := netip.MustParseAddr("10.0.4.10")
		msg := advert(t, vrrp.Advertisement{Version: vrrp.V3, VRID: 51, Priority: 0, Interval: time.Second,
			Addresses: []netip.Addr{netip.MustParseAddr("10.0.4.99")}}, src, vrrp.MulticastV4)
		start := time.Now()
		for i := range 10000 {
			raw.send(t, src, vrrp.MulticastV4, 255, msg)
			if i%20 == 19 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		end := time.Now()
		var adverts int
		for _, e := range capt.Events() {
			if e.Kind == lab.VRRP && e.IP == netip.MustParseAddr("10.0.4.20") && !e.Time.Before(start) && !e.Time.After(end) {
				adverts++
			}
		}
		// Its schedule, one a second, and at most one answer per answerGap (1s).
		limit := 2*int(end.Sub(start)/time.Second) + 4
		t.Logf("lb1 sent %d adverts during the %s flood", adverts, end.Sub(start).Round(time.Millisecond))
		if adverts > limit {
			t.Errorf("lb1 sent %d adverts during the flood, want at most %d", adverts, limit)
		}
	})

	t.Run("ARP replies from 400 MACs", func(t *testing.T) {
		stop := make(chan struct{})
		spoofed := netip.MustParseAddr("10.0.4.98")
		arpSpray(t, evil, spoofed, 400, stop)
		defer close(stop)
		// A reload adds the VIP: the master announces it and probes who else answers.
		d1.reload(base(110, `vips_excluded = ["10.0.4.98/24"]`+"\n"))
		in := d1.waitFor(t, "VI_1", "a duplicate", 10*time.Second, func(in instance) bool { return len(in.Duplicates) > 0 })
		time.Sleep(12 * time.Second) // a second probe round (probeAgain)
		in, _ = d1.instance("VI_1")
		if len(in.Duplicates) != 1 || len(in.Duplicates[0].MACs) > 4 || in.Duplicates[0].Answered < 50 {
			t.Errorf("duplicates %+v, want one VIP, at most 4 MACs listed, and the number that answered", in.Duplicates)
		}
		if got := logLines(t, d1, "duplicate VIP 10.0.4.98"); got != 1 {
			t.Errorf("logged the duplicate %d times over two probe rounds, want once", got)
		}
		body, err := scrape(evil, "10.0.4.20:9650")
		if err != nil {
			t.Fatal(err)
		}
		if series := strings.Count(body, `vrrpd_duplicate_vip{`); series < 1 || series > 4 {
			t.Errorf("%d vrrpd_duplicate_vip series, want 1 to 4", series)
		}
		d1.reload(base(110, ""))
	})

	t.Run("configurations no one should write", func(t *testing.T) {
		deep := base(110, "x = "+strings.Repeat("{ a = ", 2000)+"1"+strings.Repeat(" }", 2000)+"\n")
		d1.reload(deep)
		d1.logged(t, 5*time.Second, "reload: invalid configuration", "nested 5 deep")
		d1.reload(configWith("lb1", `metrics = "10.0.4.20:9650"`,
			vr{name: "VI_1", vrid: 51, prio: 110, vips: []string{"255.255.255.255/32", "127.0.0.5/8"}}))
		d1.logged(t, 5*time.Second, "reload: invalid configuration", "255.255.255.255")
		d1.logged(t, 5*time.Second, "reload: invalid configuration", "127.0.0.5")
		d1.reload(base(110, ""))
	})

	polled, problems := polls.end()
	t.Logf("%d polls of both daemons", polled)
	for _, p := range problems {
		t.Error(p)
	}
	after, _ := d1.instance("VI_1")
	if after.State != "MASTER" || after.Since != before.Since {
		t.Errorf("lb1 is %s since %s, was MASTER since %s", after.State, after.Since, before.Since)
	}
	if p, _ := d2.instance("VI_1"); p.State != "BACKUP" || p.Since != peer.Since {
		t.Errorf("lb2 is %s since %s, was BACKUP since %s", p.State, p.Since, peer.Since)
	}
	growth := rssKiB(t, pid) - rss0
	limit := 8 << 10
	if raceEnabled {
		limit = 32 << 10 // the race detector's shadow memory
	}
	t.Logf("lb1's RSS: %d KiB at the start, %+d KiB after the attacks", rss0, growth)
	if growth > limit {
		t.Errorf("lb1's RSS grew by %d KiB, want at most %d", growth, limit)
	}
}
