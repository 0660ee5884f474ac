// Command vrrpd is a VRRP (RFC 3768, RFC 5798, RFC 9568) high-availability daemon: two or more
// hosts share virtual IP addresses, and when the master dies another takes them over within the
// RFC's timing. See README.md, vrrpd(8) and vrrpd.toml(5).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
)

// defaultSocket is global.socket's default: `vrrpd status` asks there without a config.
const defaultSocket = "/run/vrrpd/vrrpd.sock"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code: 0 success, 1 what was asked about
// is wrong, 2 the command line is wrong.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeGeneralUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help":
		name = "help"
	case "--version":
		name = "version"
	}
	c, ok := lookup(name)
	if !ok {
		return usageFailed(&usageError{msg: fmt.Sprintf("unknown command %q", name)}, stderr)
	}
	ops, exec, err := c.parse(args[1:])
	var usage *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.writeHelp(stdout)
		return 0
	case errors.As(err, &usage):
		return usageFailed(usage, stderr)
	}
	return exec(ops, stdio{stdin, stdout, stderr})
}

// stamped is the version the packaging stamps into the binary with
// -ldflags "-X main.stamped=VERSION" (configs/package/build-deb does); "" otherwise.
var stamped string

// version is the version this binary is: the stamped one, else the module's (as `go install
// ...@v1.2.0` records it), else devel-REV[+dirty] from the VCS information of a build in a
// checkout, else "devel".
func version() string {
	rev, dirty := vcsRevision()
	switch v := moduleVersion(); {
	case stamped != "":
		return stamped
	case v != "":
		return v
	case rev != "":
		return "devel-" + rev + dirty
	}
	return "devel"
}

// versionLine is what `vrrpd version` prints: "vrrpd 1.2.0 (rev 0123456789ab)".
func versionLine() string {
	v := version()
	if rev, dirty := vcsRevision(); rev != "" && v != "devel-"+rev+dirty {
		return fmt.Sprintf("vrrpd %s (rev %s%s)", v, rev, dirty)
	}
	return "vrrpd " + v
}

// pseudoVersion matches a Go pseudo-version (v0.0.0-20261204191600-116b77e8a1b2), which the go
// command records for a build in a checkout that no tag names: that is a development build.
var pseudoVersion = regexp.MustCompile(`[-.](0\.)?\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// moduleVersion is the main module's version as the build recorded it, "" for a development
// build.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "(devel)" || pseudoVersion.MatchString(bi.Main.Version) {
		return ""
	}
	return bi.Main.Version
}

// vcsRevision is the VCS revision the binary was built from, shortened to 12 digits, and
// "+dirty" if the checkout had changes; "" without VCS information.
func vcsRevision() (rev, dirty string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		dirty = ""
	}
	return rev, dirty
}
