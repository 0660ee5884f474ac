package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// The completion scripts are written from the command table, so they offer what the parser
// accepts: the commands, each one's flags, files for a flag whose value is a PATH and for check's
// and convert's operands, and the running daemon's instance names for status, drain and undrain,
// which the scripts get from the hidden `vrrpd __complete instances [--socket PATH]`.

var shells = []string{"bash", "zsh", "fish"}

func isShell(s string) bool { return slices.Contains(shells, s) }

// cmdCompletion is `vrrpd completion bash|zsh|fish`.
func cmdCompletion(shell string, stdout, stderr io.Writer) int {
	var script string
	switch shell {
	case "bash":
		script = bashCompletion()
	case "zsh":
		script = zshCompletion()
	case "fish":
		script = fishCompletion()
	}
	if _, err := io.WriteString(stdout, script); err != nil {
		fmt.Fprintln(stderr, "vrrpd completion:", err)
		return 1
	}
	return 0
}

// cmdComplete is `vrrpd __complete instances`: the running daemon's instance names, one a line.
// A completion must not complain, so no daemon, or any other failure, prints nothing and exits 0.
func cmdComplete(what, socket string, stdout, stderr io.Writer) int {
	if what != "instances" {
		fmt.Fprintf(stderr, "vrrpd __complete: unknown %q: want instances\n", what)
		return 2
	}
	resp, err := askDaemon(socket, request{Command: "status"})
	if err != nil || resp.Status == nil {
		return 0
	}
	for _, in := range resp.Status.Instances {
		fmt.Fprintln(stdout, in.Name)
	}
	return 0
}

// takesPath reports whether a flag's value is a path, to complete with file names.
func (f flagHelp) takesPath() bool { return f.value == "PATH" }

// about is a flag's description on one line, without its default.
func (f flagHelp) about() string { return strings.Join(strings.Fields(f.usage), " ") }

func commandNames() string {
	var names []string
	for _, c := range visibleCommands() {
		names = append(names, c.name)
	}
	return strings.Join(names, " ")
}

// bashCompletion is the script for bash, which completes words with compgen.
func bashCompletion() string {
	var cases strings.Builder
	for _, c := range visibleCommands() {
		var flags, valued, paths []string
		for _, f := range c.flagList() {
			flags = append(flags, "--"+f.name)
			if f.value != "" {
				valued = append(valued, "--"+f.name)
			}
			if f.takesPath() {
				paths = append(paths, "--"+f.name)
			}
		}
		flags = append(flags, "--help")
		fmt.Fprintf(&cases, "\t%s) flags='%s' valued=' %s ' paths=' %s ' operands=%s ;;\n",
			c.name, strings.Join(flags, " "), strings.Join(valued, " "), strings.Join(paths, " "), c.operands)
	}
	return `# bash completion for vrrpd                                   -*- shell-script -*-
# Written by ` + "`vrrpd completion bash`" + `; load it with: source <(vrrpd completion bash)

_vrrpd() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local flags valued paths operands
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W '` + commandNames() + `' -- "$cur"))
		return
	fi
	case ${COMP_WORDS[1]} in
` + cases.String() + `	*) return ;;
	esac
	# The value of a flag: a file name for a PATH, nothing to offer for the others.
	if [[ $valued == *" $prev "* ]]; then
		if [[ $paths == *" $prev "* ]]; then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	case $operands in
	files)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	instances)
		# Ask the daemon this command line would ask: the same binary, the same --socket.
		local i socket=()
		for ((i = 2; i < COMP_CWORD - 1; i++)); do
			if [[ ${COMP_WORDS[i]} == --socket ]]; then
				socket=(--socket "${COMP_WORDS[i + 1]}")
			fi
		done
		COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete instances "${socket[@]}" 2>/dev/null)" -- "$cur"))
		;;
	commands) COMPREPLY=($(compgen -W '` + commandNames() + `' -- "$cur")) ;;
	shells) COMPREPLY=($(compgen -W '` + strings.Join(shells, " ") + `' -- "$cur")) ;;
	esac
}
complete -F _vrrpd vrrpd
`
}

// String is how the bash script names what operands are.
func (o operands) String() string {
	switch o {
	case fileOperands:
		return "files"
	case instanceOperands:
		return "instances"
	case commandOperands:
		return "commands"
	case shellOperands:
		return "shells"
	}
	return "none"
}

