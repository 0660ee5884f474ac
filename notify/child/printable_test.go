package child

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	long := strings.Repeat("a", MaxPrintable-4) + "ééé" // é is 2 bytes: the cut falls inside the first
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain", "curl: (22) The requested URL returned error: 503", "curl: (22) The requested URL returned error: 503"},
		{"empty", "", ""},
		{"other whitespace becomes a space, CRLF one", "a\tb\nc\r\nd\ve\ff", "a b c d e f"},
		{"unicode line separators", "a\u2028b\u0085c", "a b c"},
		{"unicode kept", "Größe ok, 端口 80, no-break\u00a0space", "Größe ok, 端口 80, no-break\u00a0space"},
		{"colours", "\x1b[1;31mbackend down\x1b[0m", "backend down"},
		{"CSI with intermediates", "a\x1b[?25lb\x1b[2 qc", "abc"},
		{"C1 CSI", "a\u009b31mb", "ab"},
		{"malformed CSI ends before the byte that cannot belong", "a\x1b[31\nb", "a b"},
		{"unterminated CSI", "down\x1b[31", "down"},
		{"OSC title ended by BEL", "\x1b]0;owned\x07upstream gone", "upstream gone"},
		{"OSC hyperlink ended by ST", "see \x1b]8;;http://evil/\x1b\\here\x1b]8;;\x1b\\ now", "see here now"},
		{"C1 OSC ended by C1 ST", "a\u009d0;t\u009cb", "ab"},
		{"unterminated OSC hides the rest", "a\x1b]0;title and more", "a"},
		{"DCS", "a\x1bPq#0;1;2\x1b\\b", "ab"},
		{"APC and PM", "a\x1b_x\x1b\\b\x1b^y\x07c", "abc"},
		{"charset designation", "a\x1b(Bb", "ab"},
		{"two-byte escapes", "a\x1bcb\x1b7c\x1b=d", "abcd"},
		{"lone ESC at the end", "a\x1b", "a"},
		{"ESC before a non-ASCII rune drops only the ESC", "a\x1bé", "aé"},
		{"C0 controls and DEL", "a\x00b\x07c\x08d\x7fe", "abcde"},
		{"C1 controls", "a\u0080b\u009ac", "abc"},
		{"bidi override and zero-width", "check \u202egnp.exe\u202c ok\u200b", "check gnp.exe ok"},
		{"invalid UTF-8", "a\xffb\xc3(c\xed\xa0\x80d", "ab(cd"},
		{"raw 0x9b byte is invalid UTF-8, not CSI", "a\x9b31mb", "a31mb"},
		{"replacement character itself is kept", "a\ufffdb", "a\ufffdb"},
		{"exactly the maximum", strings.Repeat("x", MaxPrintable), strings.Repeat("x", MaxPrintable)},
		{"exactly the maximum, then only escapes", strings.Repeat("x", MaxPrintable) + "\x1b[0m\x00", strings.Repeat("x", MaxPrintable)},
		{"cut", strings.Repeat("x", MaxPrintable+1), strings.Repeat("x", MaxPrintable-3) + "..."},
		{"cut on a rune boundary", long, strings.Repeat("a", MaxPrintable-4) + "..."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Printable(tt.in); got != tt.want {
				t.Errorf("Printable(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzPrintable checks that Printable never panics, and that what it returns is valid UTF-8 of
// printable runes and spaces only, at most MaxPrintable bytes, and returned unchanged by
// Printable.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{
		"plain", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07", "\x1b]8;;u\x1b\\l", "\u009b1m", "\u009d\u009c",
		"a\tb\r\n", "\xff\xfe", "\u202e", strings.Repeat("é", MaxPrintable), "\x1bP\x1b", "\x1b(",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Printable(%q) = %q: invalid UTF-8", s, got)
		}
		if len(got) > MaxPrintable {
			t.Fatalf("Printable(%q) = %q: %d bytes, more than %d", s, got, len(got), MaxPrintable)
		}
		for _, r := range got {
			if r != ' ' && !unicode.IsGraphic(r) {
				t.Fatalf("Printable(%q) = %q: holds %U", s, got, r)
			}
		}
		if again := Printable(got); again != got {
			t.Fatalf("Printable(%q) = %q, but Printable of that is %q", s, got, again)
		}
	})
}
