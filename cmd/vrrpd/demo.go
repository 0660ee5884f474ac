package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/vrrp"
)

// The demo's LAN: the nginx pair and a client.
var (
	demoVIP    = netip.MustParseAddr("10.0.4.99")
	demoClient = netip.MustParsePrefix("10.0.4.10/24")
)

type demoNode struct {
	name string
	addr netip.Prefix
	prio uint8
	host *lab.Host
	dir  string
	cmd  *exec.Cmd
	log  *os.File
}

func (n *demoNode) socket() string { return filepath.Join(n.dir, n.name+".sock") }

// cmdDemo is `vrrpd demo`: two real daemons in network namespaces share a VIP, and the master
// fails while a client pings the VIP. interval is their advert_interval; keep keeps their logs
// and configurations afterwards.
func cmdDemo(interval time.Duration, keep bool, stdout, stderr io.Writer) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "vrrpd demo needs root: it builds network namespaces (try: sudo vrrpd demo, or sudo go run ./cmd/vrrpd demo)")
		return 1
	}
	if _, err := exec.LookPath("ip"); err != nil {
		fmt.Fprintln(stderr, "vrrpd demo needs the ip command (iproute2) to build network namespaces")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d := &demo{out: stdout, interval: interval}
	err := d.run(ctx)
	d.cleanup(keep)
	if err != nil {
		fmt.Fprintln(stderr, "\ndemo failed:", err)
		for _, n := range d.nodes {
			if n.log != nil {
				fmt.Fprintf(stderr, "\n--- %s's log (%s):\n%s", n.name, n.log.Name(), tail(n.log.Name(), 20))
			}
		}
		return 1
	}
	return 0
}

type demo struct {
	out      io.Writer
	interval time.Duration
	lab      *lab.Lab
	dir      string
	nodes    []*demoNode
	client   *lab.Host
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if d.dir, err = os.MkdirTemp("", "vrrpd-demo-"); err != nil {
		return err
	}
	d.say("Building a LAN in network namespaces: a switch, lb1 (10.0.4.20), lb2 (10.0.4.21) and a client (10.0.4.10).")
	if d.lab, err = lab.New(lab.NewPrefix()); err != nil {
		return err
	}
	lb1 := &demoNode{name: "lb1", addr: netip.MustParsePrefix("10.0.4.20/24"), prio: 110, dir: d.dir}
	lb2 := &demoNode{name: "lb2", addr: netip.MustParsePrefix("10.0.4.21/24"), prio: 100, dir: d.dir}
	d.nodes = []*demoNode{lb1, lb2}
	for _, n := range d.nodes {
		if n.host, err = d.lab.AddHost(n.name, n.addr); err != nil {
			return err
		}
	}
	if d.client, err = d.lab.AddHost("client", demoClient); err != nil {
		return err
	}
	d.say("Starting vrrpd on both: VRRPv3, VIP %s, advert_interval %s, lb1 priority 110, lb2 priority 100.\n", demoVIP, d.interval)
	for _, n := range d.nodes {
		if err := d.start(n, exe); err != nil {
			return err
		}
	}
	if err := d.waitState(ctx, lb1, "MASTER", 10*d.interval+5*time.Second); err != nil {
		return err
	}
	if err := d.waitState(ctx, lb2, "BACKUP", 5*time.Second); err != nil {
		return err
	}
	d.status(lb1, lb2)

	if err := d.reach(); err != nil {
		return err
	}
	d.say("The client reaches %s. Its ARP entry says the VIP is at %s.\n", demoVIP, d.whoHas(lb1, lb2))

	// 1. Host loss.
	d.say("1. lb1 loses its link: its switch port goes down, as if the host died or the cable was pulled.")
	events, gap, err := d.measure(ctx, lb1, lb1.host.Unplug, func() error {
		return d.waitState(ctx, lb2, "MASTER", 10*d.interval+5*time.Second)
	})
	if err != nil {
		return err
	}
	d.report(events, lb1, lb2, "last advertisement", vrrp.MasterDownInterval(vrrp.V3, lb2.prio, d.interval), "Master_Down_Interval")
	d.say("   The client could not reach the VIP for %s (longest gap between ping replies).", gap)
	d.say("   Its ARP entry now says %s.\n", d.whoHas(lb1, lb2))
	d.status(lb2)

	// 2. lb1 comes back and preempts.
	d.say("2. lb1's link comes back. Its priority 110 beats lb2's 100, so it preempts.")
	if err := lb1.host.Plug(); err != nil {
		return err
	}
	if err := d.waitState(ctx, lb1, "MASTER", 10*d.interval+5*time.Second); err != nil {
		return err
	}
	if err := d.waitState(ctx, lb2, "BACKUP", 5*time.Second); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	d.say("   lb1 is master again. The client's ARP entry says %s.\n", d.whoHas(lb1, lb2))

	// 3. Graceful stop.
	d.say("3. lb1 is stopped cleanly (SIGTERM). It sends priority 0, so lb2 waits only Skew_Time.")
	stopLB1 := func() error {
		lb1.cmd.Process.Signal(syscall.SIGTERM)
		err := lb1.cmd.Wait()
		lb1.cmd = nil
		if err != nil {
			return fmt.Errorf("lb1 did not stop cleanly: %w", err)
		}
		return nil
	}
	events, gap, err = d.measure(ctx, lb1, stopLB1, func() error { return d.waitState(ctx, lb2, "MASTER", 5*time.Second) })
	if err != nil {
		return err
	}
	d.report(events, lb1, lb2, "priority-0 advertisement", vrrp.SkewTime(vrrp.V3, lb2.prio, d.interval), "Skew_Time")
	d.say("   The client could not reach the VIP for %s.\n", gap)
	d.status(lb2)
	d.say("Done. Cleaning up the namespaces.")
	return nil
}

