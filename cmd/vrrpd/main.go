// Command vrrpd is a VRRP (RFC 3768, RFC 5798, RFC 9568) high-availability daemon: two or more
// hosts share virtual IP addresses, and when the master dies another takes them over within the
// RFC's timing. See README.md.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

const usage = `vrrpd: VRRP high-availability daemon

Usage:
  vrrpd run [--config PATH] [--socket PATH]   run the daemon in the foreground
  vrrpd status [--socket PATH] [--json]        show what the running daemon's instances are doing
  vrrpd check [--config PATH]                  validate a configuration
  vrrpd convert [FILE]                         convert a keepalived.conf (FILE or stdin) to vrrpd TOML
  vrrpd demo                                   fail a VIP over between two daemons in namespaces (root)
  vrrpd version                                print the version
`

// defaultSocket is global.socket's default: `vrrpd status` asks there without a config.
const defaultSocket = "/run/vrrpd/vrrpd.sock"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return cmdRun(rest, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "convert":
		return cmdConvert(rest, stdin, stdout, stderr)
	case "drain", "undrain":
		return cmdDrain(rest, cmd == "undrain", stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "__handover-version": // asked by a running daemon before it restarts into this binary
		fmt.Fprintln(stdout, handoverVersion)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "vrrpd", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vrrpd: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// version is the module version, or the VCS revision of a development build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		return "devel-" + rev[:min(12, len(rev))] + dirty
	}
	if v == "" {
		return "(devel)"
	}
	return v
}
