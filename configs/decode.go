package configs

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The TOML is decoded into map[string]any and walked here by hand, so that one pass can report
// every problem instead of stopping at the first, and can tell a key that is absent (it gets its
// default) from one set to a bad value (a problem, never silently defaulted).

// decoder collects the problems found while walking one file.
type decoder struct {
	order    map[string]int // key path with array indexes ("instance[1].vrid") -> rank of its first appearance
	problems []ranked

	// What the walk has seen so far, for uniqueness and cross-references. Strings are the labels
	// problems use for the section that has the thing: `instance "VI_1"`, `check #2`.
	names   map[string]map[string]string // "check", "instance", "sync_group" -> name -> label
	checks  map[string]Check             // valid checks, to resolve track_checks
	vrids   map[vridKey]string
	vips    map[netip.Addr]string // vips and vips_excluded
	vmacs   map[string]string     // vmac interface name -> its instance's label
	groupOf map[string]string     // instance name -> its sync group's label
}

type ranked struct {
	rank int
	msg  string
}

func newDecoder(md toml.MetaData) *decoder {
	d := &decoder{
		order:   map[string]int{},
		names:   map[string]map[string]string{"check": {}, "instance": {}, "sync_group": {}},
		checks:  map[string]Check{},
		vrids:   map[vridKey]string{},
		vips:    map[netip.Addr]string{},
		vmacs:   map[string]string{},
		groupOf: map[string]string{},
	}
	// md.Keys lists keys in file order, without array indexes: count the [[headers]] to add them.
	count := map[string]int{}
	for rank, key := range md.Keys() {
		path := ""
		for i := range key {
			path = join(path, key[i])
			if md.Type(key[:i+1]...) == "ArrayHash" {
				if i == len(key)-1 {
					count[path]++
				}
				path += "[" + strconv.Itoa(count[path]-1) + "]"
			}
			if _, ok := d.order[path]; !ok {
				d.order[path] = rank
			}
		}
	}
	return d
}

// rank is where a key path first appears in the file; a key that is absent ranks with its table.
func (d *decoder) rank(path string) int {
	for path != "" {
		if r, ok := d.order[path]; ok {
			return r
		}
		path = path[:max(strings.LastIndexAny(path, ".["), 0)]
	}
	return -1
}

// err returns every problem in file order, joined, or nil.
func (d *decoder) err() error {
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].rank < d.problems[j].rank })
	errs := make([]error, len(d.problems))
	for i, p := range d.problems {
		errs[i] = &problem{msg: p.msg}
	}
	return errors.Join(errs...)
}

// table is one TOML table being walked: the file's top level, [global], one [[instance]], its
// [instance.notify], one element of its track_checks, and so on.
type table struct {
	d     *decoder
	m     map[string]any
	path  string   // key path in the file, with array indexes, to rank problems: "instance[1].notify"
	where string   // what problems name: `global`, `instance "VI_1"`, `instance #2`; "" at the top level
	loc   string   // key prefix inside where: "", "notify.", "track_checks[0]."
	keys  []string // the schema's keys, as the walk asked for them; any other key is unknown
}

func (d *decoder) root(m map[string]any) *table { return &table{d: d, m: m} }

// errorf reports a problem with key ("" for the table itself).
func (t *table) errorf(key, format string, args ...any) {
	t.add(join(t.path, key), t.loc+key, fmt.Sprintf(format, args...))
}

// report reports msg as a problem with key, unless msg is "".
func (t *table) report(key, msg string) {
	if msg != "" {
		t.errorf(key, "%s", msg)
	}
}

func (t *table) add(path, loc, msg string) {
	parts := slices.DeleteFunc([]string{t.where, strings.TrimSuffix(loc, "."), msg}, func(s string) bool { return s == "" })
	t.d.problems = append(t.d.problems, ranked{t.d.rank(path), strings.Join(parts, ": ")})
}

func (t *table) has(key string) bool {
	_, ok := t.m[key]
	return ok
}

// value returns key's value and records key as part of the schema.
func (t *table) value(key string) (any, bool) {
	t.keys = append(t.keys, key)
	v, ok := t.m[key]
	return v, ok
}

