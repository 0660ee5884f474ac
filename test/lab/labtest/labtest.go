// Package labtest has what tests need around package lab: skipping where no lab can be built
// (or failing, in CI), labs and hosts that are removed when the test ends, and checks for what a
// test leaves behind. It is apart from lab because the daemon's demo uses lab and must not link
// package testing.
package labtest

import (
	"net/netip"
	"os"
	"os/exec"
	"testing"

	"github.com/vrrpd/vrrpd/test/lab"
)

// Skip skips t for reason, or fails it instead with VRRPD_REQUIRE_E2E=1 (as CI sets), so that
// a green run never hides a skipped test.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("VRRPD_REQUIRE_E2E") == "1" {
		t.Fatal(reason + " (VRRPD_REQUIRE_E2E=1 turns this skip into a failure)")
	}
	t.Skip(reason)
}

// RequireRoot skips t (see Skip) unless it runs as root; why says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root: "+why)
	}
}

// RequireLab skips t (see Skip) unless it can build a lab: as root, with iproute2's ip on PATH.
func RequireLab(t testing.TB) {
	t.Helper()
	RequireRoot(t, "creates network namespaces, veth pairs and a bridge")
	if _, err := exec.LookPath("ip"); err != nil {
		Skip(t, "needs iproute2's ip on PATH: "+err.Error())
	}
}

// ForTest returns a fresh lab with a unique prefix, removed when t ends. It skips t (see Skip)
// where no lab can be built.
func ForTest(t testing.TB) *lab.Lab {
	t.Helper()
	RequireLab(t)
	l, err := lab.New(lab.NewPrefix())
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
func MustHost(t testing.TB, l *lab.Lab, name string, addrs ...string) *lab.Host {
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

// MustIP runs iproute2's ip with args in h's namespace, failing t with its output on error.
func MustIP(t testing.TB, h *lab.Host, args ...string) {
	t.Helper()
	if out, err := h.Command(t.Context(), append([]string{"ip"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}
