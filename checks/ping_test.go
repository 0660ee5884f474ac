package checks

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// pingFrom runs one probe of c on h, inside its namespace, with the timeout.
func pingFrom(t *testing.T, h *lab.Host, c Checker, timeout time.Duration) error {
	t.Helper()
	var err error
	if nsErr := h.Do(func() error { err = probe(t.Context(), c, timeout); return nil }); nsErr != nil {
		t.Fatal(nsErr)
	}
	return err
}

// TestPing: a gateway that answers is up, over IPv4, IPv6 and IPv6 link-local; with its address
// gone the probe times out, and with it back it is up again.
func TestPing(t *testing.T) {
	labtest.LeakCheck(t)
	l := labtest.ForTest(t)
	gw := labtest.MustHost(t, l, "gw", "10.0.4.1/24", "fd00:4::1/64")
	h := labtest.MustHost(t, l, "lb1", "10.0.4.20/24", "fd00:4::20/64")
	ll, err := gw.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}

	for _, target := range []netip.Addr{netip.MustParseAddr("10.0.4.1"), netip.MustParseAddr("fd00:4::1"), ll.WithZone("eth0")} {
		if err := pingFrom(t, h, Ping(target), 2*time.Second); err != nil {
			t.Errorf("ping %s: %v, want nil", target, err)
		}
	}
	err = pingFrom(t, h, Ping(ll), 2*time.Second)
	if want := "cannot start check: ping " + ll.String() + ": a link-local address needs a zone"; !errors.Is(err, ErrCannotStart) || !strings.HasPrefix(errString(err), want) {
		t.Errorf("ping %s without a zone: %v, want an error starting %q", ll, err, want)
	}

	// One checker throughout, as Run uses it: each probe has its own sequence number.
	c := Ping(netip.MustParseAddr("10.0.4.1"))
	if err := pingFrom(t, h, c, 2*time.Second); err != nil {
		t.Fatalf("ping: %v, want nil", err)
	}
	labtest.MustIP(t, gw, "addr", "del", "10.0.4.1/24", "dev", "eth0")
	if err := pingFrom(t, h, c, 300*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("ping with the address gone: %v, want ErrTimeout", err)
	}
	labtest.MustIP(t, gw, "addr", "add", "10.0.4.1/24", "dev", "eth0")
	if err := pingFrom(t, h, c, 2*time.Second); err != nil {
		t.Errorf("ping with the address back: %v, want nil", err)
	}

	// A zone names an interface of the probe's namespace. The net package keeps one cache of
	// names for all of them: filled here from gw, where eth0 has the index lb1's eth0 had before
	// it was made again, it would send from lb1 through an interface that is gone.
	if err := h.Recreate(netip.MustParsePrefix("10.0.4.20/24")); err != nil {
		t.Fatal(err)
	}
	if err := gw.Do(func() error { _, err := net.InterfaceByName("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := pingFrom(t, h, Ping(ll.WithZone("eth0")), 2*time.Second); err != nil {
		t.Errorf("ping %s%%eth0 after eth0 was made again: %v, want nil", ll, err)
	}
}

// answer is one echo reply a responder sends: from src, with the request's fields changed by edit.
type answer struct {
	src  string
	edit func(*icmp.Echo)
}

// startResponder answers every echo request gw receives with the replies answers gives, from its
// own raw sockets; the kernel's own replies are turned off.
func startResponder(t *testing.T, gw *lab.Host, answers []answer) {
	t.Helper()
	var in *net.IPConn
	out := map[string]*net.IPConn{}
	err := gw.Do(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte("1"), 0); err != nil {
			return err
		}
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		in = c.(*net.IPConn)
		for _, a := range answers {
			if out[a.src] == nil {
				c, err := net.ListenPacket("ip4:icmp", a.src) // bound, so that it sends from src
				if err != nil {
					return err
				}
				out[a.src] = c.(*net.IPConn)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := in.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEcho {
				continue
			}
			for _, a := range answers {
				echo := *m.Body.(*icmp.Echo)
				if a.edit != nil {
					a.edit(&echo)
				}
				b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &echo}).Marshal(nil)
				_, _ = out[a.src].WriteTo(b, from)
			}
		}
	})
	t.Cleanup(func() {
		in.Close()
		for _, c := range out {
			c.Close()
		}
		wg.Wait()
	})
}

