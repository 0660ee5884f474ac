package configs

import (
	"errors"
	"os/user"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// userCredential is what script_user = name should resolve to, read from the user database the
// way login does: the user's uid, its primary group first, then every other group it is in.
func userCredential(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %q on this host: %v", name, err)
	}
	num := func(s string) uint32 {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(n)
	}
	cred := &syscall.Credential{Uid: num(u.Uid), Gid: num(u.Gid), Groups: []uint32{num(u.Gid)}}
	ids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if g := num(id); !slices.Contains(cred.Groups, g) {
			cred.Groups = append(cred.Groups, g)
		}
	}
	return cred
}

func TestScriptUser(t *testing.T) {
	root := userCredential(t, "root")
	if root.Uid != 0 || root.Gid != 0 || root.Groups[0] != 0 {
		t.Fatalf("root is %+v on this host", root)
	}
	if _, err := user.LookupId("4000000"); err == nil {
		t.Skip("uid 4000000 exists on this host; the cases below need it not to")
	}
	for _, tc := range []struct {
		name  string
		value string // the TOML value
		want  *syscall.Credential
		err   string
	}{
		{"default", `""`, nil, ""},
		{"name", `"root"`, root, ""},
		{"uid in the database", `"0"`, root, ""},
		// An explicit group is the only group, as keepalived's script_user USER GROUP.
		{"name and group", `"root:root"`, &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{0}}, ""},
		{"name and gid", `"root:65534"`, &syscall.Credential{Uid: 0, Gid: 65534, Groups: []uint32{65534}}, ""},
		{"numbers not in the database", `"4000000:4000001"`, &syscall.Credential{Uid: 4000000, Gid: 4000001, Groups: []uint32{4000001}}, ""},

		{"unknown user", `"vrrpd-no-such-user"`, nil, `global: script_user: "vrrpd-no-such-user" is not a user on this host`},
		{"unknown user with a group", `"vrrpd-no-such-user:root"`, nil,
			`global: script_user: "vrrpd-no-such-user:root": "vrrpd-no-such-user" is not a user on this host`},
		{"unknown group", `"root:vrrpd-no-such-group"`, nil,
			`global: script_user: "root:vrrpd-no-such-group": "vrrpd-no-such-group" is not a group on this host`},
		{"uid alone not in the database", `"4000000"`, nil,
			`global: script_user: uid 4000000 is not in the user database: give its group too, as "4000000:GROUP"`},
		{"no user", `":root"`, nil, `global: script_user: ":root" is not USER or USER:GROUP`},
		{"no group", `"root:"`, nil, `global: script_user: "root:" is not USER or USER:GROUP`},
		{"two colons", `"root:root:root"`, nil, `global: script_user: "root:root:root" is not USER or USER:GROUP`},
		{"a number", `0`, nil, `global: script_user: 0 is not a string`},
		{"negative uid", `"-1"`, nil, `global: script_user: "-1" is not a user on this host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("[global]\nscript_user = " + tc.value + "\n" + vi1))
			if tc.err != "" {
				if diff := cmp.Diff([]string{tc.err}, Problems(err)); diff != "" {
					t.Errorf("problems mismatch (-want +got):\n%s", diff)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cfg.Global.ScriptCredential); diff != "" {
				t.Errorf("ScriptCredential mismatch (-want +got):\n%s", diff)
			}
			if want := tc.value[1 : len(tc.value)-1]; cfg.Global.ScriptUser != want {
				t.Errorf("ScriptUser = %q, want %q", cfg.Global.ScriptUser, want)
			}
		})
	}
}
