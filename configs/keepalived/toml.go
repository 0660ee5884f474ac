package keepalived

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The TOML writer: the converter builds the output as tables of keys whose values are TOML
// already (made by tomlString, tomlStrings and tomlArray from what the configuration says, or
// numbers and booleans it made itself), and writes them in the schema's order. Every comment and
// remark goes through tomlComment here, so that no text from the configuration can end one and
// start TOML of its own.

// toml writes the configuration.
func (c *kaConverter) toml(name string, notes int) []byte {
	var b strings.Builder
	b.WriteString(tomlComment(fmt.Sprintf("vrrpd configuration converted from %s by `vrrpd convert`.", name)))
	if notes > 0 {
		fmt.Fprintf(&b, "# Review it and the %d note(s) `vrrpd convert` printed on stderr, then run `vrrpd check`.\n", notes)
	} else {
		b.WriteString("# Everything was carried over. Review it, then run `vrrpd check`.\n")
	}
	if len(c.global.entries) > 0 || len(c.global.comments) > 0 {
		c.global.write(&b)
	}
	for _, k := range c.checks {
		k.t.write(&b)
		for _, t := range k.table {
			if t != nil && t != k.t {
				t.write(&b)
			}
		}
	}
	for _, in := range c.instances {
		in.t.write(&b)
	}
	for _, g := range c.groups {
		if _, ok := g.t.get("instances"); ok {
			g.t.write(&b)
		}
	}
	return []byte(b.String())
}

// tomlTable is one table of the output. Its keys are written in the schema's order, whatever
// the order of the keepalived source.
type tomlTable struct {
	header   string   // "[[instance]]"
	comments []string // written above the header
	order    []string // the schema's order of keys; keys not in it come last
	entries  []tomlEntry
	sub      *tomlTable // written after the keys if it has any: [instance.notify]
}

type tomlEntry struct {
	key, value string // value is TOML already
	remark     string // a comment at the end of the line
}

// set sets key, replacing an earlier value: in keepalived the last line wins.
func (t *tomlTable) set(key, value, remark string) {
	t.del(key)
	t.entries = append(t.entries, tomlEntry{key, value, remark})
}

func (t *tomlTable) get(key string) (string, bool) {
	i := slices.IndexFunc(t.entries, func(e tomlEntry) bool { return e.key == key })
	if i < 0 {
		return "", false
	}
	return t.entries[i].value, true
}

func (t *tomlTable) del(key string) {
	t.entries = slices.DeleteFunc(t.entries, func(e tomlEntry) bool { return e.key == key })
}

func (t *tomlTable) write(b *strings.Builder) {
	rank := func(e tomlEntry) int {
		if i := slices.Index(t.order, e.key); i >= 0 {
			return i
		}
		return len(t.order)
	}
	slices.SortStableFunc(t.entries, func(x, y tomlEntry) int { return rank(x) - rank(y) })
	b.WriteString("\n")
	for _, s := range t.comments {
		b.WriteString(tomlComment(s))
	}
	b.WriteString(t.header + "\n")
	for _, e := range t.entries {
		b.WriteString(e.key + " = " + e.value)
		if e.remark != "" {
			b.WriteString("  " + tomlComment(e.remark))
		} else {
			b.WriteString("\n")
		}
	}
	if t.sub != nil && len(t.sub.entries) > 0 {
		t.sub.write(b)
	}
}

// tomlString writes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return tomlArray(q, false)
}

// tomlArray writes values, TOML already, as an array: on one line, or one value a line.
func tomlArray(values []string, lines bool) string {
	if !lines {
		return "[" + strings.Join(values, ", ") + "]"
	}
	return "[\n  " + strings.Join(values, ",\n  ") + ",\n]"
}

// tomlComment writes text as a TOML comment line, "# text\n", control characters escaped.
func tomlComment(text string) string { return "# " + kaPrintable(text) + "\n" }

// kaPrintable replaces each control character of s by its Go escape (\x1b, \n), so that text
// from the configuration can neither end a line it is quoted on nor drive a terminal.
func kaPrintable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // which makes each byte of invalid UTF-8 a U+FFFD
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
