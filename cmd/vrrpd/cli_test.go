package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// With VRRPD_TEST_MAIN=1 the test binary is vrrpd itself: the completion tests run it as the
// program the scripts call back.
func TestMain(m *testing.M) {
	if os.Getenv("VRRPD_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// vrrpdCLI runs a command line as main does.
func vrrpdCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// SPEC.md's conventions: `vrrpd help CMD`, `vrrpd CMD --help` and `vrrpd CMD -h` print the same
// help to stdout and exit 0: the synopsis, every flag written --flag, and an example.
func TestHelp(t *testing.T) {
	singleDash := regexp.MustCompile(`(^|[\s\[])-[a-z][a-z-]+`)
	for _, c := range visibleCommands() {
		t.Run(c.name, func(t *testing.T) {
			code, want, stderr := vrrpdCLI("help", c.name)
			if code != 0 || stderr != "" {
				t.Fatalf("vrrpd help %s: exit %d, stderr %q", c.name, code, stderr)
			}
			for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {c.name, "-help"}} {
				code, got, stderr := vrrpdCLI(args...)
				if code != 0 || stderr != "" || got != want {
					t.Errorf("vrrpd %s: exit %d, stderr %q, and stdout differs from vrrpd help %s:\n%s", strings.Join(args, " "), code, stderr, c.name, got)
				}
			}
			_, example, _ := strings.Cut(want, "\nExample:\n  ")
			if !strings.HasPrefix(want, "Usage: "+c.synopsis()+"\n") || !strings.Contains(example, "vrrpd "+c.name) {
				t.Errorf("help lacks the synopsis or an example:\n%s", want)
			}
			for _, f := range c.flagList() {
				if !strings.Contains(want, "\n  --"+f.name+" ") && !strings.Contains(want, "[--"+f.name) {
					t.Errorf("help lacks --%s:\n%s", f.name, want)
				}
			}
			if m := singleDash.FindString(want); m != "" {
				t.Errorf("help writes a flag with one dash (%q):\n%s", m, want)
			}
		})
	}
}

// The synopses are SPEC.md's, built from the flags each command defines.
func TestSynopses(t *testing.T) {
	var got []string
	for _, c := range visibleCommands() {
		got = append(got, c.synopsis())
	}
	want := []string{
		"vrrpd run [--config PATH] [--socket PATH]",
		"vrrpd status [--json] [--socket PATH] [INSTANCE...]",
		"vrrpd check [--config PATH] [--offline] [FILE...]",
		"vrrpd convert [--router-id NAME] [FILE]",
		"vrrpd drain [--force] [--socket PATH] [--timeout D] [INSTANCE...]",
		"vrrpd undrain [--socket PATH] [INSTANCE...]",
		"vrrpd demo [--interval D] [--keep-logs]",
		"vrrpd completion bash|zsh|fish",
		"vrrpd version",
		"vrrpd help [COMMAND]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("synopses (-want +got):\n%s", diff)
	}
}

func TestGeneralUsage(t *testing.T) {
	code, stdout, stderr := vrrpdCLI()
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "vrrpd: VRRP high-availability daemon\n") {
		t.Errorf("vrrpd alone: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, stdout, stderr)
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, stderr := vrrpdCLI(args...)
		if code != 0 || stderr != "" {
			t.Errorf("vrrpd %s: exit %d, stderr %q", args[0], code, stderr)
		}
		for _, c := range commandTable() {
			if listed := strings.Contains(stdout, "\n  vrrpd "+c.name+" "); listed == c.hidden {
				t.Errorf("vrrpd %s: %s listed %v, want %v:\n%s", args[0], c.name, listed, !c.hidden, stdout)
			}
		}
	}
}

// A wrong command line exits 2 with the error and the command's usage on stderr, and nothing
// on stdout; nothing runs.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args  []string
		msg   string // the first line of stderr
		usage string // the command whose usage follows; "" for the general usage
	}{
		{[]string{"frobnicate"}, `vrrpd: unknown command "frobnicate"`, ""},
		{[]string{"help", "frobnicate"}, `vrrpd: unknown command "frobnicate"`, ""},
		{[]string{"help", "__complete"}, `vrrpd: unknown command "__complete"`, ""},
		{[]string{"help", "run", "check"}, `vrrpd help: unexpected argument "check"`, "help"},
		{[]string{"run", "--bogus"}, "vrrpd run: flag provided but not defined: --bogus", "run"},
		{[]string{"run", "-config"}, "vrrpd run: flag needs an argument: --config", "run"},
		{[]string{"run", "/etc/vrrpd/vrrpd.toml"}, `vrrpd run: unexpected argument "/etc/vrrpd/vrrpd.toml"`, "run"},
		{[]string{"status", "--json=maybe"}, `vrrpd status: invalid boolean value "maybe" for --json: parse error`, "status"},
		{[]string{"drain", "--timeout", "soon"}, `vrrpd drain: invalid value "soon" for flag --timeout: parse error`, "drain"},
		{[]string{"convert", "a.conf", "b.conf"}, `vrrpd convert: unexpected argument "b.conf"`, "convert"},
		{[]string{"demo", "now"}, `vrrpd demo: unexpected argument "now"`, "demo"},
		{[]string{"version", "--short"}, "vrrpd version: flag provided but not defined: --short", "version"},
		{[]string{"version", "2"}, `vrrpd version: unexpected argument "2"`, "version"},
		{[]string{"completion"}, "vrrpd completion: missing bash|zsh|fish", "completion"},
		{[]string{"completion", "tcsh"}, `vrrpd completion: unknown shell "tcsh": want bash, zsh or fish`, "completion"},
		{[]string{"completion", "bash", "zsh"}, `vrrpd completion: unexpected argument "zsh"`, "completion"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := vrrpdCLI(tt.args...)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			first, rest, _ := strings.Cut(stderr, "\n")
			if first != tt.msg {
				t.Errorf("stderr starts %q, want %q", first, tt.msg)
			}
			var usage bytes.Buffer
			if c, ok := lookup(tt.usage); ok {
				c.writeUsage(&usage)
			} else {
				writeGeneralUsage(&usage)
			}
			if rest != "\n"+usage.String() {
				t.Errorf("after the error, stderr is\n%s\nwant the usage\n%s", rest, usage.String())
			}
		})
	}
}

