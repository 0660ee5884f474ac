package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// The command line follows SPEC.md's conventions: `vrrpd help CMD`, `vrrpd CMD --help` and -h
// print the command's help to stdout and exit 0; a wrong flag or operand exits 2 with its usage on
// stderr. Flags are the standard library's: a flag library would add to the binary and to
// start-up for the little this file adds to it (flags anywhere among the operands, and usage
// written --flag).

// usageError is a command line that is wrong: exit 2, with the command's usage on stderr.
type usageError struct {
	cmd command // the command whose usage to print; none (name "") for the general usage
	msg string
}

func (e *usageError) Error() string { return e.msg }

// parse parses a command's arguments: its flags, which may come before, among or after the
// operands (up to a "--", after which everything is an operand), then the number of operands.
// It returns the operands and what runs the command with them and the flags' values, or
// flag.ErrHelp for -h or --help, or a *usageError for anything wrong.
func (c command) parse(args []string) ([]string, func([]string, stdio) int, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	exec := c.flags(fs)
	var ops []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, &usageError{c, oneLine(dashes.Replace(err.Error()))}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			ops = append(ops, rest...)
			break
		}
		ops, args = append(ops, rest[0]), rest[1:]
	}
	switch {
	case len(ops) < c.minArgs:
		return nil, nil, &usageError{c, fmt.Sprintf("missing %s", c.args)}
	case c.maxArgs >= 0 && len(ops) > c.maxArgs:
		return nil, nil, &usageError{c, fmt.Sprintf("unexpected argument %q", ops[c.maxArgs])}
	case c.operands == shellOperands && !isShell(ops[0]):
		return nil, nil, &usageError{c, fmt.Sprintf("unknown shell %q: want bash, zsh or fish", ops[0])}
	}
	return ops, exec, nil
}

// dashes writes the flag package's errors with the two dashes the usage shows: it names a flag
// with one ("flag provided but not defined: -x").
var dashes = strings.NewReplacer(": -", ": --", "for -", "for --", "for flag -", "for flag --")

// oneLine writes the control characters of an error as Go escapes ("\n"): the flag package
// quotes a bad value, but not a bad flag's name.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// flagHelp is one flag as the usage shows it.
type flagHelp struct {
	name, value, usage, def string // def: the default, "" if it is the zero value
}

// flagList is the command's flags, sorted by name.
func (c command) flagList() []flagHelp {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	var list []flagHelp
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f) // a boolean flag's value is ""
		def := f.DefValue
		switch def {
		case "", "false", "0", "0s":
			def = ""
		}
		list = append(list, flagHelp{f.Name, value, usage, def})
	})
	return list
}

// synopsis is the command's one-line usage: "vrrpd check [--config PATH] [--offline] [FILE...]".
func (c command) synopsis() string {
	s := "vrrpd " + c.name
	for _, f := range c.flagList() {
		if f.value == "" {
			s += " [--" + f.name + "]"
		} else {
			s += " [--" + f.name + " " + f.value + "]"
		}
	}
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// writeFlags writes the flag table, -h and --help last.
func (c command) writeFlags(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range c.flagList() {
		name := "--" + f.name
		if f.value != "" {
			name += " " + f.value
		}
		usage := strings.ReplaceAll(f.usage, "\n", "\n\t")
		if f.def != "" {
			usage += " (default " + f.def + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	}
	fmt.Fprintf(tw, "  -h, --help\tshow this help\n")
	tw.Flush()
}

// writeUsage is what a wrong command line gets on stderr.
func (c command) writeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", c.synopsis())
	c.writeFlags(w)
	fmt.Fprintf(w, "\nRun 'vrrpd help %s' for more.\n", c.name)
}

// writeHelp is `vrrpd help NAME`: synopsis, what it does, flags and examples.
func (c command) writeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", c.synopsis(), c.help)
	c.writeFlags(w)
	fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(c.example, "\n", "\n  "))
}

// writeGeneralUsage lists the commands.
func writeGeneralUsage(w io.Writer) {
	fmt.Fprint(w, "vrrpd: VRRP high-availability daemon\n\nUsage:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range visibleCommands() {
		fmt.Fprintf(tw, "  vrrpd %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nRun 'vrrpd help COMMAND' for a command's flags and an example, and see vrrpd(8) and\nvrrpd.toml(5) for everything.\n")
}

// cmdHelp is `vrrpd help [COMMAND]`.
func cmdHelp(names []string, stdout, stderr io.Writer) int {
	if len(names) == 0 {
		writeGeneralUsage(stdout)
		return 0
	}
	c, ok := lookup(names[0])
	if !ok || c.hidden {
		return usageFailed(&usageError{msg: fmt.Sprintf("unknown command %q", names[0])}, stderr)
	}
	c.writeHelp(stdout)
	return 0
}

// usageFailed prints a wrong command line's error and the usage that applies, and returns 2.
func usageFailed(e *usageError, stderr io.Writer) int {
	if e.cmd.name == "" {
		fmt.Fprintf(stderr, "vrrpd: %s\n\n", e.msg)
		writeGeneralUsage(stderr)
	} else {
		fmt.Fprintf(stderr, "vrrpd %s: %s\n\n", e.cmd.name, e.msg)
		e.cmd.writeUsage(stderr)
	}
	return 2
}
