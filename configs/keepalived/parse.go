package keepalived

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// This file reads keepalived.conf's grammar, as far as `vrrpd convert` needs it. It follows
// keepalived 2.2's lib/parser.c:
//
//   - '#' and '!' start a comment anywhere outside double quotes; "\#" and "\!" are the characters
//     themselves (decomment).
//   - Words are separated by blanks; a double-quoted string is one word, without its quotes
//     (alloc_strvec_r).
//   - '{' and '}' outside quotes stand on their own, so a block may open and close on one line, and
//     its '{' may be on the keyword's line or the next (read_line).
//   - `include PATTERN` on a line of its own reads every file the glob matches, in order; a
//     relative pattern is relative to the including file's directory (read_conf_file). It may
//     appear anywhere, even inside a block.
//   - The preprocessor (read_line, check_definition, replace_param; keepalived.conf(5),
//     "Conditional configuration and configuration id" and "Parameter substitution"):
//     a line `@ID ...` is kept, without its prefix, only on the host whose config-id is ID, and
//     `@^ID ...` everywhere else; `$NAME=VALUE` defines NAME (a VALUE ending in '\' goes on over
//     the following lines, up to one without it or a blank line); `${NAME}`, and `$NAME` before a
//     blank, ',', ')' or the line's end, is replaced by VALUE, again and again, so that a value
//     may use other definitions; an undefined name stays as it is; a definition of several lines
//     is used at the end of a line, and gives lines of its own. ${_PWD}, ${_INSTANCE}, ${_HASH}
//     and ${_BANG} are predefined.
//
// ~SEQ and ~LST blocks and ${_RANDOM} are refused with their line: the converter cannot carry
// them over faithfully.

// ErrSyntax is matched (errors.Is) by every error Convert returns: a
// configuration it cannot read, with the file and line. A missing include also wraps the
// *fs.PathError.
var ErrSyntax = errors.New("keepalived syntax error")

// kaPos is a place in a keepalived configuration.
type kaPos struct {
	file string
	line int
	seq  int // reading order across included files, to sort notes
}

func (p kaPos) String() string { return p.file + ":" + strconv.Itoa(p.line) }

// kaError is an error at a place in a keepalived configuration.
type kaError struct {
	pos kaPos
	msg string
	err error // what caused it, if anything: the *fs.PathError of a missing include
}

func (e *kaError) Error() string        { return kaPrintable(e.pos.String() + ": " + e.msg) }
func (e *kaError) Unwrap() error        { return e.err }
func (e *kaError) Is(target error) bool { return target == ErrSyntax }

// kaStmt is one keepalived statement: a keyword with its arguments, and the statements of the {}
// block that follows it, if one does.
type kaStmt struct {
	pos   kaPos
	words []string  // words[0] is the keyword
	line  string    // the text the words came from, which script keywords split again
	open  bool      // a {} block follows (block may still be empty)
	block []*kaStmt // the statements in that block
}

func (s *kaStmt) kw() string { return s.words[0] }

// arg returns the statement's first argument, or "".
func (s *kaStmt) arg() string {
	if len(s.words) < 2 {
		return ""
	}
	return s.words[1]
}

// The limits of what the reader takes in.
const (
	// kaMaxIncludeDepth bounds a chain of includes, each file including the next.
	kaMaxIncludeDepth = 16
	// kaMaxFileSize is the largest file an include reads: 4 MiB, vrrpd's own limit for a
	// configuration (configs.MaxFileSize), which a keepalived.conf needs no more than.
	kaMaxFileSize = 4 << 20
	// kaMaxTotalSize is how much all the included files together may hold: 16 MiB, so that a glob
	// matching a directory of large files stops instead of filling memory.
	kaMaxTotalSize = 16 << 20
	// kaMaxLine is the longest line the definitions may expand one to: keepalived's MAXBUF, 1024
	// bytes; keepalived refuses to expand a line further.
	kaMaxLine = 1024
	// kaMaxLines is how many lines the definitions may add to a configuration in all: far more than
	// templates need, and a bound on one that uses itself.
	kaMaxLines = 100000
	// kaMaxSubstitutions is how many definitions one line may use, counting those inside their
	// values: a bound on a definition that uses itself, as $A=$A (keepalived loops on it forever).
	kaMaxSubstitutions = 1000
	// kaMaxAllSubstitutions bounds the definitions used in all, each costing a copy of its line:
	// templates of a thousand instances use a few tens of thousands.
	kaMaxAllSubstitutions = 200000
)