// done reports the keys the walk never asked for: they are not in the schema.
func (t *table) done() {
	var unknown []string
	for k := range t.m {
		if !slices.Contains(t.keys, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		t.add(join(t.path, k), t.loc, fmt.Sprintf("unknown key %q%s", k, suggest(k, t.keys)))
	}
}

// child returns the table for key's value m; i >= 0 is its index in an array of tables. The
// top level's children are named on their own (`global`, `instance #2`); deeper ones extend the
// key prefix (`notify.`, `track_checks[0].`).
func (t *table) child(key string, i int, m map[string]any) *table {
	c := &table{d: t.d, m: m, path: join(t.path, key), where: t.where, loc: t.loc + key}
	if i >= 0 {
		c.path += fmt.Sprintf("[%d]", i)
		c.loc += fmt.Sprintf("[%d]", i)
	}
	c.loc += "."
	if t.where == "" {
		c.where, c.loc = key, ""
		if i >= 0 {
			c.where = fmt.Sprintf("%s #%d", key, i+1)
		}
	}
	return c
}

// sub returns the table under key, empty if key is absent or not a table.
func (t *table) sub(key string) *table {
	v, ok := t.value(key)
	m, isTable := v.(map[string]any)
	if ok && !isTable {
		t.errorf(key, "%s is not a table", show(v))
	}
	if m == nil {
		m = map[string]any{}
	}
	return t.child(key, -1, m)
}

// list returns the tables of the array of tables under key: [[key]] or key = [{...}, {...}].
func (t *table) list(key string) []*table {
	v, ok := t.value(key)
	if !ok {
		return nil
	}
	var elems []any
	switch v := v.(type) {
	case []map[string]any:
		for _, m := range v {
			elems = append(elems, m)
		}
	case []any:
		elems = v
	default:
		t.errorf(key, "%s is not an array of tables", show(v))
		return nil
	}
	var tables []*table
	for i, e := range elems {
		m, ok := e.(map[string]any)
		if !ok {
			t.errorf(fmt.Sprintf("%s[%d]", key, i), "%s is not a table", show(e))
			continue
		}
		tables = append(tables, t.child(key, i, m))
	}
	return tables
}

// opt decodes key, if present, into dst, which holds the default. The rules run in order until one
// returns a problem. dst changes only if the value is valid; opt reports whether dst now holds a
// valid value (the default counts).
func opt[T any](t *table, key string, dst *T, rules ...func(T) string) bool {
	v, ok := t.value(key)
	if !ok {
		return true
	}
	var x T
	msg := convert(v, &x)
	for _, rule := range rules {
		if msg != "" {
			break
		}
		msg = rule(x)
	}
	if msg != "" {
		t.errorf(key, "%s", msg)
		return false
	}
	*dst = x
	return true
}

// req is opt for a key without a default.
func req[T any](t *table, key string, dst *T, rules ...func(T) string) bool {
	if !t.has(key) {
		t.value(key)
		t.errorf(key, "required")
		return false
	}
	return opt(t, key, dst, rules...)
}

// convert stores a decoded TOML value into dst, or says why it cannot.
func convert(v any, dst any) string {
	switch dst := dst.(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return show(v) + " is not a string"
		}
		*dst = s
	case *int:
		n, ok := v.(int64)
		if !ok || int64(int(n)) != n {
			return show(v) + " is not an integer"
		}
		*dst = int(n)
	case *uint32:
		n, ok := v.(int64)
		if !ok {
			return show(v) + " is not an integer"
		}
		if n < 0 || n > math.MaxUint32 {
			return fmt.Sprintf("%d is out of range 0-%d", n, uint32(math.MaxUint32))
		}
		*dst = uint32(n)
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return show(v) + " is not true or false"
		}
		*dst = b
	case *time.Duration:
		s, ok := v.(string)
		d, err := time.ParseDuration(s)
		if !ok || err != nil {
			return show(v) + ` is not a duration like "1s" or "100ms"`
		}
		*dst = d
	case *[]string:
		list, ok := v.([]any)
		if !ok {
			return show(v) + " is not an array of strings"
		}
		*dst = make([]string, len(list))
		for i, e := range list {
			if (*dst)[i], ok = e.(string); !ok {
				return show(e) + " is not a string"
			}
		}
	default:
		panic(fmt.Sprintf("configs: cannot decode into %T", dst))
	}
	return ""
}

