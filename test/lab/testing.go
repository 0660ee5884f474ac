package lab

import (
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips t unless it runs as root with iproute2's ip on PATH. With
// VRRPD_REQUIRE_E2E=1 (as CI sets) it fails instead, so a green run never hides a
// skipped namespace test.
func RequireRoot(t testing.TB) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root: creates network namespaces, veth pairs and a bridge"
	} else if _, err := exec.LookPath("ip"); err != nil {
		reason = "needs iproute2's ip on PATH: " + err.Error()
	}
	if reason == "" {
		return
	}
	if os.Getenv("VRRPD_REQUIRE_E2E") == "1" {
		t.Fatal(reason + " (VRRPD_REQUIRE_E2E=1 turns this skip into a failure)")
	}
	t.Skip(reason)
}

// ForTest returns a fresh lab with a unique prefix, removed when t ends. It calls
// RequireRoot first.
func ForTest(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	l, err := New(NewPrefix())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
	})
	return l
}

// MustHost adds a host with addresses written as prefixes ("10.0.0.1/24"), failing t
// on error.
func MustHost(t testing.TB, l *Lab, name string, addrs ...string) *Host {
	t.Helper()
	var ps []netip.Prefix
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	h, err := l.AddHost(name, ps...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
