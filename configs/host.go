package configs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is matched (errors.Is) by each problem of CheckHost about a program that a user other
// than root and the user it runs as could change: through its owner, its mode, or a directory
// above it. Every problem of CheckHost also matches ErrInvalid.
var ErrUnsafe = errors.New("another user could change a program vrrpd runs")

// CheckHost checks a parsed configuration against the host it is to run on, which Parse does not
// touch: `vrrpd check`, `vrrpd run` and a reload call it after Load. Like Parse, it reports every
// problem at once, one per line, each naming where it is and saying what to do:
//
//	instance "VI_1": notify.master: /etc/vrrpd/notify.sh is writable by any user (mode 0777): chmod o-w /etc/vrrpd/notify.sh
//	check "nginx": exec: /home/bob/check.sh is owned by user bob, who could replace it: chown root /home/bob/check.sh
//
// It checks the program of every notify hook and exec check, and the program a script check's
// command line starts with when that is an absolute path ("/etc/vrrpd/check.sh --quick"; a
// command found through $PATH, a builtin or a path built by the shell is not checked). It walks
// the path as exec does, following symbolic links, and each directory on the way and the program
// itself must:
//
//   - exist: a hook that does not exist would fail on the day it is needed;
//   - be owned by root or by the user the program runs as (a check's user, else script_user, else
//     vrrpd's own user), since its owner can change it, or replace what a directory holds; this
//     holds for a symbolic link on the way too;
//   - not be writable by others, nor by a group other than root's (gid 0): such a user could
//     replace the program and have it run as root, or as that user. A directory with the
//     sticky bit, like /tmp, is the exception: there only an entry's owner can replace it, and
//     the rule above already limits who that is;
//   - be reachable by the user the program runs as: each directory searchable, the program a
//     regular file it may execute.
//
// This is keepalived's enable_script_security, always on, applied to every hook and check rather
// than only those run as root, and with messages that say what to change. Access control lists
// are not read.
//
// With script_user set, and for each check with a user of its own, it also checks that vrrpd can
// switch to that user, which needs root or CAP_SETUID and CAP_SETGID.
//
// It checks for this process: without script_user the programs run as this process's user, and
// only root can see into every directory, so run `vrrpd check` as the daemon's user. It checks
// when called (at start-up and on each reload), not before each run. Problems come in this order:
// script_user, then checks, instances and sync groups, each in file order.
func CheckHost(cfg *Config) error {
	var errs []error
	self := selfIdentity()
	caps, capsErr := effectiveCaps()
	hosts := map[string]*host{} // by the check's user; "" for script_user
	hostFor := func(user string, cred *syscall.Credential) *host {
		h, ok := hosts[user]
		if !ok {
			h = newHost(cred)
			hosts[user] = h
		}
		return h
	}
	// canSwitch reports, at where, whether vrrpd can run programs as user.
	canSwitch := func(where, key, user, runs string, cred *syscall.Credential) {
		msg := ""
		if capsErr != nil {
			msg = fmt.Sprintf("cannot read vrrpd's capabilities to see whether it can switch to %q: %v", user, capsErr)
		} else {
			msg = switchProblem(key, user, runs, cred, self, caps, hostFor("", cfg.Global.ScriptCredential).userName)
		}
		if msg != "" {
			errs = append(errs, &problem{msg: where + ": " + key + ": " + msg})
		}
	}
	if cred := cfg.Global.ScriptCredential; cred != nil {
		canSwitch("global", "script_user", cfg.Global.ScriptUser, "hooks and checks", cred)
	}
	for _, c := range cfg.Checks {
		where := fmt.Sprintf("check %q", c.Name)
		h := hostFor("", cfg.Global.ScriptCredential)
		if c.UserCredential != nil {
			canSwitch(where, "user", c.User, "this check", c.UserCredential)
			h = hostFor(c.User, c.UserCredential)
		}
		var uses []use
		switch c.Kind {
		case CheckExec:
			if len(c.Exec) > 0 {
				uses = []use{{"exec", c.Exec[0]}}
			}
		case CheckScript:
			if p := scriptProgram(c.Script); p != "" {
				uses = []use{{"script", p}}
			}
		}
		errs = append(errs, h.programs(where, uses)...)
	}
	h := hostFor("", cfg.Global.ScriptCredential)
	for _, in := range cfg.Instances {
		errs = append(errs, h.programs(fmt.Sprintf("instance %q", in.Name), hookUses(in.Notify))...)
	}
	for _, g := range cfg.SyncGroups {
		errs = append(errs, h.programs(fmt.Sprintf("sync_group %q", g.Name), hookUses(g.Notify))...)
	}
	return errors.Join(errs...)
}