// kaReader turns files into a flat list of statements, "{" and "}", following includes and
// keepalived's preprocessor.
type kaReader struct {
	main    string // the file the user named
	opts    Options
	segs    []kaStmt          // words unset; line is the text, "{" or "}"
	notes   []kaNote          // includes that matched nothing, which keepalived only logs
	defs    map[string]*kaDef // the definitions made so far
	reading []string          // the real paths of the files being read, outermost first
	total   int               // bytes read from included files
	added   int               // lines the definitions added
	used    int               // definitions used
}

// kaDef is a definition, $NAME=VALUE.
type kaDef struct {
	lines     []string // the value, one entry a line
	multiline bool     // the value was written over several lines (it may still have one)
}

// parseKeepalived reads a keepalived configuration and its includes into statements.
func parseKeepalived(name string, src []byte, opts Options) ([]*kaStmt, []kaNote, error) {
	r := &kaReader{main: name, opts: opts, defs: map[string]*kaDef{}}
	if real, err := filepath.EvalSymlinks(name); err == nil {
		r.reading = []string{real}
	}
	if err := r.read(name, src, 0); err != nil {
		return nil, nil, err
	}
	stmts, err := r.tree()
	return stmts, r.notes, err
}

func (r *kaReader) read(name string, src []byte, depth int) error {
	var def *kaDef // a definition whose value goes on over the next lines
	for i, raw := range strings.Split(string(src), "\n") {
		pos := kaPos{file: name, line: i + 1}
		raw = strings.TrimRight(raw, "\r")
		if def != nil && raw == "" { // a blank line ends it
			def = nil
			continue
		}
		line, err := kaDecomment(raw)
		if err != nil {
			return &kaError{pos: pos, msg: err.Error()}
		}
		if def != nil {
			if !def.add(line) {
				def = nil
			}
			continue
		}
		if line == "" {
			continue
		}
		if def, err = r.line(pos, line, depth); err != nil {
			return err
		}
	}
	return nil
}