// Flags may come before, among and after the operands, and "--" ends them.
func TestParse(t *testing.T) {
	type got struct {
		Ops  []string
		B    bool
		S    string
		Code int
	}
	var last got
	c := command{name: "x", args: "[FILE...]", maxArgs: -1, flags: func(fs *flag.FlagSet) func([]string, stdio) int {
		b := fs.Bool("b", false, "a boolean")
		s := fs.String("s", "", "a `PATH`")
		return func(ops []string, _ stdio) int {
			last = got{Ops: ops, B: *b, S: *s}
			return 0
		}
	}}
	for _, tt := range []struct {
		args []string
		want got
	}{
		{nil, got{}},
		{[]string{"a", "--b", "b"}, got{Ops: []string{"a", "b"}, B: true}},
		{[]string{"-b", "a", "-s", "p", "b"}, got{Ops: []string{"a", "b"}, B: true, S: "p"}},
		{[]string{"a", "--s=p", "b", "--b=false"}, got{Ops: []string{"a", "b"}, S: "p"}},
		{[]string{"--", "--b", "-"}, got{Ops: []string{"--b", "-"}}},
		{[]string{"a", "--", "--s", "p"}, got{Ops: []string{"a", "--s", "p"}}},
		{[]string{"--", "a", "--b"}, got{Ops: []string{"a", "--b"}}},
		{[]string{"-", "--b"}, got{Ops: []string{"-"}, B: true}},
	} {
		last = got{Code: -1}
		ops, exec, err := c.parse(tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		exec(ops, stdio{})
		if diff := cmp.Diff(tt.want, last); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.args, diff)
		}
	}
}