// FileWarnings returns what is unsafe about the configuration file at path, one line each, for
// the log: it, or a directory above it, can be changed by a user other than root and vrrpd's own
// user (the same owner and write rules as CheckHost). Such a user could add a hook, and so run
// anything as vrrpd. It is a warning, not an error. A file that cannot be found gives none: Load
// reports that.
//
//	/etc/vrrpd/vrrpd.toml is writable by any user (mode 0666): chmod o-w /etc/vrrpd/vrrpd.toml
func FileWarnings(path string) []string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return []string{fmt.Sprintf("cannot check %s: %v", path, err)}
	}
	h := newHost(nil)
	var warnings []string
	for _, f := range h.walk(abs, asFile) {
		if !errors.Is(f.cause, os.ErrNotExist) {
			warnings = append(warnings, f.msg)
		}
	}
	return warnings
}

// use is a program a section runs, and the key that names it.
type use struct{ key, path string }

func hookUses(n Notify) []use {
	var uses []use
	for _, h := range []struct {
		key  string
		argv []string
	}{{"master", n.Master}, {"backup", n.Backup}, {"fault", n.Fault}, {"stop", n.Stop}, {"any", n.Any},
		{"reassert", n.Reassert}, {"priority", n.Priority}} {
		if len(h.argv) > 0 {
			uses = append(uses, use{"notify." + h.key, h.argv[0]})
		}
	}
	return uses
}

// scriptProgram returns the program a script check's command line starts with, if the line starts
// with an absolute path that the shell runs as written: "/etc/vrrpd/check.sh --quick" runs
// /etc/vrrpd/check.sh. Otherwise it returns "".
func scriptProgram(cmdline string) string {
	s := strings.TrimLeft(cmdline, " \t\n")
	if end := strings.IndexAny(s, " \t\n;&|<>()"); end >= 0 {
		s = s[:end]
	}
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "$`\\\"'*?[{~") {
		return ""
	}
	return s
}

// identity is who a program runs as.
type identity struct {
	uid, gid uint32
	groups   []uint32 // supplementary groups
}

func selfIdentity() identity {
	id := identity{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		id.groups = append(id.groups, uint32(g))
	}
	return id
}

// inGroup reports whether the identity has gid as its primary or a supplementary group.
func (id identity) inGroup(gid uint32) bool { return id.gid == gid || slices.Contains(id.groups, gid) }

// sameAs reports whether the credential is this identity: the same uid, gid and set of groups.
func (id identity) sameAs(c *syscall.Credential) bool {
	if id.uid != c.Uid || id.gid != c.Gid {
		return false
	}
	for _, g := range c.Groups {
		if !id.inGroup(g) {
			return false
		}
	}
	for _, g := range id.groups {
		if g != c.Gid && !slices.Contains(c.Groups, g) {
			return false
		}
	}
	return true
}

// Linux capability numbers (linux/capability.h).
const (
	capSetgid = unix.CAP_SETGID
	capSetuid = unix.CAP_SETUID
)

// effectiveCaps returns this process's effective capabilities, a bit per capability number.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// switchProblem says why a process of identity self with the effective capabilities caps cannot
// start programs as cred, the user set by key (script_user, or a check's user) to run what runs
// says, or returns "". os/exec switches in the child with setgroups, which always needs
// CAP_SETGID, then setgid and setuid, which need CAP_SETGID and CAP_SETUID for another group or
// user (syscall.Credential).
func switchProblem(key, user, runs string, cred *syscall.Credential, self identity, caps uint64, userName func(uint32) string) string {
	var missing []string
	if cred.Uid != self.uid && caps&(1<<capSetuid) == 0 {
		missing = append(missing, "CAP_SETUID")
	}
	if caps&(1<<capSetgid) == 0 {
		missing = append(missing, "CAP_SETGID")
	}
	switch {
	case len(missing) == 0:
		return ""
	case self.sameAs(cred):
		return fmt.Sprintf("vrrpd runs as %q already, and without CAP_SETGID cannot switch to it: remove %s", user, key)
	}
	return fmt.Sprintf("vrrpd runs as %s without %s, so it cannot run %s as %q: run vrrpd as root, or give it CAP_SETUID and CAP_SETGID, or remove %s",
		userName(self.uid), strings.Join(missing, " and "), runs, user, key)
}

