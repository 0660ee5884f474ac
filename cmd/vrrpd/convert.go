package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/configs/keepalived"
)

// cmdConvert is `vrrpd convert [FILE]`: it reads a keepalived.conf from FILE, or from stdin
// without one (or with "-"), and writes the equivalent vrrpd TOML to stdout. What could not be
// carried over goes to stderr, one line each; that is not a failure. It exits 1 when the input
// cannot be read or parsed, and when the result does not validate, after writing it anyway, so
// that it can be fixed by hand. routerID, unless "", is the host converted for: it selects
// keepalived's @-prefixed lines, and is the result's global.router_id.
func cmdConvert(files []string, routerID string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, path := "stdin", ""
	if len(files) > 0 {
		path = files[0]
	}
	var src []byte
	var err error
	if path == "" || path == "-" {
		src, err = io.ReadAll(stdin)
	} else {
		name = path
		src, err = os.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vrrpd: %v\n", err)
		return 1
	}
	conv, err := keepalived.Convert(name, src, keepalived.Options{RouterID: routerID})
	if err != nil {
		fmt.Fprintf(stderr, "vrrpd: %v\n", err)
		return 1
	}
	for _, n := range conv.Notes {
		fmt.Fprintln(stderr, n)
	}
	if routerID != "" {
		conv.TOML = withRouterID(conv.TOML, routerID)
	}
	if _, err := stdout.Write(conv.TOML); err != nil {
		fmt.Fprintf(stderr, "vrrpd: %v\n", err)
		return 1
	}
	if _, err := configs.Parse(conv.TOML); err != nil {
		problems := configs.Problems(err)
		fmt.Fprintf(stderr, "vrrpd: the converted configuration has %d problem(s); it was written anyway, to be fixed by hand:\n", len(problems))
		for _, p := range problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return 1
	}
	return 0
}

// withRouterID sets global.router_id in a converted configuration. The converter writes [global]
// first, if at all, and router_id only there: so that line is replaced, or [global] gets one, or
// a [global] holding one goes before the first table and its comments.
func withRouterID(conv []byte, id string) []byte {
	// A TOML basic string: strconv.Quote's escapes are TOML's for what a router_id holds (its
	// \x and \U forms are not, but a name with control characters does not validate anyway).
	line := "router_id = " + strconv.Quote(id) + "\n"
	lines := strings.SplitAfter(string(conv), "\n")
	find := func(match func(string) bool) int { return slices.IndexFunc(lines, match) }
	if i := find(func(l string) bool { return strings.HasPrefix(l, "router_id = ") }); i >= 0 {
		lines[i] = line
	} else if i := find(func(l string) bool { return strings.TrimSpace(l) == "[global]" }); i >= 0 {
		lines[i] += line
	} else if i := find(func(l string) bool { return strings.HasPrefix(l, "[") }); i >= 0 {
		for i > 0 && strings.HasPrefix(lines[i-1], "#") { // the table's own comments
			i--
		}
		lines[i] = "[global]\n" + line + "\n" + lines[i]
	} else {
		lines = append(lines, "\n[global]\n"+line)
	}
	return []byte(strings.Join(lines, ""))
}
