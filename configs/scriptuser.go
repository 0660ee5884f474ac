package configs

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// resolveScriptUser resolves global.script_user or a check's user, "USER" or "USER:GROUP", each a
// name or a number, in this host's user and group databases. With "USER" the credential has the user's primary group
// and every group it belongs to, as login and systemd's User= give; with "USER:GROUP" it has that
// group alone, primary and only, as keepalived's `script_user USER GROUP` does. A number missing
// from the databases is taken as it is (a container may have no /etc/passwd), but a uid alone
// needs its group, as there is no entry to take it from.
func resolveScriptUser(s string) (*syscall.Credential, string) {
	name, group, hasGroup := strings.Cut(s, ":")
	if name == "" || hasGroup && (group == "" || strings.Contains(group, ":")) {
		return nil, fmt.Sprintf("%q is not USER or USER:GROUP", s)
	}
	prefix := ""
	if hasGroup {
		prefix = strconv.Quote(s) + ": "
	}
	cred := &syscall.Credential{}
	u, uid, err := lookupUser(name)
	switch {
	case err != nil:
		return nil, prefix + err.Error()
	case u == nil && !hasGroup:
		return nil, fmt.Sprintf("uid %d is not in the user database: give its group too, as \"%d:GROUP\"", uid, uid)
	case u != nil:
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Sprintf("%suser %q has the group id %q, which is not a number", prefix, name, u.Gid)
		}
		cred.Gid = uint32(gid)
	}
	cred.Uid = uid
	if hasGroup {
		gid, err := lookupGroup(group)
		if err != nil {
			return nil, prefix + err.Error()
		}
		cred.Gid, cred.Groups = gid, []uint32{gid}
		return cred, ""
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Sprintf("cannot list the groups of user %q: %v", name, err)
	}
	cred.Groups = []uint32{cred.Gid}
	for _, id := range ids {
		gid, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Sprintf("user %q is in a group with the id %q, which is not a number", name, id)
		}
		if !slices.Contains(cred.Groups, uint32(gid)) {
			cred.Groups = append(cred.Groups, uint32(gid))
		}
	}
	return cred, ""
}

// lookupUser finds a user by name, or by number. A number that is not in the database gives a nil
// user and the number.
func lookupUser(name string) (*user.User, uint32, error) {
	n, numErr := strconv.ParseUint(name, 10, 32)
	var u *user.User
	var err error
	if numErr == nil {
		u, err = user.LookupId(name)
	} else {
		u, err = user.Lookup(name)
	}
	var unknownID user.UnknownUserIdError
	var unknownName user.UnknownUserError
	switch {
	case numErr == nil && errors.As(err, &unknownID):
		return nil, uint32(n), nil
	case errors.As(err, &unknownName):
		return nil, 0, fmt.Errorf("%q is not a user on this host", name)
	case err != nil:
		return nil, 0, fmt.Errorf("cannot look up user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, 0, fmt.Errorf("user %q has the id %q, which is not a number", name, u.Uid)
	}
	return u, uint32(uid), nil
}

// lookupGroup finds a group by name, or by number; a number need not be in the database.
func lookupGroup(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(name)
	var unknown user.UnknownGroupError
	switch {
	case errors.As(err, &unknown):
		return 0, fmt.Errorf("%q is not a group on this host", name)
	case err != nil:
		return 0, fmt.Errorf("cannot look up group %q: %w", name, err)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has the id %q, which is not a number", name, g.Gid)
	}
	return uint32(gid), nil
}
