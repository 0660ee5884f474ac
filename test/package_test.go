package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

const buildDeb = "../configs/package/build-deb"

// debPackage returns the package to test: $VRRPD_DEB, which CI sets to the one it built and
// linted, or else one built here by configs/package/build-deb.
func debPackage(t *testing.T) string {
	t.Helper()
	if deb := os.Getenv("VRRPD_DEB"); deb != "" {
		return deb
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		labtest.Skip(t, "needs dpkg-deb to build the package")
	}
	out, err := exec.CommandContext(t.Context(), buildDeb, t.TempDir()).Output()
	if err != nil {
		t.Fatalf("build-deb: %v\n%s", err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// TestPackage installs the .deb into a throwaway root with dpkg, as Debian installs into another
// root: dpkg --root, with its maintainer scripts run outside a chroot, given DPKG_ROOT, which
// deb-systemd-helper honours and the scripts check before they touch systemd. Then, from that
// root: `vrrpd version` prints the package's version, `vrrpd check --offline` passes the shipped
// example pair, the unit is enabled and points at /usr/sbin/vrrpd, `man vrrpd.toml` finds its
// page, and bash loads the completion. Purging removes it all, and the enablement with it.
func TestPackage(t *testing.T) {
	labtest.RequireRoot(t, "dpkg installs into a throwaway root as root")
	for _, cmd := range []string{"dpkg", "dpkg-deb", "chroot"} {
		if _, err := exec.LookPath(cmd); err != nil {
			labtest.Skip(t, "needs "+cmd+" to install the package")
		}
	}
	deb := debPackage(t)
	version, err := exec.Command("dpkg-deb", "--field", deb, "Version").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkg := func(args ...string) {
		t.Helper()
		args = append([]string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null"}, args...)
		if out, err := exec.CommandContext(t.Context(), "dpkg", args...).CombinedOutput(); err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	in := func(name ...string) string { return filepath.Join(append([]string{root}, name...)...) }
	dpkg("--install", deb)

	// From the root, as a host that installed it would run it.
	out, err := exec.Command("chroot", root, "/usr/sbin/vrrpd", "version").Output()
	want := regexp.MustCompile(`^vrrpd ` + regexp.QuoteMeta(strings.TrimSpace(string(version))) + `( \(rev [0-9a-f]{12}(\+dirty)?\))?\n$`)
	if err != nil || !want.Match(out) {
		t.Errorf("vrrpd version: %v, %q; want %s", err, out, want)
	}
	out, err = exec.Command("chroot", root, "/usr/sbin/vrrpd", "check", "--offline",
		"/usr/share/doc/vrrpd/examples/lb1.toml", "/usr/share/doc/vrrpd/examples/lb2.toml").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("work together as the hosts of one LAN")) {
		t.Errorf("vrrpd check --offline on the examples: %v\n%s", err, out)
	}

	unit, err := os.ReadFile(in("usr/lib/systemd/system/vrrpd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ExecStart=/usr/sbin/vrrpd run", "ExecReload=/usr/sbin/vrrpd check", "Type=notify",
		"ConditionPathExists=/etc/vrrpd/vrrpd.toml", "Documentation=man:vrrpd(8) man:vrrpd.toml(5)"} {
		if !bytes.Contains(unit, []byte("\n"+line)) {
			t.Errorf("the installed unit lacks %q", line)
		}
	}
	if bytes.Contains(unit, []byte("/usr/local/")) {
		t.Errorf("the installed unit still names /usr/local")
	}
	wants := in("etc/systemd/system/multi-user.target.wants/vrrpd.service")
	if target, err := os.Readlink(wants); err != nil || target != "/usr/lib/systemd/system/vrrpd.service" {
		t.Errorf("the unit is not enabled as Debian enables it: %s -> %q, %v", wants, target, err)
	}

	for _, f := range []string{"usr/share/man/man8/vrrpd.8.gz", "usr/share/man/man5/vrrpd.toml.5.gz",
		"usr/share/bash-completion/completions/vrrpd", "usr/share/zsh/vendor-completions/_vrrpd",
		"usr/share/fish/vendor_completions.d/vrrpd.fish", "usr/share/doc/vrrpd/copyright",
		"usr/share/doc/vrrpd/examples/lb1.toml", "usr/share/doc/vrrpd/examples/lb2.toml", "usr/share/doc/vrrpd/examples/notify.sh", "usr/share/doc/vrrpd/examples/cloud-hook.sh"} {
		if _, err := os.Stat(in(f)); err != nil {
			t.Errorf("the package lacks /%s: %v", f, err)
		}
	}
	if _, err := exec.LookPath("man"); err == nil {
		cmd := exec.Command("man", "-w", "vrrpd.toml")
		cmd.Env = append(os.Environ(), "MANPATH="+in("usr/share/man"))
		if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != in("usr/share/man/man5/vrrpd.toml.5.gz") {
			t.Errorf("man -w vrrpd.toml: %v, %q", err, out)
		}
	}
	out, err = exec.Command("bash", "--norc", "-c", `source "$1" && complete -p vrrpd`, "bash", in("usr/share/bash-completion/completions/vrrpd")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "complete -F _vrrpd vrrpd" {
		t.Errorf("bash completion: %v, %q", err, out)
	}

	dpkg("--purge", "vrrpd")
	var left []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(path, in("var/lib/dpkg")) {
			left = append(left, path)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left after purge: %s", strings.Join(left, ", "))
	}
}

// build-deb takes the version from $VERSION, else from the newest v* tag (git describe), else
// from the commit: each in a clone of this checkout, where tags are made freely.
func TestPackageVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		labtest.Skip(t, "needs git")
	}
	if err := exec.Command("git", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	clone := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", clone, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		cmd.Env = append(os.Environ(), "TZ=UTC") // build-deb dates the commit in UTC
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "clone", "--quiet", "--no-tags", "..", clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	// The clone holds the committed build-deb; test this checkout's.
	script, err := os.ReadFile(buildDeb)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(clone, "configs/package"), 0o755)
	if err := os.WriteFile(filepath.Join(clone, "configs/package/build-deb"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	printVersion := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(clone, "configs/package/build-deb"), "--print-version")
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "VERSION=") }), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("build-deb --print-version %v: %v\n%s", env, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	rev := git("rev-parse", "--short=7", "HEAD")
	date := git("log", "-1", "--date=format-local:%Y%m%d", "--format=%cd")
	if got, want := printVersion("TZ=Pacific/Kiritimati"), "0.0.0~git"+date+"."+rev; got != want {
		t.Errorf("untagged: %q, want %q", got, want)
	}
	git("tag", "v1.2.0")
	if got := printVersion(); got != "1.2.0" {
		t.Errorf("at v1.2.0: %q", got)
	}
	git("commit", "--quiet", "--allow-empty", "-m", "one more")
	if got, want := printVersion(), "1.2.0+git1.g"+git("rev-parse", "--short", "HEAD"); got != want {
		t.Errorf("a commit after v1.2.0: %q, want %q", got, want)
	}
	if got := printVersion("VERSION=2.0.0~rc1"); got != "2.0.0~rc1" {
		t.Errorf("VERSION=2.0.0~rc1: %q", got)
	}
	cmd := exec.Command(filepath.Join(clone, "configs/package/build-deb"), "--print-version")
	cmd.Env = append(os.Environ(), "VERSION=2.0-1")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("VERSION=2.0-1 (a Debian revision) was accepted: %s", out)
	}
}

// The DaemonSet runs the image at a pinned tag, and serves metrics on the port it declares, on
// every node.
func TestPackageDaemonSet(t *testing.T) {
	manifest, err := os.ReadFile(daemonSetPath)
	if err != nil {
		t.Fatal(err)
	}
	image := regexp.MustCompile(`(?m)^\s+image: (\S+)$`).FindSubmatch(manifest)
	if image == nil {
		t.Fatal("the DaemonSet names no image")
	}
	if tag := regexp.MustCompile(`:([0-9][A-Za-z0-9._-]*)$`).FindSubmatch(image[1]); tag == nil {
		t.Errorf("image %s: want a pinned version tag, not :latest or none", image[1])
	}
	port := regexp.MustCompile(`(?m)- name: metrics\n\s+containerPort: (\d+)\n`).FindSubmatch(manifest)
	if port == nil {
		t.Fatal("the DaemonSet declares no metrics port")
	}
	if !bytes.Contains(manifest, []byte(`prometheus.io/port: "`+string(port[1])+`"`)) {
		t.Errorf("no prometheus.io/port annotation for port %s", port[1])
	}
	dir := t.TempDir()
	for name, text := range configMapFiles(t, manifest) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := configs.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasSuffix(cfg.Global.Metrics, ":"+string(port[1])) {
			t.Errorf("%s: metrics = %q, want it on the declared port %s", name, cfg.Global.Metrics, port[1])
		}
	}
}
