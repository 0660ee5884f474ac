package main

import (
	"fmt"
	"io"
)

// cmdDrain is `vrrpd drain`, and with undrain `vrrpd undrain`. Not built yet: this file is to be replaced.
func cmdDrain(o drainOptions, stdout, stderr io.Writer, undrain bool) int {
	fmt.Fprintln(stderr, "vrrpd drain: not built yet")
	return 1
}