// host checks programs and files for one configuration. It remembers what it found for each path,
// and the names of users and groups.
type host struct {
	who    identity // who the programs run as
	found  map[string][]finding
	users  map[uint32]string
	groups map[uint32]string
}

// finding is one problem with a path; cause is ErrUnsafe, a file system error or nil.
type finding struct {
	msg   string
	cause error
}

func newHost(cred *syscall.Credential) *host {
	h := &host{found: map[string][]finding{}, users: map[uint32]string{}, groups: map[uint32]string{}}
	if cred != nil {
		h.who = identity{uid: cred.Uid, gid: cred.Gid, groups: cred.Groups}
	} else {
		h.who = selfIdentity()
	}
	return h
}

// programs checks the programs a section runs. Keys that run the same program share its problems.
func (h *host) programs(where string, uses []use) []error {
	var paths []string
	keys := map[string][]string{}
	for _, u := range uses {
		if keys[u.path] == nil {
			paths = append(paths, u.path)
		}
		keys[u.path] = append(keys[u.path], u.key)
	}
	var errs []error
	for _, p := range paths {
		found, ok := h.found[p]
		if !ok {
			found = h.walk(p, asProgram)
			h.found[p] = found
		}
		for _, f := range found {
			errs = append(errs, &problem{msg: where + ": " + strings.Join(keys[p], ", ") + ": " + f.msg, cause: f.cause})
		}
	}
	return errs
}

// What a path leads to.
const (
	asDir     = iota // a directory on the way
	asProgram        // a program to run
	asFile           // the configuration file: read, not run
)

// maxSymlinks is how many symbolic links a path may go through, as Linux allows (MAXSYMLINKS).
const maxSymlinks = 40

// walk checks the absolute path as the kernel resolves it: from /, one name at a time, following
// symbolic links. Each problem is found once.
func (h *host) walk(path string, final int) []finding {
	var found []finding
	add := func(f finding) {
		if !slices.Contains(found, f) {
			found = append(found, f)
		}
	}
	dir := "/"
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return []finding{{fmt.Sprintf("cannot check %s: %v", dir, err), err}}
	}
	h.check(dir, &st, asDir, add)
	rest := strings.Split(path, "/")
	for links := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			dir = filepath.Dir(dir)
			continue
		}
		p := filepath.Join(dir, name)
		if err := syscall.Lstat(p, &st); err != nil {
			switch {
			case !errors.Is(err, os.ErrNotExist):
				add(finding{fmt.Sprintf("cannot check %s: %v", p, err), err})
			case p == filepath.Clean(path):
				add(finding{fmt.Sprintf("%s does not exist", path), err})
			default:
				add(finding{fmt.Sprintf("%s does not exist: there is no %s", path, p), err})
			}
			return found
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			h.owner(p, &st, "symbolic link", add)
			target, err := os.Readlink(p)
			links++
			switch {
			case err != nil:
				add(finding{fmt.Sprintf("cannot check %s: %v", p, err), err})
				return found
			case links > maxSymlinks:
				add(finding{fmt.Sprintf("%s goes through more than %d symbolic links", path, maxSymlinks), syscall.ELOOP})
				return found
			case filepath.IsAbs(target):
				dir = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if len(rest) > 0 && st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			add(finding{fmt.Sprintf("%s does not exist: %s is not a directory", path, p), syscall.ENOTDIR})
			return found
		}
		if len(rest) > 0 {
			h.check(p, &st, asDir, add)
		} else {
			h.check(p, &st, final, add)
		}
		dir = p
	}
	return found
}