// zshCompletion is the script for zsh's completion system, which describes each command's
// arguments to _arguments.
func zshCompletion() string {
	var commands, cases strings.Builder
	for _, c := range visibleCommands() {
		fmt.Fprintf(&commands, "\t\t%s\n", shQuote(c.name+":"+c.summary))
		specs := []string{shQuote("(- *)") + "{-h,--help}" + shQuote("[show the help]")}
		for _, f := range c.flagList() {
			spec := "--" + f.name + "[" + zshEscape(f.about()) + "]"
			switch {
			case f.takesPath():
				spec += ":" + strings.ToLower(f.value) + ":_files"
			case f.value != "":
				spec += ":" + strings.ToLower(f.value) + ": "
			}
			specs = append(specs, shQuote(spec))
		}
		switch c.operands {
		case fileOperands:
			specs = append(specs, shQuote("*:file:_files"))
		case instanceOperands:
			specs = append(specs, shQuote("*:instance:_vrrpd_instances"))
		case commandOperands:
			specs = append(specs, shQuote(":command:("+commandNames()+")"))
		case shellOperands:
			specs = append(specs, shQuote(":shell:("+strings.Join(shells, " ")+")"))
		}
		fmt.Fprintf(&cases, "\t%s)\n\t\t_arguments -S \\\n\t\t\t%s\n\t\t;;\n", c.name, strings.Join(specs, " \\\n\t\t\t"))
	}
	return `#compdef vrrpd
# zsh completion for vrrpd, written by ` + "`vrrpd completion zsh`" + `. Install it as _vrrpd in a
# directory of $fpath, or load it with: source <(vrrpd completion zsh)

# The running daemon's instances, from the daemon the command line would ask: the same binary,
# the same --socket.
_vrrpd_instances() {
	local -a socket names
	local i
	for ((i = 2; i < CURRENT; i++)); do
		[[ ${words[i]} == --socket ]] && socket=(--socket ${words[i+1]})
	done
	names=(${(f)"$(_call_program instances $_vrrpd_binary __complete instances $socket 2>/dev/null)"})
	_describe -t instances 'instance' names
}

_vrrpd() {
	local _vrrpd_binary=${words[1]}
	local -a commands
	commands=(
` + commands.String() + `	)
	if ((CURRENT == 2)); then
		_describe -t commands 'vrrpd command' commands
		return
	fi
	# From here on the command is the word _arguments describes the arguments of.
	shift words
	((CURRENT--))
	case ${words[1]} in
` + cases.String() + `	esac
}

# Autoloaded from $fpath, this file is the first call of _vrrpd; sourced, it registers it.
if [[ $funcstack[1] == _vrrpd ]]; then
	_vrrpd "$@"
else
	compdef _vrrpd vrrpd
fi
`
}

// zshEscape escapes what an _arguments description must not hold unescaped.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
}

// shQuote quotes s as one word of sh, zsh or fish, in single quotes.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishCompletion is the script for fish, a list of `complete` commands with conditions.
func fishCompletion() string {
	var b strings.Builder
	for _, c := range visibleCommands() {
		fmt.Fprintf(&b, "complete -c vrrpd -n __vrrpd_needs_command -a %s -d %s\n", c.name, shQuote(c.summary))
	}
	for _, c := range visibleCommands() {
		cond := shQuote("__vrrpd_command_is " + c.name)
		for _, f := range c.flagList() {
			opts := ""
			switch {
			case f.takesPath():
				opts = " -r -F"
			case f.value != "":
				opts = " -x"
			}
			fmt.Fprintf(&b, "complete -c vrrpd -n %s -l %s%s -d %s\n", cond, f.name, opts, shQuote(f.about()))
		}
		fmt.Fprintf(&b, "complete -c vrrpd -n %s -s h -l help -d 'show the help'\n", cond)
		switch c.operands {
		case fileOperands:
			fmt.Fprintf(&b, "complete -c vrrpd -n %s -F\n", cond)
		case instanceOperands:
			fmt.Fprintf(&b, "complete -c vrrpd -n %s -a '(__vrrpd_instances)'\n", cond)
		case commandOperands:
			fmt.Fprintf(&b, "complete -c vrrpd -n %s -a %s\n", cond, shQuote(commandNames()))
		case shellOperands:
			fmt.Fprintf(&b, "complete -c vrrpd -n %s -a %s\n", cond, shQuote(strings.Join(shells, " ")))
		}
	}
	return `# fish completion for vrrpd, written by ` + "`vrrpd completion fish`" + `. Install it as
# ~/.config/fish/completions/vrrpd.fish, or load it with: vrrpd completion fish | source

function __vrrpd_needs_command
	test (count (commandline -opc)) -eq 1
end

function __vrrpd_command_is
	set -l tokens (commandline -opc)
	test (count $tokens) -ge 2; and contains -- $tokens[2] $argv
end

# The running daemon's instances, from the daemon the command line would ask: the same binary,
# the same --socket.
function __vrrpd_instances
	set -l tokens (commandline -opc)
	set -l socket
	for i in (seq 2 (math (count $tokens) - 1))
		if test "$tokens[$i]" = --socket
			set socket --socket $tokens[(math $i + 1)]
		end
	end
	$tokens[1] __complete instances $socket 2>/dev/null
end

# Files only where a command takes them.
complete -c vrrpd -f
` + b.String()
}
