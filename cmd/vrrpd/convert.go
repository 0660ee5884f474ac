package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/configs/keepalived"
)

// cmdConvert is `vrrpd convert [FILE]`: it reads a keepalived.conf from FILE, or from stdin
// without one (or with "-"), and writes the equivalent vrrpd TOML to stdout. What could not be
// carried over goes to stderr, one line each; that is not a failure. It exits 1 when the input
// cannot be read or parsed, and when the result does not validate, after writing it anyway, so
// that it can be fixed by hand.
func cmdConvert(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: vrrpd convert [FILE]   (a keepalived.conf; stdin without FILE)") }
	routerID := fs.String("router-id", "", "the host to convert for: keepalived's config-id, which selects the lines with an @ prefix")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	name, path := "stdin", fs.Arg(0)
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
	conv, err := keepalived.Convert(name, src, keepalived.Options{RouterID: *routerID})
	if err != nil {
		fmt.Fprintf(stderr, "vrrpd: %v\n", err)
		return 1
	}
	for _, n := range conv.Notes {
		fmt.Fprintln(stderr, n)
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
