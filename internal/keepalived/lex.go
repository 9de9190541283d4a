package keepalived

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Pos is a place in a configuration file. Line and Col count from 1; Col
// counts bytes.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Col == 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a configuration error at a position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// Warning is something the parser skipped or ignored, one line each.
type Warning struct {
	Pos Pos // Col is 0: warnings name the line
	Msg string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

type tokKind uint8

const (
	tWord tokKind = iota
	tOpen
	tClose
	tNewline
)

type token struct {
	kind   tokKind
	text   string
	quoted bool
	pos    Pos
}

// lex splits src into tokens: words (a double-quoted string is one word,
// without its quotes), "{" and "}", and one newline token per line end. A
// "!" or "#" where a token would start comments out the rest of the line.
func lex(file string, src []byte) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	for i < len(src) {
		c := src[i]
		p := Pos{File: file, Line: line, Col: col}
		switch {
		case c == '\n':
			toks = append(toks, token{kind: tNewline, pos: p})
			i++
			line, col = line+1, 1
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
			col++
		case c == '!' || c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
				col++
			}
		case c == '{':
			toks = append(toks, token{kind: tOpen, text: "{", pos: p})
			i++
			col++
		case c == '}':
			toks = append(toks, token{kind: tClose, text: "}", pos: p})
			i++
			col++
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, errorf(p, "unterminated quoted string")
			}
			toks = append(toks, token{kind: tWord, text: string(src[i+1 : j]), quoted: true, pos: p})
			col += j + 1 - i
			i = j + 1
		default:
			j := i
			for j < len(src) && !isSpace(src[j]) && src[j] != '{' && src[j] != '}' && src[j] != '"' {
				j++
			}
			toks = append(toks, token{kind: tWord, text: string(src[i:j]), pos: p})
			col += j - i
			i = j
		}
	}
	toks = append(toks, token{kind: tNewline, pos: Pos{File: file, Line: line, Col: col}})
	return toks, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'
}

// stmt is a keyword, its arguments on the same line, and its block if it
// has one.
type stmt struct {
	key      token
	args     []token
	hasBlock bool
	block    []*stmt
	open     Pos // position of "{"
}

func (s *stmt) name() string { return s.key.text }

// maxIncludeDepth bounds nested includes (keepalived allows a few levels).
const maxIncludeDepth = 8

// treeParser turns tokens into statements and expands includes.
type treeParser struct {
	l     *Loader
	toks  []token
	i     int
	file  string
	depth int
}

func (l *Loader) parseTree(file string, src []byte, depth int) ([]*stmt, error) {
	toks, err := lex(file, src)
	if err != nil {
		return nil, err
	}
	p := &treeParser{l: l, toks: toks, file: file, depth: depth}
	body, err := p.block(false, Pos{})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// block reads statements until "}" (nested) or the end of input (top).
func (p *treeParser) block(nested bool, open Pos) ([]*stmt, error) {
	var out []*stmt
	var last *stmt // the statement a "{" at the start of a line belongs to
	atLineStart := true
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		switch t.kind {
		case tNewline:
			p.i++
			atLineStart = true
			continue
		case tClose:
			p.i++
			if !nested {
				return nil, errorf(t.pos, "unexpected \"}\"")
			}
			return out, nil
		case tOpen:
			if !atLineStart || last == nil || last.hasBlock {
				return nil, errorf(t.pos, "unexpected \"{\"")
			}
			p.i++
			if err := p.openBlock(last, t.pos); err != nil {
				return nil, err
			}
			atLineStart = false
			continue
		}
		s := &stmt{key: t}
		p.i++
		for p.i < len(p.toks) && p.toks[p.i].kind == tWord {
			s.args = append(s.args, p.toks[p.i])
			p.i++
		}
		if p.i < len(p.toks) && p.toks[p.i].kind == tOpen {
			open := p.toks[p.i].pos
			p.i++
			if err := p.openBlock(s, open); err != nil {
				return nil, err
			}
		}
		atLineStart = false
		if s.name() == "include" && !s.key.quoted {
			inc, err := p.include(s)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
			last = nil
			continue
		}
		out = append(out, s)
		last = s
	}
	if nested {
		return nil, errorf(open, "\"{\" is never closed")
	}
	return out, nil
}

func (p *treeParser) openBlock(s *stmt, open Pos) error {
	s.hasBlock, s.open = true, open
	body, err := p.block(true, open)
	if err != nil {
		return err
	}
	s.block = body
	return nil
}

// include expands "include PATTERN": a glob relative to the including
// file's directory, every match parsed in order; a pattern that matches
// nothing is an error unless it has glob characters (as keepalived, which
// only warns then).
func (p *treeParser) include(s *stmt) ([]*stmt, error) {
	if len(s.args) != 1 || s.hasBlock {
		return nil, errorf(s.key.pos, "include takes one file name or pattern")
	}
	if p.depth >= maxIncludeDepth {
		return nil, errorf(s.key.pos, "includes nested more than %d deep", maxIncludeDepth)
	}
	pat := s.args[0].text
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(filepath.Dir(p.file), pat)
	}
	files, err := p.l.glob(pat)
	if err != nil {
		return nil, errorf(s.args[0].pos, "include %s: %v", s.args[0].text, err)
	}
	if len(files) == 0 {
		if strings.ContainsAny(pat, "*?[") {
			return nil, nil
		}
		return nil, errorf(s.args[0].pos, "include %s: no such file", s.args[0].text)
	}
	var out []*stmt
	for _, f := range files {
		src, err := p.l.readFile(f)
		if err != nil {
			return nil, errorf(s.args[0].pos, "include %s: %v", s.args[0].text, err)
		}
		body, err := p.l.parseTree(f, src, p.depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, body...)
	}
	return out, nil
}
