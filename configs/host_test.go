package configs

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// tree builds files and directories with exact modes and owners.
type tree struct {
	t    *testing.T
	base string
}

// newTree returns a tree in a fresh directory that every user can search, as can its parent, so
// that any script_user can reach it.
func newTree(t *testing.T) *tree {
	return &tree{t, labtest.SharedDir(t)}
}

func (tr *tree) path(name string) string { return filepath.Join(tr.base, name) }

func (tr *tree) dir(name string, mode fs.FileMode) string {
	p := tr.path(name)
	if err := os.Mkdir(p, 0o700); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

func (tr *tree) file(name string, mode fs.FileMode) string {
	p := tr.path(name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o600); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

func (tr *tree) link(name, target string) string {
	p := tr.path(name)
	if err := os.Symlink(target, p); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

func (tr *tree) chown(name string, uid, gid int) {
	if err := os.Lchown(tr.path(name), uid, gid); err != nil {
		tr.t.Fatal(err)
	}
}

// portable adapts a wanted message to this process's group: a file it creates writable by any
// user is writable by that group too, which CheckHost counts when it is not root's.
func portable(msg string) string {
	m := regexp.MustCompile(`\(mode (0[0-7]+)\): chmod o-w`).FindStringSubmatchIndex(msg)
	if m == nil || os.Getegid() == 0 {
		return msg
	}
	if mode, _ := strconv.ParseUint(msg[m[2]:m[3]], 8, 32); mode&0o020 == 0 {
		return msg
	}
	return msg[:m[3]] + "): chmod go-w" + msg[m[1]:]
}

// whoAmI names this process's user as CheckHost's messages do.
func whoAmI() string {
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	if err != nil {
		return "uid " + strconv.Itoa(os.Geteuid())
	}
	return "user " + u.Username
}

// TestCheckHostPaths checks the rules for one program at a time, run as vrrpd's own user.
func TestCheckHostPaths(t *testing.T) {
	notExecutable := func(mode string) string {
		if os.Geteuid() == 0 {
			return "is not executable (mode " + mode + "): chmod +x"
		}
		return "is not executable by " + whoAmI() + " (mode " + mode + "): chmod u+x"
	}
	for _, tc := range []struct {
		name  string
		root  bool                         // needs root, to chown
		setup func(tr *tree) (prog string) // builds the tree, returns the program's path
		want  []string                     // the problems, "$" standing for the tree's base
	}{
		{name: "safe", setup: func(tr *tree) string {
			tr.dir("bin", 0o755)
			return tr.file("bin/hook", 0o755)
		}},
		{name: "owner only", setup: func(tr *tree) string {
			tr.dir("bin", 0o700)
			return tr.file("bin/hook", 0o700)
		}},
		{name: "file writable by any user", setup: func(tr *tree) string {
			return tr.file("hook", 0o777)
		}, want: []string{"$/hook is writable by any user (mode 0777): chmod o-w $/hook"}},
		{name: "directory writable by any user", setup: func(tr *tree) string {
			tr.dir("bin", 0o777)
			return tr.file("bin/hook", 0o755)
		}, want: []string{"$/bin is writable by any user (mode 0777): chmod o-w $/bin"}},
		{name: "every problem on the way", setup: func(tr *tree) string {
			tr.dir("a", 0o777)
			tr.dir("a/b", 0o757)
			return tr.file("a/b/hook", 0o646)
		}, want: []string{
			"$/a is writable by any user (mode 0777): chmod o-w $/a",
			"$/a/b is writable by any user (mode 0757): chmod o-w $/a/b",
			"$/a/b/hook is writable by any user (mode 0646): chmod o-w $/a/b/hook",
			"$/a/b/hook " + notExecutable("0646") + " $/a/b/hook",
		}},
		{name: "sticky directory", setup: func(tr *tree) string {
			tr.dir("tmp", 0o777|fs.ModeSticky)
			return tr.file("tmp/hook", 0o755)
		}},
		{name: "group root may write", root: true, setup: func(tr *tree) string {
			tr.dir("bin", 0o775)
			tr.chown("bin", 0, 0)
			p := tr.file("bin/hook", 0o775)
			tr.chown("bin/hook", 0, 0)
			return p
		}},
		{name: "missing", setup: func(tr *tree) string {
			return tr.path("hook")
		}, want: []string{"$/hook does not exist"}},
		{name: "missing directory", setup: func(tr *tree) string {
			return tr.path("etc/vrrpd/hook")
		}, want: []string{"$/etc/vrrpd/hook does not exist: there is no $/etc"}},
		{name: "a file on the way", setup: func(tr *tree) string {
			tr.file("hook", 0o755)
			return tr.path("hook/x")
		}, want: []string{"$/hook/x does not exist: $/hook is not a directory"}},
		{name: "not executable", setup: func(tr *tree) string {
			return tr.file("hook", 0o644)
		}, want: []string{"$/hook " + notExecutable("0644") + " $/hook"}},
		{name: "a directory", setup: func(tr *tree) string {
			return tr.dir("hook", 0o755)
		}, want: []string{"$/hook is a directory, not a program"}},
		{name: "dot and dot-dot", setup: func(tr *tree) string {
			tr.dir("bin", 0o755)
			tr.dir("lib", 0o777)
			tr.file("bin/hook", 0o755)
			return tr.path("lib") + "/./../bin//hook"
		}, want: []string{"$/lib is writable by any user (mode 0777): chmod o-w $/lib"}},
		{name: "symbolic link to an unsafe file", setup: func(tr *tree) string {
			tr.dir("bin", 0o755)
			tr.dir("real", 0o777)
			tr.file("real/hook", 0o755)
			return tr.link("bin/hook", "../real/hook")
		}, want: []string{"$/real is writable by any user (mode 0777): chmod o-w $/real"}},
		{name: "symbolic link to a directory, absolute", setup: func(tr *tree) string {
			tr.dir("real", 0o755)
			tr.file("real/hook", 0o757)
			tr.link("bin", tr.path("real"))
			return tr.path("bin/hook")
		}, want: []string{"$/real/hook is writable by any user (mode 0757): chmod o-w $/real/hook"}},
		{name: "dangling symbolic link", setup: func(tr *tree) string {
			return tr.link("hook", "gone")
		}, want: []string{"$/hook does not exist: there is no $/gone"}},
		{name: "symbolic link loop", setup: func(tr *tree) string {
			tr.link("a", "b")
			tr.link("b", "a")
			return tr.path("a")
		}, want: []string{"$/a goes through more than 40 symbolic links"}},

		// Owners other than root and vrrpd's own user could replace what vrrpd runs.
		{name: "file owned by another user", root: true, setup: func(tr *tree) string {
			p := tr.file("hook", 0o755)
			tr.chown("hook", 65534, 0)
			return p
		}, want: []string{"$/hook is owned by user nobody, who could replace it: chown root $/hook"}},
		{name: "file owned by a uid without a name", root: true, setup: func(tr *tree) string {
			p := tr.file("hook", 0o755)
			tr.chown("hook", 4000000, 0)
			return p
		}, want: []string{"$/hook is owned by uid 4000000, who could replace it: chown root $/hook"}},
		{name: "directory owned by another user", root: true, setup: func(tr *tree) string {
			tr.dir("home", 0o755)
			tr.chown("home", 65534, 65534)
			return tr.file("home/hook", 0o755)
		}, want: []string{"$/home is owned by user nobody, who could replace what is in it: chown root $/home"}},
		{name: "symbolic link owned by another user", root: true, setup: func(tr *tree) string {
			tr.file("real", 0o755)
			p := tr.link("hook", "real")
			tr.chown("hook", 65534, 65534)
			return p
		}, want: []string{"$/hook is a symbolic link owned by user nobody, who could replace it: chown -h root $/hook"}},
		{name: "another user's file in a sticky directory", root: true, setup: func(tr *tree) string {
			tr.dir("tmp", 0o777|fs.ModeSticky)
			p := tr.file("tmp/hook", 0o755)
			tr.chown("tmp/hook", 65534, 65534)
			return p
		}, want: []string{"$/tmp/hook is owned by user nobody, who could replace it: chown root $/tmp/hook"}},
		{name: "group other than root may write", root: true, setup: func(tr *tree) string {
			tr.dir("bin", 0o775)
			tr.chown("bin", 0, 4000000)
			return tr.file("bin/hook", 0o755)
		}, want: []string{"$/bin is writable by gid 4000000 (mode 0775): chmod g-w $/bin"}},
		{name: "any user and a group other than root may write", root: true, setup: func(tr *tree) string {
			p := tr.file("hook", 0o777)
			tr.chown("hook", 0, 4000000)
			return p
		}, want: []string{"$/hook is writable by any user (mode 0777): chmod go-w $/hook"}},
		{name: "group other than root may write a sticky directory", root: true, setup: func(tr *tree) string {
			tr.dir("tmp", 0o775|fs.ModeSticky)
			tr.chown("tmp", 0, 4000000)
			return tr.file("tmp/hook", 0o755)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				labtest.RequireRoot(t, "chown")
			}
			tr := newTree(t)
			prog := tc.setup(tr)
			cfg := &Config{Instances: []Instance{{Name: "VI_1", Notify: Notify{Master: []string{prog, "MASTER"}}}}}
			var want []string
			for _, w := range tc.want {
				want = append(want, `instance "VI_1": notify.master: `+portable(strings.ReplaceAll(w, "$", tr.base)))
			}
			err := CheckHost(cfg)
			if diff := cmp.Diff(want, Problems(err)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			if want != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
		})
	}
}

// TestCheckHostScriptUser checks the rules for programs run as script_user: its own files are
// safe, and it must be able to reach and run the program.
func TestCheckHostScriptUser(t *testing.T) {
	labtest.RequireRoot(t, "files owned by nobody, and switching to nobody")
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}
	for _, tc := range []struct {
		name  string
		setup func(tr *tree) string
		want  []string
	}{
		{name: "root's program", setup: func(tr *tree) string {
			return tr.file("hook", 0o755)
		}},
		{name: "its own program", setup: func(tr *tree) string {
			tr.dir("home", 0o700)
			tr.chown("home", 65534, 65534)
			p := tr.file("home/hook", 0o700)
			tr.chown("home/hook", 65534, 65534)
			return p
		}},
		{name: "its group's program", setup: func(tr *tree) string {
			p := tr.file("hook", 0o750)
			tr.chown("hook", 0, 65534)
			return p
		}},
		{name: "not executable by it", setup: func(tr *tree) string {
			return tr.file("hook", 0o744)
		}, want: []string{"$/hook is not executable by user nobody (mode 0744): chmod o+x $/hook"}},
		{name: "not executable by its group", setup: func(tr *tree) string {
			p := tr.file("hook", 0o745)
			tr.chown("hook", 0, 65534)
			return p
		}, want: []string{"$/hook is not executable by user nobody (mode 0745): chmod g+x $/hook"}},
		{name: "not executable by its owner", setup: func(tr *tree) string {
			p := tr.file("hook", 0o655)
			tr.chown("hook", 65534, 0)
			return p
		}, want: []string{"$/hook is not executable by user nobody (mode 0655): chmod u+x $/hook"}},
		{name: "directory not searchable", setup: func(tr *tree) string {
			tr.dir("private", 0o700)
			return tr.file("private/hook", 0o755)
		}, want: []string{"$/private is not searchable by user nobody (mode 0700): chmod o+x $/private"}},
		{name: "another user's file", setup: func(tr *tree) string {
			p := tr.file("hook", 0o755)
			tr.chown("hook", 4000000, 0)
			return p
		}, want: []string{"$/hook is owned by uid 4000000, who could replace it: chown root $/hook"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			prog := tc.setup(tr)
			var want []string
			for _, w := range tc.want {
				want = append(want, `check "c": exec: `+strings.ReplaceAll(w, "$", tr.base))
			}
			cfg := &Config{Global: Global{ScriptUser: "nobody", ScriptCredential: nobody},
				Checks: []Check{{Name: "c", Kind: CheckExec, Exec: []string{prog}}}}
			if diff := cmp.Diff(want, Problems(CheckHost(cfg))); diff != "" {
				t.Errorf("as script_user: problems mismatch (-want +got):\n%s", diff)
			}
			// A check's own user takes script_user's place, for that check only: a hook running the
			// same program is checked as vrrpd's own user (root), for whom nobody's files are unsafe.
			hook := []Instance{{Name: "VI_1", Notify: Notify{Master: []string{prog}}}}
			asRoot := Problems(CheckHost(&Config{Instances: hook}))
			if tc.name == "its own program" && len(asRoot) == 0 {
				t.Errorf("CheckHost finds nobody's own program safe for root")
			}
			cfg = &Config{Checks: []Check{{Name: "c", Kind: CheckExec, Exec: []string{prog}, User: "nobody", UserCredential: nobody}}, Instances: hook}
			want = append(want, asRoot...)
			if diff := cmp.Diff(want, Problems(CheckHost(cfg))); diff != "" {
				t.Errorf("as the check's user: problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckHostConfig checks that every hook and check is checked, that keys running the same
// program share a line, and what the errors match.
func TestCheckHostConfig(t *testing.T) {
	tr := newTree(t)
	unsafe := tr.file("unsafe.sh", 0o777)
	safe := tr.file("safe.sh", 0o755)
	missing := tr.path("missing.sh")
	cfg := &Config{
		Checks: []Check{
			{Name: "proc", Kind: CheckProcess, Process: "nginx"},
			{Name: "exec", Kind: CheckExec, Exec: []string{unsafe, "-q"}},
			{Name: "script", Kind: CheckScript, Script: missing + " --quick"},
			{Name: "shell", Kind: CheckScript, Script: "test -x " + missing}, // not checked: not an absolute path
			{Name: "tcp", Kind: CheckTCP, TCP: "127.0.0.1:80"},
		},
		Instances: []Instance{
			{Name: "VI_1", Notify: Notify{Master: []string{unsafe, "MASTER"}, Backup: []string{safe}, Fault: []string{unsafe, "FAULT"},
				Stop: []string{missing}, Any: []string{unsafe}, Reassert: []string{missing, "--force"}, Priority: []string{unsafe},
				Timeout: time.Second}},
			{Name: "VI_2"},
		},
		SyncGroups: []SyncGroup{{Name: "G1", Instances: []string{"VI_1"}, Notify: Notify{Any: []string{missing}}}},
	}
	writable := portable(unsafe + " is writable by any user (mode 0777): chmod o-w " + unsafe)
	want := []string{
		`check "exec": exec: ` + writable,
		`check "script": script: ` + missing + ` does not exist`,
		`instance "VI_1": notify.master, notify.fault, notify.any, notify.priority: ` + writable,
		`instance "VI_1": notify.stop, notify.reassert: ` + missing + ` does not exist`,
		`sync_group "G1": notify.any: ` + missing + ` does not exist`,
	}
	err := CheckHost(cfg)
	if diff := cmp.Diff(want, Problems(err)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
	for _, target := range []error{ErrInvalid, ErrUnsafe, fs.ErrNotExist} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(err, %v) = false", target)
		}
	}

	// Each problem matches what it is about.
	var unsafeOnly error = &problem{msg: "x", cause: ErrUnsafe}
	if !errors.Is(unsafeOnly, ErrUnsafe) || errors.Is(unsafeOnly, fs.ErrNotExist) {
		t.Errorf("a problem with ErrUnsafe matches the wrong errors")
	}

	if err := CheckHost(&Config{Instances: []Instance{{Name: "VI_1", Notify: Notify{Master: []string{safe}}}}}); err != nil {
		t.Errorf("CheckHost(safe) = %v, want nil", err)
	}
}

func TestScriptProgram(t *testing.T) {
	for _, tc := range []struct{ cmdline, want string }{
		{"/etc/vrrpd/check.sh --quick", "/etc/vrrpd/check.sh"},
		{"  /etc/vrrpd/check.sh", "/etc/vrrpd/check.sh"},
		{"/etc/vrrpd/check.sh;echo", "/etc/vrrpd/check.sh"},
		{"/etc/vrrpd/check.sh&&true", "/etc/vrrpd/check.sh"},
		{"/etc/vrrpd/check.sh>/dev/null", "/etc/vrrpd/check.sh"},
		{"/usr/bin/pidof nginx | grep -q .", "/usr/bin/pidof"},
		{"pidof nginx", ""},              // found through $PATH
		{"exec /etc/vrrpd/check.sh", ""}, // a builtin first
		{"$HOME/check.sh", ""},           // built by the shell
		{"/etc/vrrpd/$NAME.sh", ""},      // built by the shell
		{"'/etc/vrrpd/my check.sh'", ""}, // quoted
		{"/etc/vrrpd/check\\ 1.sh", ""},  // escaped
		{"/etc/vrrpd/check*.sh", ""},     // a glob
		{"~/check.sh", ""},               // a home directory
		{"", ""},
	} {
		if got := scriptProgram(tc.cmdline); got != tc.want {
			t.Errorf("scriptProgram(%q) = %q, want %q", tc.cmdline, got, tc.want)
		}
	}
}

// TestSwitchProblem checks when vrrpd can run programs as script_user: os/exec's setgroups needs
// CAP_SETGID, and setuid to another user CAP_SETUID.
func TestSwitchProblem(t *testing.T) {
	const all, setuid, setgid = 1<<capSetuid | 1<<capSetgid, uint64(1 << capSetuid), uint64(1 << capSetgid)
	daemon := identity{uid: 998, gid: 998, groups: []uint32{998}}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}
	names := func(uid uint32) string { return map[uint32]string{0: "user root", 998: "user vrrpd"}[uid] }
	cannot := `vrrpd runs as user vrrpd without %s, so it cannot run hooks and checks as "nobody": ` +
		`run vrrpd as root, or give it CAP_SETUID and CAP_SETGID, or remove script_user`
	for _, tc := range []struct {
		name string
		self identity
		cred *syscall.Credential
		caps uint64
		want string
	}{
		{"root", identity{}, nobody, all, ""},
		{"root without capabilities", identity{}, nobody, 0,
			`vrrpd runs as user root without CAP_SETUID and CAP_SETGID, so it cannot run hooks and checks as "nobody": ` +
				`run vrrpd as root, or give it CAP_SETUID and CAP_SETGID, or remove script_user`},
		{"both capabilities", daemon, nobody, all, ""},
		{"no capabilities", daemon, nobody, 0, strings.Replace(cannot, "%s", "CAP_SETUID and CAP_SETGID", 1)},
		{"CAP_SETUID only", daemon, nobody, setuid, strings.Replace(cannot, "%s", "CAP_SETGID", 1)},
		{"CAP_SETGID only", daemon, nobody, setgid, strings.Replace(cannot, "%s", "CAP_SETUID", 1)},
		{"same uid, CAP_SETGID", daemon, &syscall.Credential{Uid: 998, Gid: 65534, Groups: []uint32{65534}}, setgid, ""},
		{"itself", daemon, &syscall.Credential{Uid: 998, Gid: 998, Groups: []uint32{998}}, 0,
			`vrrpd runs as "nobody" already, and without CAP_SETGID cannot switch to it: remove script_user`},
		{"itself with another group", daemon, &syscall.Credential{Uid: 998, Gid: 998, Groups: []uint32{998, 4}}, 0,
			strings.Replace(cannot, "%s", "CAP_SETGID", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := switchProblem("script_user", "nobody", "hooks and checks", tc.cred, tc.self, tc.caps, names); got != tc.want {
				t.Errorf("switchProblem = %q\nwant             %q", got, tc.want)
			}
		})
	}
	// A check's own user names its key and what it runs.
	want := `vrrpd runs as user vrrpd without CAP_SETUID and CAP_SETGID, so it cannot run this check as "nobody": ` +
		`run vrrpd as root, or give it CAP_SETUID and CAP_SETGID, or remove user`
	if got := switchProblem("user", "nobody", "this check", nobody, daemon, 0, names); got != want {
		t.Errorf("switchProblem(user) = %q\nwant                   %q", got, want)
	}
}

// TestCheckHostSwitch runs the capability check on this process, as root: it may switch.
func TestCheckHostSwitch(t *testing.T) {
	labtest.RequireRoot(t, "CAP_SETUID and CAP_SETGID")
	caps, err := effectiveCaps()
	if err != nil {
		t.Fatal(err)
	}
	if caps&(1<<capSetuid) == 0 || caps&(1<<capSetgid) == 0 {
		t.Skipf("root without CAP_SETUID or CAP_SETGID (effective %#x)", caps)
	}
	cfg := &Config{Global: Global{ScriptUser: "nobody", ScriptCredential: &syscall.Credential{Uid: 65534, Gid: 65534}}}
	if err := CheckHost(cfg); err != nil {
		t.Errorf("CheckHost = %v, want nil", err)
	}
}

func TestFileWarnings(t *testing.T) {
	tr := newTree(t)
	tr.dir("etc", 0o755)
	safe := tr.file("etc/safe.toml", 0o644)
	open := tr.file("etc/open.toml", 0o666)
	tr.dir("shared", 0o777)
	inShared := tr.file("shared/vrrpd.toml", 0o600)

	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"safe", safe, nil},
		{"writable by any user", open, []string{portable(open + " is writable by any user (mode 0666): chmod o-w " + open)}},
		{"in a directory writable by any user", inShared,
			[]string{portable(tr.path("shared") + " is writable by any user (mode 0777): chmod o-w " + tr.path("shared"))}},
		{"missing", tr.path("etc/missing.toml"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, FileWarnings(tc.path)); diff != "" {
				t.Errorf("FileWarnings mismatch (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("relative path", func(t *testing.T) {
		t.Chdir(tr.path("etc"))
		want := []string{portable(open + " is writable by any user (mode 0666): chmod o-w " + open)}
		if diff := cmp.Diff(want, FileWarnings("open.toml")); diff != "" {
			t.Errorf("FileWarnings mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("owned by another user", func(t *testing.T) {
		labtest.RequireRoot(t, "chown")
		p := tr.file("etc/theirs.toml", 0o644)
		tr.chown("etc/theirs.toml", 65534, 65534)
		want := []string{p + " is owned by user nobody, who could replace it: chown root " + p}
		if diff := cmp.Diff(want, FileWarnings(p)); diff != "" {
			t.Errorf("FileWarnings mismatch (-want +got):\n%s", diff)
		}
	})
}
