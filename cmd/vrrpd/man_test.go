package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestManualHasEveryCommand checks vrrpd(8) against the command table, so the two cannot
// drift: every command is in the SYNOPSIS and has an ".It Cm NAME" entry in the list of commands,
// and that entry documents exactly the command's flags, each an ".It Fl -FLAG" entry.
func TestManualHasEveryCommand(t *testing.T) {
	page, err := os.ReadFile("../../configs/man/vrrpd.8")
	if err != nil {
		t.Fatal(err)
	}
	synopsis, commands := manualCommands(string(page))
	for _, c := range visibleCommands() {
		if !slices.Contains(synopsis, c.name) {
			t.Errorf("vrrpd(8)'s SYNOPSIS lacks %s", c.name)
		}
		flags, ok := commands[c.name]
		if !ok {
			t.Errorf("vrrpd(8) has no entry for %s", c.name)
			continue
		}
		want := []string{}
		for _, f := range c.flagList() {
			want = append(want, f.name)
		}
		if diff := cmp.Diff(want, flags); diff != "" {
			t.Errorf("vrrpd(8)'s flags of %s (-table +page):\n%s", c.name, diff)
		}
	}
	for name := range commands {
		if c, ok := lookup(name); !ok || c.hidden {
			t.Errorf("vrrpd(8) documents %s, which is no command", name)
		}
	}
}

// manualCommands reads vrrpd(8): the commands its SYNOPSIS names (".Cm NAME" after ".Nm"), and
// for each ".It Cm NAME" entry of the DESCRIPTION's outer list, the flags of the list inside it.
func manualCommands(page string) (synopsis []string, commands map[string][]string) {
	commands = map[string][]string{}
	section, depth, current := "", 0, ""
	for line := range strings.Lines(page) {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == ".Sh":
			section, depth = strings.Join(f[1:], " "), 0
		case section == "SYNOPSIS" && f[0] == ".Cm" && len(f) > 1:
			synopsis = append(synopsis, f[1])
		case section != "DESCRIPTION":
		case f[0] == ".Bl":
			depth++
		case f[0] == ".El":
			depth--
		case f[0] == ".It" && len(f) > 2 && depth == 1 && f[1] == "Cm":
			current = f[2]
			commands[current] = []string{}
		case f[0] == ".It" && len(f) > 2 && depth == 2 && f[1] == "Fl" && current != "":
			commands[current] = append(commands[current], strings.TrimPrefix(f[2], "-"))
		}
	}
	for _, flags := range commands {
		slices.Sort(flags)
	}
	return synopsis, commands
}