// add adds a line to a definition of several lines, and reports whether the definition goes on
// to the next line.
func (def *kaDef) add(line string) bool {
	line, more := strings.CutSuffix(line, `\`)
	if line = strings.TrimRight(line, " \t"); line != "" {
		def.lines = append(def.lines, line)
	}
	return more
}

// line reads one line of a file: the preprocessor, then an include or the statements on it. It
// returns the definition the line starts, if its value goes on over the next lines.
func (r *kaReader) line(pos kaPos, line string, depth int) (*kaDef, error) {
	todo := []string{line} // the line, then those definitions of several lines add: the next one last
	for first := true; len(todo) > 0; first = false {
		line, todo = todo[len(todo)-1], todo[:len(todo)-1]
		line, more, def, err := r.preprocess(pos, line)
		switch {
		case err != nil:
			return nil, err
		case def != nil && def.multiline && first:
			return def, nil
		case def != nil: // one line long (inside a definition's lines, every definition is)
			continue
		}
		if r.added += len(more); r.added > kaMaxLines {
			return nil, &kaError{pos: pos, msg: fmt.Sprintf("the definitions add more than %d lines (does one use itself?)", kaMaxLines)}
		}
		for i := len(more) - 1; i >= 0; i-- {
			todo = append(todo, more[i])
		}
		if line == "" {
			continue
		}
		if words, err := kaWords(line); err == nil && len(words) > 0 && words[0] == "include" {
			if err := r.include(pos, words, depth); err != nil {
				return nil, err
			}
			continue
		}
		for line != "" {
			pos.seq = len(r.segs)
			b := kaBrace(line)
			if b < 0 {
				r.segs = append(r.segs, kaStmt{pos: pos, line: line})
				break
			}
			if before := strings.TrimSpace(line[:b]); before != "" {
				r.segs = append(r.segs, kaStmt{pos: pos, line: before})
				pos.seq++
			}
			r.segs = append(r.segs, kaStmt{pos: pos, line: line[b : b+1]})
			line = strings.TrimSpace(line[b+1:])
		}
	}
	return nil, nil
}

// preprocess applies keepalived's preprocessor to a line, as read_line does: the @ prefix, a
// definition, then the definitions' values, over again while that leaves a prefix or a '$'. It
// returns what is left of the line ("" if nothing), the lines a definition of several lines adds
// after it, and the definition the line makes, if it makes one.
func (r *kaReader) preprocess(pos kaPos, line string) (string, []string, *kaDef, error) {
	var more []string
	for {
		if strings.HasPrefix(line, "@") {
			kept, err := r.condition(pos, line)
			if err != nil || kept == "" {
				return "", more, nil, err
			}
			line = kept
		}
		if name, def, ok := kaDefinition(line); ok {
			r.defs[name] = def
			return "", more, def, nil
		}
		switch {
		case strings.HasPrefix(line, "~SEQ") || strings.HasPrefix(line, "~LST"):
			return "", nil, nil, &kaError{pos: pos, msg: fmt.Sprintf("keepalived's %s blocks are not supported: expand them by hand first", line[:4])}
		case strings.HasPrefix(line, "~") || !strings.Contains(line, "$"):
			return line, more, nil, nil
		}
		expanded, lines, err := r.substitute(pos, line)
		if err != nil || expanded == line && lines == nil {
			return line, more, nil, err
		}
		if line, err = kaDecomment(expanded); err != nil {
			return "", nil, nil, &kaError{pos: pos, msg: "after the definitions are used: " + err.Error()}
		}
		more = append(lines, more...)
		if !strings.HasPrefix(line, "@") && !strings.Contains(line, "$") {
			return line, more, nil, nil
		}
	}
}

// condition applies an @ID or @^ID prefix: it returns the rest of the line if the line applies to
// this host, else "".
func (r *kaReader) condition(pos kaPos, line string) (string, error) {
	id, not := line[1:], false
	if strings.HasPrefix(id, "^") {
		id, not = id[1:], true
	}
	end := strings.IndexAny(id, " \t")
	if r.opts.RouterID == "" {
		prefix := line
		if end >= 0 {
			prefix = line[:len(line)-len(id)+end]
		}
		return "", &kaError{pos: pos, msg: fmt.Sprintf("%s: the line is for some hosts only: convert with --router-id NAME to say which host "+
			"(keepalived's config-id, its -i option, by default the first part of the host name)", kaCut(prefix))}
	}
	if end < 0 || (id[:end] == r.opts.RouterID) == not { // keepalived drops a prefix with nothing after it
		return "", nil
	}
	return strings.TrimLeft(id[end:], " \t"), nil
}

// kaDefinition parses a definition, $NAME=VALUE, as check_definition does: no blank before '=',
// and the blanks after it left out. A VALUE ending in '\' goes on over the next lines.
func kaDefinition(line string) (string, *kaDef, bool) {
	name, value, ok := strings.Cut(line, "=")
	if !ok || !strings.HasPrefix(name, "$") || !kaIsName(name[1:]) {
		return "", nil, false
	}
	def := &kaDef{}
	value, def.multiline = strings.CutSuffix(strings.TrimLeft(value, " \t"), `\`)
	if value = strings.TrimRight(value, " \t"); value != "" || !def.multiline {
		def.lines = []string{value}
	}
	return name[1:], def, true
}

// kaIsName reports whether s is a definition's name: a letter or '_', then letters, digits and '_'.
func kaIsName(s string) bool {
	for i := range len(s) {
		if !kaNameByte(s[i], i == 0) {
			return false
		}
	}
	return s != ""
}

// kaNameByte reports whether c may be in a definition's name, as its first byte or a later one.
func kaNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// substitute replaces the uses of definitions in line as replace_param does. After each, it reads
// on from the same place, so that a value's own uses are replaced too. It returns the line, and
// the lines a definition of several lines adds after it.
func (r *kaReader) substitute(pos kaPos, line string) (string, []string, error) {
	var more []string
	for i, n := 0, 0; ; {
		j := strings.IndexByte(line[i:], '$')
		if j < 0 || i+j+1 == len(line) {
			return line, more, nil
		}
		i += j
		name, end, params := kaReference(line, i)
		def, err := r.definition(pos, name, params)
		if err != nil {
			return "", nil, err
		}
		if def == nil || def.multiline && end != len(line) { // not a use of a definition keepalived knows here
			i++
			continue
		}
		value := ""
		if len(def.lines) > 0 {
			value = def.lines[0]
		}
		if def.multiline && len(def.lines) > 1 {
			more = append(slices.Clone(def.lines[1:]), more...)
		}
		line = line[:i] + value + line[end:]
		r.used++
		switch n++; {
		case r.used > kaMaxAllSubstitutions:
			return "", nil, &kaError{pos: pos, msg: fmt.Sprintf("the definitions are used more than %d times in all", kaMaxAllSubstitutions)}
		case n > kaMaxSubstitutions:
			return "", nil, &kaError{pos: pos, msg: fmt.Sprintf("$%s does not stop expanding (does a definition use itself?)", name)}
		case len(line) > kaMaxLine:
			return "", nil, &kaError{pos: pos, msg: fmt.Sprintf("the definitions make the line longer than %d bytes, keepalived's limit", kaMaxLine)}
		case strings.HasPrefix(strings.TrimLeft(value, " \t"), "~"):
			return line, more, nil
		}
	}
}

// kaReference reads a use of a definition at line[i], a '$': ${NAME}, ${NAME PARAMS} or $NAME
// followed by a blank, ',', ')' or the line's end, as find_definition does. It returns the name
// ("" if there is no use here), the index after the use, and whether it has parameters.
func kaReference(line string, i int) (name string, end int, params bool) {
	braces := i+1 < len(line) && line[i+1] == '{'
	start := i + 1
	if braces {
		start++
	}
	end = start
	for end < len(line) && kaNameByte(line[end], end == start) {
		end++
	}
	if end == start {
		return "", 0, false
	}
	name = line[start:end]
	if !braces {
		if end < len(line) && !strings.ContainsRune(" \t,)", rune(line[end])) {
			return "", 0, false
		}
		return name, end, false
	}
	rest := strings.TrimLeft(line[end:], " 0123456789")
	if !strings.HasPrefix(rest, "}") {
		return "", 0, false
	}
	p := strings.TrimSpace(line[end : len(line)-len(rest)])
	if p != "" && strings.HasSuffix(line[end:len(line)-len(rest)], " ") { // keepalived: no blank before '}'
		return "", 0, false
	}
	return name, len(line) - len(rest) + 1, p != ""
}

// definition returns the definition name refers to, or nil: one the configuration made, else
// keepalived's own.
func (r *kaReader) definition(pos kaPos, name string, params bool) (*kaDef, error) {
	if def, ok := r.defs[name]; ok {
		if params {
			return nil, nil
		}
		return def, nil
	}
	if name == "_RANDOM" {
		return nil, &kaError{pos: pos, msg: "${_RANDOM} gives a random number each time keepalived reads the file: write the number instead"}
	}
	if params {
		return nil, nil
	}
	value := ""
	switch name {
	case "_PWD":
		dir, err := filepath.Abs(filepath.Dir(pos.file))
		if pos.file == "stdin" || err != nil {
			dir, err = os.Getwd()
		}
		if err != nil {
			return nil, &kaError{pos: pos, msg: "${_PWD}: " + err.Error(), err: err}
		}
		value = dir
	case "_INSTANCE":
		if r.opts.RouterID == "" {
			return nil, &kaError{pos: pos, msg: "${_INSTANCE} is keepalived's config-id: convert with --router-id NAME to say which host"}
		}
		value = r.opts.RouterID
	case "_HASH":
		value = "#"
	case "_BANG":
		value = "!"
	default:
		return nil, nil
	}
	return &kaDef{lines: []string{value}}, nil
}

func (r *kaReader) include(pos kaPos, words []string, depth int) error {
	if len(words) != 2 {
		return &kaError{pos: pos, msg: "include takes one file name or glob pattern"}
	}
	if depth >= kaMaxIncludeDepth {
		return &kaError{pos: pos, msg: fmt.Sprintf("include %s: includes nested more than %d deep", words[1], kaMaxIncludeDepth)}
	}
	pattern := words[1]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(pos.file), pattern)
	}
	files := []string{pattern} // a plain name that is missing is an error, not an empty match
	glob := strings.ContainsAny(pattern, `*?[\`)
	if glob {
		var err error
		if files, err = filepath.Glob(pattern); err != nil {
			return &kaError{pos: pos, msg: fmt.Sprintf("include %s: %v", words[1], err), err: err}
		}
		if len(files) == 0 {
			pos.seq = len(r.segs)
			r.notes = append(r.notes, kaNoteAt(r.main, pos, "warning: include %s matched no file", kaEcho(words[1])))
		}
	}
	for _, f := range files {
		data, real, err := r.readFile(f, glob)
		switch {
		case err != nil:
			return &kaError{pos: pos, msg: "include: " + err.Error(), err: err}
		case data == nil: // a directory the pattern matched, which keepalived skips
			continue
		case slices.Contains(r.reading, real):
			return &kaError{pos: pos, msg: fmt.Sprintf("include %s: %s is already being read: includes must not go round in a cycle", words[1], real)}
		}
		r.reading = append(r.reading, real)
		err = r.read(f, data, depth+1)
		r.reading = r.reading[:len(r.reading)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// readFile reads an included file, which must be a regular file: a FIFO or a device could block
// the reading, or never end. It checks what the path is before opening it, opens it without
// blocking, and checks that what it opened is that same regular file. It returns the data (nil for
// a directory a glob matched) and the file's real path.
func (r *kaReader) readFile(path string, glob bool) ([]byte, string, error) {
	before, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, "", err
	case before.IsDir() && glob:
		return nil, "", nil
	case !before.Mode().IsRegular():
		return nil, "", fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) { // so a regular file still
		return nil, "", fmt.Errorf("%s changed while it was opened", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, kaMaxFileSize+1))
	switch {
	case err != nil:
		return nil, "", err
	case len(data) > kaMaxFileSize:
		return nil, "", fmt.Errorf("%s is larger than %d MiB", path, kaMaxFileSize>>20)
	}
	if r.total += len(data); r.total > kaMaxTotalSize {
		return nil, "", fmt.Errorf("%s: the included files hold more than %d MiB together", path, kaMaxTotalSize>>20)
	}
	return data, real, nil
}

// tree nests the statements into their blocks.
func (r *kaReader) tree() ([]*kaStmt, error) {
	root := &kaStmt{}
	stack := []*kaStmt{root}
	var last *kaStmt // the statement a '{' now would open
	for i := range r.segs {
		s := &r.segs[i]
		switch s.line {
		case "{":
			if last == nil {
				return nil, &kaError{pos: s.pos, msg: "'{' without a keyword before it"}
			}
			last.open = true
			stack, last = append(stack, last), nil
		case "}":
			if len(stack) == 1 {
				return nil, &kaError{pos: s.pos, msg: "'}' without a block to close"}
			}
			stack, last = stack[:len(stack)-1], nil
		default:
			words, err := kaWords(s.line)
			if err != nil {
				return nil, &kaError{pos: s.pos, msg: err.Error()}
			}
			s.words = words
			top := stack[len(stack)-1]
			top.block = append(top.block, s)
			last = s
		}
	}
	if open := stack[len(stack)-1]; open != root {
		return nil, &kaError{pos: open.pos, msg: fmt.Sprintf("the block of %s is never closed: a '}' is missing", kaCut(strings.Join(open.words[:min(2, len(open.words))], " ")))}
	}
	return root.block, nil
}

// kaDecomment removes a comment and the blanks around the text, as keepalived's decomment does.
func kaDecomment(line string) (string, error) {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && i+1 < len(line):
			if next := line[i+1]; quoted || (next != '#' && next != '!') {
				b.WriteByte(c) // kept, and so is the next character, which it protects from the rest
			}
			i++
		case !quoted && (c == '#' || c == '!'):
			return strings.TrimSpace(b.String()), nil
		}
		b.WriteByte(line[i])
	}
	if quoted {
		return "", errors.New("unterminated quote: a '\"' is missing")
	}
	return strings.TrimSpace(b.String()), nil
}

// kaBrace returns the index of the first '{' or '}' outside double quotes, or -1.
func kaBrace(line string) int {
	quoted := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			quoted = !quoted
		case '{', '}':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

// kaWords splits a line into words as keepalived's alloc_strvec_r does: a double-quoted string
// is one word without its quotes; anything else ends at a blank or a quote.
func kaWords(line string) ([]string, error) {
	var words []string
	for {
		line = strings.TrimLeft(line, " \t\f\v\r")
		if line == "" {
			return words, nil
		}
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated quote: a '\"' is missing")
			}
			words, line = append(words, line[1:end+1]), line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t\f\v\r\"")
		if end < 0 {
			end = len(line)
		}
		words, line = append(words, line[:end]), line[end:]
	}
}

// kaSplitCommand splits a command line into words as keepalived does for scripts
// (alloc_strvec_quoted_escaped): blanks separate words; single and double quotes group blanks
// into a word and may join parts ("a"'b'c is abc); a backslash escapes the next character, with
// C's \n, \t, \xHH, \ooo and similar escapes, and \cX for a control character.
func kaSplitCommand(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("a '\\' ends the command line")
			}
			n, size := kaEscape(s[i+1:])
			w.WriteByte(n)
			i += size
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
		case strings.IndexByte(" \t\f\v\r\n", c) >= 0:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
			continue
		default:
			w.WriteByte(c)
		}
		inWord = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote: a %q is missing", quote)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// kaEscape decodes the escape sequence after a backslash: the byte, and how many bytes it took.
func kaEscape(s string) (byte, int) {
	isOctal := func(c byte) bool { return c >= '0' && c <= '7' }
	switch c := s[0]; {
	case c == 'x' && len(s) > 1 && kaIsHex(s[1]):
		n, i := byte(0), 1
		for ; i < len(s) && kaIsHex(s[i]); i++ {
			v, _ := strconv.ParseUint(s[i:i+1], 16, 8)
			n = n<<4 | byte(v)
		}
		return n, i
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case isOctal(c):
		n, i := byte(0), 0
		for ; i < 3 && i < len(s) && isOctal(s[i]); i++ {
			n = n<<3 | (s[i] - '0')
		}
		return n, i
	default:
		if e := strings.IndexByte("abEfnrtv", c); e >= 0 {
			return "\a\b\x1b\f\n\r\t\v"[e], 1
		}
		return c, 1
	}
}

func kaIsHex(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

// kaCut shortens text echoed in a note or an error to kaMaxEcho bytes, at a character's boundary.
func kaCut(text string) string {
	if len(text) <= kaMaxEcho {
		return text
	}
	cut := kaMaxEcho
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "..."
}
