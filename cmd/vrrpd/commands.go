package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/configs"
)

// stdio is what a command reads and writes.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// operands says what a command's positional arguments are, for shell completion.
type operands int

const (
	noOperands operands = iota
	fileOperands
	instanceOperands // names of the running daemon's instances
	commandOperands  // names of vrrpd's commands
	shellOperands    // bash, zsh, fish
)

// A command is one subcommand of vrrpd. commandTable is the one list of them that dispatch, the
// usage, `vrrpd help`, shell completion and the manual page's test all read.
type command struct {
	name     string
	args     string   // the operands in the synopsis: "[FILE...]", "bash|zsh|fish"
	minArgs  int      // how many operands it needs
	maxArgs  int      // how many it takes at most; -1: any number
	operands operands // what completion offers for them
	summary  string   // one line in the general usage
	help     string   // what `vrrpd help NAME` says it does, wrapped at 100 columns
	example  string   // example command lines, one per line
	hidden   bool     // left out of the usage, help and completion

	// flags defines the command's flags on fs. It returns what runs the command with their
	// values and the operands, once the command line is parsed.
	flags func(fs *flag.FlagSet) func(operands []string, io stdio) int
}

// commandTable is every command, in the order the usage lists them. (A function, not a variable:
// help and completion read the table from inside it.)
func commandTable() []command {
	return []command{
		{
			name: "run", maxArgs: 0,
			summary: "run the daemon in the foreground",
			help: `Runs the daemon in the foreground and logs to stderr. It never forks itself, so systemd,
containers and supervisors can manage it. SIGTERM or SIGINT stops it gracefully, SIGHUP reloads
the configuration.`,
			example: "vrrpd run --config /etc/vrrpd/lb1.toml",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				path := fs.String("config", configs.DefaultPath, "read the configuration from `PATH`")
				socket := fs.String("socket", "", "the control socket at `PATH` (overrides global.socket)")
				return func(_ []string, io stdio) int { return cmdRun(*path, *socket, io.err) }
			},
		},
		{
			name: "status", args: "[INSTANCE...]", maxArgs: -1, operands: instanceOperands,
			summary: "show what the running daemon's instances are doing",
			help: `Shows the running daemon's instances, or only those named: a table by default, or a stable JSON
document with --json. It exits 1 if no daemon answers, or if it has no instance of a name given.`,
			example: "vrrpd status\nvrrpd status --json VI_1",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				socket := socketFlag(fs)
				asJSON := fs.Bool("json", false, "print a JSON document instead of a table")
				return func(names []string, io stdio) int { return cmdStatus(*socket, *asJSON, names, io.out, io.err) }
			},
		},
		{
			name: "check", args: "[FILE...]", maxArgs: -1, operands: fileOperands,
			summary: "validate configurations, alone and as a pair",
			help: `Validates each FILE (without one, the --config file) the same way run does, and prints every
problem at once, each with where it is. On this host it also warns about what would break
failover here: a missing interface, no address to advertise from, sysctls known to break a VIP.
Two or more files are also checked as the hosts of one LAN: for each VRID the same version,
interval, VIPs and password; priorities that differ; preemption that makes sense; and tracker
weights that can move the VIP. It exits 1 on a problem; warnings alone exit 0.`,
			example: "vrrpd check\nvrrpd check --offline lb1.toml lb2.toml",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				path := fs.String("config", configs.DefaultPath, "check `PATH`, besides any FILE")
				offline := fs.Bool("offline", false, "check each file alone, without this host: no program, user,\ninterface, sysctl or permission checks (for CI pipelines)")
				return func(files []string, io stdio) int {
					o := checkOptions{files: files, offline: *offline}
					if len(files) == 0 || flagSet(fs, "config") {
						o.files = append([]string{*path}, files...)
					}
					return cmdCheck(o, io.out, io.err)
				}
			},
		},
		{
			name: "convert", args: "[FILE]", maxArgs: 1, operands: fileOperands,
			summary: "convert a keepalived.conf to vrrpd TOML",
			help: `Reads a keepalived.conf from FILE, or from stdin without one (or with -), and writes the
equivalent vrrpd TOML to stdout. What it cannot carry over goes to stderr, one line each. It
exits 1 if the input cannot be read, or the result does not validate (it is written anyway).`,
			example: "vrrpd convert /etc/keepalived/keepalived.conf > /etc/vrrpd/vrrpd.toml",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				routerID := fs.String("router-id", "", "set global.router_id to `NAME` (default: keepalived's router_id,\nelse the host's name where vrrpd runs)")
				return func(files []string, io stdio) int { return cmdConvert(files, *routerID, io.in, io.out, io.err) }
			},
		},
		{
			name: "drain", args: "[INSTANCE...]", maxArgs: -1, operands: instanceOperands,
			summary: "hand the named instances (all without one) to another host",
			help: `Takes this host out of service for the named instances, or all of them: each advertises priority
1, and a master keeps its VIPs until another router has taken over (make-before-break). It
returns once every instance is BACKUP under another master. If none took over within --timeout,
it exits 1 and leaves the instance drained and still serving. A drain lasts across restarts
until undrain.`,
			example: "vrrpd drain VI_1\nvrrpd drain --timeout 30s --force",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				socket := socketFlag(fs)
				timeout := fs.Duration("timeout", 0, "give up after `D` (default: three Master_Down_Intervals)")
				force := fs.Bool("force", false, "yield at once with priority 0, without waiting for another router to take over")
				return func(names []string, io stdio) int {
					return cmdDrain(drainOptions{socket: *socket, timeout: *timeout, force: *force, instances: names}, io.out, io.err, false)
				}
			},
		},
		{
			name: "undrain", args: "[INSTANCE...]", maxArgs: -1, operands: instanceOperands,
			summary: "end a drain",
			help: `Ends the drain of the named instances, or of all: their priority returns to what the
configuration and trackers say, and preemption applies as usual.`,
			example: "vrrpd undrain VI_1",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				socket := socketFlag(fs)
				return func(names []string, io stdio) int {
					return cmdDrain(drainOptions{socket: *socket, instances: names}, io.out, io.err, true)
				}
			},
		},
		{
			name: "demo", maxArgs: 0,
			summary: "fail a VIP over between two daemons in namespaces (root)",
			help: `Needs root. Builds a throwaway LAN in network namespaces (two nodes and a client), runs two real
vrrpd daemons that share a VIP, shows their status, fails the master three ways, prints how long
the client lost the VIP each time, and cleans up.`,
			example: "sudo vrrpd demo --interval 100ms",
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				interval := fs.Duration("interval", time.Second, "the advert_interval of the two daemons (VRRPv3), a duration `D`")
				keep := fs.Bool("keep-logs", false, "keep the daemons' logs and configurations after the demo")
				return func(_ []string, io stdio) int { return cmdDemo(*interval, *keep, io.out, io.err) }
			},
		},
		{
			name: "completion", args: "bash|zsh|fish", minArgs: 1, maxArgs: 1, operands: shellOperands,
			summary: "print a shell completion script",
			help: `Prints a completion script for bash, zsh or fish: commands, flags, files, and the running
daemon's instance names for status, drain and undrain. Packages install them; by hand, load one
from a shell's startup file.`,
			example: "source <(vrrpd completion bash)\nvrrpd completion fish > ~/.config/fish/completions/vrrpd.fish",
			flags: func(*flag.FlagSet) func([]string, stdio) int {
				return func(shell []string, io stdio) int { return cmdCompletion(shell[0], io.out, io.err) }
			},
		},
		{
			name: "version", maxArgs: 0,
			summary: "print the version",
			help:    `Prints vrrpd's version and the revision it was built from.`,
			example: "vrrpd version",
			flags: func(*flag.FlagSet) func([]string, stdio) int {
				return func(_ []string, io stdio) int {
					fmt.Fprintln(io.out, versionLine())
					return 0
				}
			},
		},
		{
			name: "help", args: "[COMMAND]", maxArgs: 1, operands: commandOperands,
			summary: "show a command's help, or this list",
			help:    `Shows what COMMAND does, its flags and an example; without one, the list of commands.`,
			example: "vrrpd help check",
			flags: func(*flag.FlagSet) func([]string, stdio) int {
				return func(names []string, io stdio) int { return cmdHelp(names, io.out, io.err) }
			},
		},
		{
			// `vrrpd __handover-version`: what a running daemon asks before it restarts into this
			// binary (SIGUSR2): the handover's format this binary reads.
			name: "__handover-version", maxArgs: 0, hidden: true,
			flags: func(*flag.FlagSet) func([]string, stdio) int {
				return func(_ []string, io stdio) int {
					fmt.Fprintln(io.out, handoverVersion)
					return 0
				}
			},
		},
		{
			// `vrrpd __complete instances [--socket PATH]`: what the completion scripts run.
			name: "__complete", args: "instances", minArgs: 1, maxArgs: 1, hidden: true,
			flags: func(fs *flag.FlagSet) func([]string, stdio) int {
				socket := socketFlag(fs)
				return func(what []string, io stdio) int { return cmdComplete(what[0], *socket, io.out, io.err) }
			},
		},
	}
}

// socketFlag is --socket for the commands that talk to the running daemon.
func socketFlag(fs *flag.FlagSet) *string {
	return fs.String("socket", defaultSocket, "ask the daemon on the control socket at `PATH`")
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// visibleCommands is the table without the hidden commands: what usage, help and completion show.
func visibleCommands() []command {
	return slices.DeleteFunc(commandTable(), func(c command) bool { return c.hidden })
}

// lookup finds a command by name; hidden ones too.
func lookup(name string) (command, bool) {
	for _, c := range commandTable() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// drainOptions is what `vrrpd drain` and `vrrpd undrain` were given.
type drainOptions struct {
	socket    string        // the daemon's control socket
	timeout   time.Duration // drain: give up after this; 0: three Master_Down_Intervals
	force     bool          // drain: yield at once with priority 0
	instances []string      // the instances to drain or undrain; none: all
}
