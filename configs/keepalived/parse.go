package keepalived

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
//
// keepalived's preprocessor ($NAME=value definitions, @system-id line prefixes, ~SEQ) is refused
// with its line: the converter cannot know what it expands to on the host.

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

func (e *kaError) Error() string        { return e.pos.String() + ": " + e.msg }
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

// kaMaxIncludeDepth stops a file that includes itself.
const kaMaxIncludeDepth = 16

// kaReader turns files into a flat list of statements, "{" and "}", following includes.
type kaReader struct {
	segs  []kaStmt // words unset; line is the text, "{" or "}"
	notes []kaNote // includes that matched nothing, which keepalived only logs
}

// parseKeepalived reads a keepalived configuration and its includes into statements.
func parseKeepalived(name string, src []byte) ([]*kaStmt, []kaNote, error) {
	r := &kaReader{}
	if err := r.read(name, src, 0); err != nil {
		return nil, nil, err
	}
	stmts, err := r.tree()
	return stmts, r.notes, err
}

var kaPreprocessor = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]*\s*=|@|~SEQ)`)

func (r *kaReader) read(name string, src []byte, depth int) error {
	for i, raw := range strings.Split(string(src), "\n") {
		pos := kaPos{file: name, line: i + 1}
		line, err := kaDecomment(raw)
		if err != nil {
			return &kaError{pos: pos, msg: err.Error()}
		}
		if line == "" {
			continue
		}
		if m := kaPreprocessor.FindString(line); m != "" {
			return &kaError{pos: pos, msg: fmt.Sprintf("keepalived's preprocessor (%s...) is not supported: expand it by hand for this host first", m)}
		}
		if words, err := kaWords(line); err == nil && len(words) > 0 && words[0] == "include" {
			if err := r.include(pos, words, depth); err != nil {
				return err
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
	return nil
}

func (r *kaReader) include(pos kaPos, words []string, depth int) error {
	if len(words) != 2 {
		return &kaError{pos: pos, msg: "include takes one file name or glob pattern"}
	}
	if depth >= kaMaxIncludeDepth {
		return &kaError{pos: pos, msg: fmt.Sprintf("include %s: includes nested more than %d deep (does a file include itself?)", words[1], kaMaxIncludeDepth)}
	}
	pattern := words[1]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(pos.file), pattern)
	}
	files := []string{pattern} // a plain name that is missing is an error, not an empty match
	if strings.ContainsAny(pattern, `*?[\`) {
		var err error
		if files, err = filepath.Glob(pattern); err != nil {
			return &kaError{pos: pos, msg: fmt.Sprintf("include %s: %v", words[1], err), err: err}
		}
		if len(files) == 0 {
			pos.seq = len(r.segs)
			r.notes = append(r.notes, kaNote{pos, fmt.Sprintf("warning: include %s matched no file", words[1])})
		}
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() && f != pattern {
			continue // keepalived skips the directories a pattern matches
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return &kaError{pos: pos, msg: "include: " + err.Error(), err: err}
		}
		if err := r.read(f, data, depth+1); err != nil {
			return err
		}
	}
	return nil
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
		return nil, &kaError{pos: open.pos, msg: fmt.Sprintf("the block of %s is never closed: a '}' is missing", strings.Join(open.words[:min(2, len(open.words))], " "))}
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