// show writes a decoded TOML value as a problem quotes it.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eIN") { // keep 1.0 from reading as the integer 1
			s += ".0"
		}
		return s
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprint(v)
}

// join joins key paths with ".".
func join(path, key string) string {
	if path == "" || key == "" {
		return path + key
	}
	return path + "." + key
}

// maxNesting is how deeply Parse lets values nest: 4, the deepest the schema goes, as in
// instance = [{ vips = [{ address = "10.0.4.99" }] }]. A value's level counts the arrays and
// inline tables it is in, and the dotted parts after the first of the keys (and table header)
// leading to it. The TOML decoder takes time cubic in the nesting of inline tables, and a reload
// parses inside the running daemon: prescan refuses anything deeper before the decoder sees it.
const maxNesting = 4

// prescan reads data as TOML's lexer would, as far as comments, strings (basic and literal, on one
// line or several), keys, table headers and brackets go, and refuses values nested deeper than
// maxNesting, naming the line. What it cannot make sense of it leaves to the decoder.
func prescan(data []byte) *problem {
	type frame struct {
		table bool // an inline table, not an array
		level int
	}
	var stack []frame
	line, header, level, key := 1, 0, 0, true // key: reading a key, not a value
	deep := func() *problem {
		return &problem{msg: fmt.Sprintf("line %d: values nested %d deep; the schema uses at most %d (arrays of tables inside an array of tables)",
			line, level, maxNesting)}
	}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\n':
			line++
			if len(stack) == 0 { // a key/value pair ends with its line
				key, level = true, header
			}
		case c == '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			i = skipString(data, i, &line)
		case key && c == '.':
			if level++; level > maxNesting {
				return deep()
			}
		case key && c == '=':
			key = false
		case key && c == '[' && len(stack) == 0: // a table header: [table] or [[array.of.tables]]
			level = 0
			for i++; i < len(data) && data[i] != ']' && data[i] != '\n'; i++ {
				switch data[i] {
				case '"', '\'':
					i = skipString(data, i, &line)
				case '.':
					if level++; level > maxNesting {
						return deep()
					}
				}
			}
			if i+1 < len(data) && data[i] == ']' && data[i+1] == ']' {
				i++
			}
			header = level
		case !key && (c == '[' || c == '{'):
			if level++; level > maxNesting {
				return deep()
			}
			stack = append(stack, frame{c == '{', level})
			key = c == '{'
		case (c == ']' || c == '}') && len(stack) > 0:
			stack = stack[:len(stack)-1]
			key, level = false, header
			if len(stack) > 0 {
				level = stack[len(stack)-1].level
			}
		case c == ',' && len(stack) > 0:
			top := stack[len(stack)-1]
			key, level = top.table, top.level
		}
	}
	return nil
}

// skipString returns the index of the last byte of the TOML string that starts at data[i], or of
// the byte before the end of its line if it has no end there, counting the lines it spans.
func skipString(data []byte, i int, line *int) int {
	q := data[i]
	if i+2 < len(data) && data[i+1] == q && data[i+2] == q { // """ or ''', to the same three
		for j := i + 3; j < len(data); j++ {
			switch {
			case data[j] == '\n':
				*line++
			case data[j] == '\\' && q == '"':
				if j++; j < len(data) && data[j] == '\n' {
					*line++
				}
			case data[j] == q && j+2 < len(data) && data[j+1] == q && data[j+2] == q:
				j += 2
				for k := 0; k < 2 && j+1 < len(data) && data[j+1] == q; k++ { // the string may end with quotes
					j++
				}
				return j
			}
		}
		return len(data) - 1
	}
	for j := i + 1; j < len(data); j++ {
		switch {
		case data[j] == '\n':
			return j - 1
		case data[j] == '\\' && q == '"' && j+1 < len(data) && data[j+1] != '\n':
			j++
		case data[j] == q:
			return j
		}
	}
	return len(data) - 1
}