// start runs vrrpd in n's namespace.
func (d *demo) start(n *demoNode, exe string) error {
	conf := filepath.Join(d.dir, n.name+".toml")
	text := fmt.Sprintf(`[global]
router_id = %q
socket = %q

[[instance]]
name = "VI_1"
interface = "eth0"
vrid = 51
priority = %d
advert_interval = %q
vips = ["%s/24"]
`, n.name, n.socket(), n.prio, d.interval, demoVIP)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(d.dir, n.name+".log"))
	if err != nil {
		return err
	}
	n.log = log
	n.cmd = n.host.Command(context.Background(), exe, "run", "--config", conf)
	n.cmd.Stdout, n.cmd.Stderr = log, log
	return n.cmd.Start()
}

// waitState polls n's status until its instance is in state want.
func (d *demo) waitState(ctx context.Context, n *demoNode, want string, within time.Duration) error {
	deadline := time.Now().Add(within)
	last := "no answer"
	for {
		if resp, err := askDaemon(n.socket(), request{Command: "status"}); err == nil && len(resp.Status.Instances) > 0 {
			in := resp.Status.Instances[0]
			if in.State == want {
				return nil
			}
			last = in.State + ": " + in.Reason
		} else if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not %s after %s (%s)", n.name, want, within, last)
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *demo) status(nodes ...*demoNode) {
	for _, n := range nodes {
		resp, err := askDaemon(n.socket(), request{Command: "status"})
		if err != nil {
			d.say("%s: %v", n.name, err)
			continue
		}
		d.say("$ vrrpd status   # on %s", n.name)
		writeTable(d.out, resp.Status, time.Now())
		d.say("")
	}
}

// whoHas names the host whose MAC the client's ARP entry for the VIP holds.
func (d *demo) whoHas(nodes ...*demoNode) string {
	mac, err := d.client.Neighbor(demoVIP)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, n := range nodes {
		if bytes.Equal(mac, n.host.MAC) {
			return fmt.Sprintf("%s (%s)", n.name, mac)
		}
	}
	return mac.String()
}

// report prints the failover as the wire saw it: from the old master's last advertisement to
// the new master's first gratuitous ARP, beside the RFC's ideal.
func (d *demo) report(events []lab.Event, from, to *demoNode, what string, ideal time.Duration, idealName string) {
	took, ok := lab.Takeover(events,
		func(e lab.Event) bool { return e.Kind == lab.VRRP && e.IP == from.addr.Addr() },
		func(e lab.Event) bool {
			return e.Kind == lab.GARP && e.IP == demoVIP && bytes.Equal(e.MAC, to.host.MAC)
		})
	if !ok {
		d.say("   %s took over (the capture missed the packets to time it).", to.name)
		return
	}
	d.say("   %s took over. On the wire, from %s's %s to %s's first gratuitous ARP: %s (RFC ideal, %s: %s).",
		to.name, from.name, what, to.name, took.Round(100*time.Microsecond), idealName, ideal)
}

// reach waits until the client gets an answer from the VIP.
func (d *demo) reach() error {
	ping, err := d.ping()
	if err == nil {
		ping.Stop()
	}
	return err
}

// ping has the client ping the VIP every 10ms, and returns once the VIP answers.
func (d *demo) ping() (*lab.Pinger, error) {
	ping, err := lab.StartPinger(d.client, demoVIP, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		ping.Stop()
		return nil, fmt.Errorf("the client cannot reach the VIP: %w", err)
	}
	return ping, nil
}

// measure fails the master while the client pings the VIP every 10ms and captures its wire,
// waits until takeover says the new master has taken over and the client hears the VIP again,
// and returns what the wire saw and the longest gap between ping replies.
func (d *demo) measure(ctx context.Context, master *demoNode, fail, takeover func() error) ([]lab.Event, time.Duration, error) {
	ping, err := d.ping()
	if err != nil {
		return nil, 0, err
	}
	defer ping.Stop()
	capture, err := lab.StartCapture(d.client)
	if err != nil {
		return nil, 0, err
	}
	defer capture.Close()
	// Time from the master's last advert: wait until the capture has one.
	heard := func(es []lab.Event) bool {
		return slices.ContainsFunc(es, func(e lab.Event) bool { return e.Kind == lab.VRRP && e.IP == master.addr.Addr() })
	}
	if _, err := capture.Wait(3*d.interval+time.Second, heard); err != nil {
		return nil, 0, fmt.Errorf("no advertisement from %s on the wire: %w", master.name, err)
	}
	if err := fail(); err != nil {
		return nil, 0, err
	}
	if err := takeover(); err != nil {
		return nil, 0, err
	}
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		return nil, 0, fmt.Errorf("the client does not reach the VIP after the failover: %w", err)
	}
	time.Sleep(100 * time.Millisecond)
	return capture.Events(), ping.Stop().MaxGap.Round(time.Millisecond), nil
}

func (d *demo) cleanup(keep bool) {
	for _, n := range d.nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			n.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				n.cmd.Process.Kill()
				<-done
			}
		}
		if n.log != nil {
			n.log.Close()
		}
	}
	if d.lab != nil {
		d.lab.Close()
	}
	if d.dir != "" {
		if keep {
			d.say("Logs and configs kept in %s", d.dir)
		} else {
			os.RemoveAll(d.dir)
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}