// check applies the rules of CheckHost to one directory or file.
func (h *host) check(p string, st *syscall.Stat_t, kind int, add func(finding)) {
	mode, typ := st.Mode&0o7777, st.Mode&syscall.S_IFMT
	if kind == asProgram && typ != syscall.S_IFREG {
		what := "not a regular file"
		if typ == syscall.S_IFDIR {
			what = "a directory"
		}
		add(finding{fmt.Sprintf("%s is %s, not a program", p, what), nil})
		return
	}
	if typ == syscall.S_IFDIR {
		h.owner(p, st, "directory", add)
	} else {
		h.owner(p, st, "file", add)
	}
	sticky := typ == syscall.S_IFDIR && mode&syscall.S_ISVTX != 0
	groupWritable := mode&0o020 != 0 && st.Gid != 0 && !sticky
	switch {
	case mode&0o002 != 0 && !sticky && groupWritable:
		add(finding{fmt.Sprintf("%s is writable by any user (mode %04o): chmod go-w %[1]s", p, mode), ErrUnsafe})
	case mode&0o002 != 0 && !sticky:
		add(finding{fmt.Sprintf("%s is writable by any user (mode %04o): chmod o-w %[1]s", p, mode), ErrUnsafe})
	case groupWritable:
		add(finding{fmt.Sprintf("%s is writable by %s (mode %04o): chmod g-w %[1]s", p, h.groupName(st.Gid), mode), ErrUnsafe})
	}
	if kind == asFile {
		return
	}
	if class, ok := h.may(st, 0o1); !ok {
		if kind == asDir {
			add(finding{fmt.Sprintf("%s is not searchable by %s (mode %04o): chmod %s+x %[1]s", p, h.userName(h.who.uid), mode, class), nil})
		} else if h.who.uid == 0 {
			add(finding{fmt.Sprintf("%s is not executable (mode %04o): chmod +x %[1]s", p, mode), nil})
		} else {
			add(finding{fmt.Sprintf("%s is not executable by %s (mode %04o): chmod %s+x %[1]s", p, h.userName(h.who.uid), mode, class), nil})
		}
	}
}

// owner reports a file, directory or symbolic link whose owner is neither root nor the user the
// programs run as: that user could change it.
func (h *host) owner(p string, st *syscall.Stat_t, what string, add func(finding)) {
	if st.Uid == 0 || st.Uid == h.who.uid {
		return
	}
	switch what {
	case "directory":
		add(finding{fmt.Sprintf("%s is owned by %s, who could replace what is in it: chown root %[1]s", p, h.userName(st.Uid)), ErrUnsafe})
	case "symbolic link":
		add(finding{fmt.Sprintf("%s is a symbolic link owned by %s, who could replace it: chown -h root %[1]s", p, h.userName(st.Uid)), ErrUnsafe})
	default:
		add(finding{fmt.Sprintf("%s is owned by %s, who could replace it: chown root %[1]s", p, h.userName(st.Uid)), ErrUnsafe})
	}
}

// may reports whether the user the programs run as has the permission bit (4 read, 2 write,
// 1 execute or search) on a file, as the kernel decides it without access control lists: root
// may search any directory and execute a file with any execute bit; another user gets the
// owner's bits if it owns the file, else the group's if it is in the file's group, else the
// others'. It also returns that class, "u", "g" or "o", for a chmod.
func (h *host) may(st *syscall.Stat_t, bit uint32) (string, bool) {
	mode := st.Mode & 0o777
	switch {
	case h.who.uid == 0:
		return "u", st.Mode&syscall.S_IFMT == syscall.S_IFDIR || mode&0o111 != 0
	case st.Uid == h.who.uid:
		return "u", mode&(bit<<6) != 0
	case h.who.inGroup(st.Gid):
		return "g", mode&(bit<<3) != 0
	}
	return "o", mode&bit != 0
}

// userName names a user for a message: "user bob", or "uid 1234" if it has no name.
func (h *host) userName(uid uint32) string {
	if n, ok := h.users[uid]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(uid), 10)
	n := "uid " + id
	if u, err := user.LookupId(id); err == nil {
		n = "user " + u.Username
	}
	h.users[uid] = n
	return n
}

// groupName names a group for a message: "group staff", or "gid 50" if it has no name.
func (h *host) groupName(gid uint32) string {
	if n, ok := h.groups[gid]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(gid), 10)
	n := "gid " + id
	if g, err := user.LookupGroupId(id); err == nil {
		n = "group " + g.Name
	}
	h.groups[gid] = n
	return n
}