// check takes FILE operands, each checked as --config would be, alongside --config only when
// that is given; --offline reaches it wherever it is. The files run a hook that does not exist,
// which only a check on the host finds.
func TestCheckArguments(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	conf := func(name string, prio int) {
		text := fmt.Sprintf("[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\npriority = %d\nvips = [\"10.0.4.99/24\"]\n[instance.notify]\nmaster = [\"%s/none.sh\"]\n", prio, dir)
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf("a.toml", 110)
	conf("b.toml", 100)
	conf("-c.toml", 90)
	valid := func(names ...string) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s is valid: 1 instance(s), 0 check(s), 0 sync group(s)\n", n)
		}
		return b.String()
	}
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"a.toml", "--offline", "b.toml"}, 0, valid("a.toml", "b.toml") + "a.toml, b.toml work together as the hosts of one LAN\n"},
		{[]string{"--offline", "b.toml", "--config", "a.toml"}, 0, valid("a.toml", "b.toml") + "a.toml, b.toml work together as the hosts of one LAN\n"},
		{[]string{"--offline", "--config", "a.toml"}, 0, valid("a.toml")},
		{[]string{"--offline", "--", "-c.toml"}, 0, valid("-c.toml")},
		{[]string{"--offline", "a.toml", "a.toml", "./a.toml"}, 0, valid("a.toml")},
		{[]string{"a.toml"}, 1, ""},
	} {
		code, stdout, stderr := vrrpdCLI(append([]string{"check"}, tt.args...)...)
		if code != tt.code || stdout != tt.stdout {
			t.Errorf("check %q: exit %d, stdout:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s", tt.args, code, stdout, tt.code, tt.stdout, stderr)
		}
	}
}

// `vrrpd version` prints the stamped version when the packaging stamped one; a test binary has
// no module version and no VCS information.
func TestVersion(t *testing.T) {
	if code, stdout, _ := vrrpdCLI("version"); code != 0 || stdout != "vrrpd devel\n" {
		t.Errorf("unstamped: exit %d, %q", code, stdout)
	}
	defer func(old string) { stamped = old }(stamped)
	stamped = "1.2.0~rc1"
	if code, stdout, _ := vrrpdCLI("--version"); code != 0 || stdout != "vrrpd 1.2.0~rc1\n" {
		t.Errorf("stamped: exit %d, %q", code, stdout)
	}
	for v, pseudo := range map[string]bool{
		"v1.2.0":                             false,
		"v1.2.0-rc.1":                        false,
		"v0.0.0-20261204191600-116b77e8a1b2": true,
		"v0.0.0-20261204191600-116b77e8a1b2+dirty":  true,
		"v1.2.1-0.20261204191600-116b77e8a1b2":      true,
		"v1.2.0-rc.1.0.20261204191600-116b77e8a1b2": true,
	} {
		if got := pseudoVersion.MatchString(v); got != pseudo {
			t.Errorf("%s: pseudo-version %v, want %v", v, got, pseudo)
		}
	}
}

// FuzzCommandLine feeds every command arbitrary arguments (NUL-separated in the input). Parsing
// runs nothing. It never panics, and it either fails as a wrong command line (exit 2, with a
// one-line message) or asks for help, or yields operands within the command's bounds, taken in
// order from the arguments.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{"", "--help", "a\x00--offline\x00b", "--config\x00x\x00--\x00-y", "--timeout=1s\x00--force\x00VI_1",
		"bash", "--json=maybe", "-", "---x", "--=x", "-s\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		args := strings.Split(input, "\x00")
		for _, c := range commandTable() {
			ops, exec, err := c.parse(args)
			var usage *usageError
			switch {
			case errors.Is(err, flag.ErrHelp):
			case errors.As(err, &usage):
				if usage.msg == "" || strings.Contains(usage.msg, "\n") || usage.cmd.name != c.name {
					t.Errorf("%s %q: usage error %q for %q", c.name, args, usage.msg, usage.cmd.name)
				}
			case err != nil:
				t.Errorf("%s %q: unexpected error %v", c.name, args, err)
			case exec == nil || len(ops) < c.minArgs || c.maxArgs >= 0 && len(ops) > c.maxArgs:
				t.Errorf("%s %q: %d operands, want %d to %d", c.name, args, len(ops), c.minArgs, c.maxArgs)
			default:
				rest := args
				for _, op := range ops {
					i := slices.Index(rest, op)
					if i < 0 {
						t.Fatalf("%s %q: operand %q is not among the arguments, in order", c.name, args, op)
					}
					rest = rest[i+1:]
				}
			}
		}
	})
}