// TestPingMatching: only an echo reply from the target with the request's identifier, sequence
// number and data counts. The gateway's kernel is silent; a responder of the test's own answers.
func TestPingMatching(t *testing.T) {
	labtest.LeakCheck(t)
	const target, other = "10.0.4.1", "10.0.4.3"
	good := answer{src: target}
	for _, tt := range []struct {
		name    string
		answers []answer
		up      bool
	}{
		{"a true reply", []answer{good}, true},
		{"from another address", []answer{{src: other}}, false},
		{"another identifier", []answer{{src: target, edit: func(e *icmp.Echo) { e.ID ^= 1 }}}, false},
		{"another sequence number", []answer{{src: target, edit: func(e *icmp.Echo) { e.Seq++ }}}, false},
		{"other data", []answer{{src: target, edit: func(e *icmp.Echo) { e.Data = []byte("vrrpd check forged!!") }}}, false},
		{"false replies, then a true one", []answer{{src: other}, {src: target, edit: func(e *icmp.Echo) { e.ID++ }}, good}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := labtest.ForTest(t)
			gw := labtest.MustHost(t, l, "gw", target+"/24", other+"/24")
			h := labtest.MustHost(t, l, "lb1", "10.0.4.20/24")
			startResponder(t, gw, tt.answers)
			err := pingFrom(t, h, Ping(netip.MustParseAddr(target)), time.Second)
			if tt.up && err != nil {
				t.Errorf("ping: %v, want nil", err)
			}
			if !tt.up && !errors.Is(err, ErrTimeout) {
				t.Errorf("ping: %v, want ErrTimeout", err)
			}
		})
	}
}

// TestPingUnprivileged: where a raw socket is not permitted, the probe falls back to an
// unprivileged ICMP socket, which works where net.ipv4.ping_group_range includes the group. The
// probe's thread lacks CAP_NET_RAW for the test (capabilities are per thread).
func TestPingUnprivileged(t *testing.T) {
	labtest.LeakCheck(t)
	l := labtest.ForTest(t)
	labtest.MustHost(t, l, "gw", "10.0.4.1/24")
	h := labtest.MustHost(t, l, "lb1", "10.0.4.20/24")
	c := Ping(netip.MustParseAddr("10.0.4.1"))

	pingWithoutRaw := func(groups string) error {
		var err error
		nsErr := h.Do(func() error {
			if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte(groups), 0); err != nil {
				return err
			}
			// Locked once more: if the capability cannot be restored, the thread stays locked
			// and goes when the goroutine does.
			runtime.LockOSThread()
			restore, capErr := withoutCapability(unix.CAP_NET_RAW)
			if capErr != nil {
				runtime.UnlockOSThread()
				return capErr
			}
			defer func() {
				if restore() == nil {
					runtime.UnlockOSThread()
				}
			}()
			err = probe(t.Context(), c, 2*time.Second)
			return nil
		})
		if nsErr != nil {
			t.Fatal(nsErr)
		}
		return err
	}

	// The kernel's default range, "1 0", includes no group: neither socket can be had.
	err := pingWithoutRaw("1 0")
	want := "cannot start check: ping 10.0.4.1: raw socket: listen ip4:icmp 0.0.0.0: socket: operation not permitted; unprivileged ICMP socket: permission denied (net.ipv4.ping_group_range does not include group " + strconv.Itoa(os.Getegid()) + ")"
	if !errors.Is(err, ErrCannotStart) || errString(err) != want {
		t.Errorf("ping without CAP_NET_RAW or ping_group_range: %v\nwant ErrCannotStart: %s", err, want)
	}
	gid := os.Getegid()
	if err := pingWithoutRaw(strconv.Itoa(gid) + " " + strconv.Itoa(gid)); err != nil {
		t.Errorf("ping without CAP_NET_RAW, with ping_group_range: %v, want nil", err)
	}
}

// withoutCapability drops capability c from this thread's effective set; restore raises it again.
func withoutCapability(c int) (restore func() error, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, err
	}
	saved := data
	data[c/32].Effective &^= 1 << (c % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return nil, err
	}
	return func() error { return unix.Capset(&hdr, &saved[0]) }, nil
}
