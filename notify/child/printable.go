package child

import (
	"unicode"
	"unicode/utf8"
)

// MaxPrintable is the most bytes Printable returns: enough for a command's conclusion or a
// redirect's URL, short enough for one line of a status table or VRRPD_REASON.
const MaxPrintable = 256

// Printable returns s as it may be shown to a person: what a check's program printed, what an HTTP
// server answered. It keeps printable runes and spaces, turns other whitespace (tab, newline, CR,
// and CRLF as one) into a space, and drops everything else: control characters, Unicode format characters (the
// bidirectional overrides among them), invalid UTF-8, and whole escape sequences, which would
// otherwise recolour, retitle or rewrite the operator's terminal. The sequences (ECMA-48)
// are CSI (ESC [ or U+009B, parameters, then a final byte, as in colours), the control strings
// OSC, DCS, SOS, PM and APC (up to BEL or ST, or to the end of s), and the other escape sequences
// (ESC, intermediate bytes, a final byte). A result longer than MaxPrintable is cut on a rune
// boundary and ends in "...".
func Printable(s string) string {
	out := make([]byte, 0, min(len(s), MaxPrintable+utf8.UTFMax))
	for i := 0; i < len(s) && len(out) <= MaxPrintable; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1: // invalid UTF-8
		case r == 0x1b:
			i = skipEscape(s, i)
		case r == 0x9b: // CSI as a C1 control
			i = skipCSI(s, i)
		case isStringStart(r):
			i = skipString(s, i)
		case unicode.IsGraphic(r):
			out = utf8.AppendRune(out, r)
		case r == '\r' && i < len(s) && s[i] == '\n': // a CRLF line break is one space
		case unicode.IsSpace(r):
			out = append(out, ' ')
		}
	}
	if len(out) <= MaxPrintable {
		return string(out)
	}
	const more = "..."
	cut := MaxPrintable - len(more)
	for !utf8.RuneStart(out[cut]) {
		cut--
	}
	return string(out[:cut]) + more
}

// isStringStart reports whether r opens a control string as a C1 control: DCS, SOS, OSC, PM or APC.
func isStringStart(r rune) bool {
	return r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f
}

// skipEscape returns where the escape sequence whose ESC ends just before s[i] ends.
func skipEscape(s string, i int) int {
	if i == len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_': // OSC, DCS, SOS, PM, APC
		return skipString(s, i+1)
	case c >= 0x20 && c <= 0x2f: // intermediate bytes, then a final byte: ESC ( B
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			i++
		}
		return i
	case c >= 0x30 && c <= 0x7e: // a two-byte sequence: ESC c, ESC 7
		return i + 1
	}
	return i // a lone ESC: only it goes
}

// skipCSI returns where the control sequence whose CSI ends just before s[i] ends: after its
// parameter and intermediate bytes (0x20-0x3f) and its final byte (0x40-0x7e). A malformed one
// ends before the first byte that cannot belong to it.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString returns where the control string whose opening ends just before s[i] ends: after
// BEL, or after ST (ESC \ or U+009C), or at the end of s.
func skipString(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == 0x07 || r == 0x9c:
			return i
		case r == 0x1b && i < len(s) && s[i] == '\\':
			return i + 1
		}
	}
	return i
}
