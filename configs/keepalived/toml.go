package keepalived

import (
	"fmt"
	"slices"
	"strings"
)

// The TOML writer: the converter builds the output as tables of keys whose values are TOML
// already, and writes them in the schema's order.

// toml writes the configuration.
func (c *kaConverter) toml(name string, notes int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# vrrpd configuration converted from %s by `vrrpd convert`.\n", name)
	if notes > 0 {
		fmt.Fprintf(&b, "# Review it and the %d note(s) `vrrpd convert` printed on stderr, then run `vrrpd check`.\n", notes)
	} else {
		b.WriteString("# Everything was carried over. Review it, then run `vrrpd check`.\n")
	}
	if len(c.global.entries) > 0 || len(c.global.comments) > 0 {
		c.global.write(&b)
	}
	for _, t := range c.checks {
		t.write(&b)
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
		b.WriteString("# " + s + "\n")
	}
	b.WriteString(t.header + "\n")
	for _, e := range t.entries {
		b.WriteString(e.key + " = " + e.value)
		if e.remark != "" {
			b.WriteString("  # " + e.remark)
		}
		b.WriteString("\n")
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
	return "[" + strings.Join(q, ", ") + "]"
}
