package injectors

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spillbench/spillbench/spill"
)

// OpKind is the kind of a call through the spill FS seam.
type OpKind string

const (
	OpMkdir  OpKind = "mkdir"
	OpCreate OpKind = "create"
	OpRemove OpKind = "remove"
	OpWrite  OpKind = "write"
	OpRead   OpKind = "read"
	OpClose  OpKind = "close"
)

var opKinds = []OpKind{OpMkdir, OpCreate, OpRemove, OpWrite, OpRead, OpClose}

// Op is one call through the seam, as rules see it.
type Op struct {
	Kind  OpKind
	Site  spill.Site
	Path  string // the directory for mkdir and create, else the file
	Index int    // calls through this FS so far, this one included
}

// Rule is a predicate over calls, written in a small s-expression
// language in the spirit of pebble's errorfs:
//
//	(op write)              the call's kind: mkdir create remove write read close
//	(site batch.write)      the call's seam site
//	(path "*/spill/*")      the path the call acts on matches a glob: the
//	                        directory for mkdir and create, the file for
//	                        remove, write, read and close (a file made
//	                        without a name is <dir>/(anonymous))
//	(index 3)               the 3rd call through the FS
//	(randomly 0.25 7)       a quarter of calls, the same ones for seed 7
//	(and R...) (or R...) (not R)
//
// String prints a rule in the canonical form ParseRule reads back.
type Rule interface {
	Match(Op) bool
	String() string
}

// RuleError is a rule that does not parse, with the byte position of the
// problem.
type RuleError struct {
	Rule string
	Pos  int
	Msg  string
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("rule %q: at position %d: %s", e.Rule, e.Pos, e.Msg)
}

// ParseRule parses a rule.
func ParseRule(s string) (Rule, error) {
	p := &ruleParser{src: s}
	p.next()
	r, err := p.rule()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s after the rule", p.tok)
	}
	return r, nil
}

type (
	opRule     OpKind
	siteRule   spill.Site
	pathRule   string
	indexRule  int
	randomRule struct {
		p    float64
		seed uint64
	}
	andRule []Rule
	orRule  []Rule
	notRule struct{ r Rule }
)

func (r opRule) Match(o Op) bool   { return o.Kind == OpKind(r) }
func (r siteRule) Match(o Op) bool { return o.Site == spill.Site(r) }
func (r pathRule) Match(o Op) bool {
	ok, _ := filepath.Match(string(r), o.Path)
	return ok
}
func (r indexRule) Match(o Op) bool { return o.Index == int(r) }

// Match decides by a hash of the seed and the call index: random-looking,
// and the same calls every run.
func (r randomRule) Match(o Op) bool { return chance(r.seed, uint64(o.Index)) < r.p }

func (r andRule) Match(o Op) bool {
	for _, x := range r {
		if !x.Match(o) {
			return false
		}
	}
	return true
}

func (r orRule) Match(o Op) bool {
	for _, x := range r {
		if x.Match(o) {
			return true
		}
	}
	return false
}

func (r notRule) Match(o Op) bool { return !r.r.Match(o) }

func (r opRule) String() string    { return "(op " + string(r) + ")" }
func (r siteRule) String() string  { return "(site " + string(r) + ")" }
func (r pathRule) String() string  { return "(path " + strconv.Quote(string(r)) + ")" }
func (r indexRule) String() string { return "(index " + strconv.Itoa(int(r)) + ")" }
func (r randomRule) String() string {
	return "(randomly " + strconv.FormatFloat(r.p, 'g', -1, 64) + " " + strconv.FormatUint(r.seed, 10) + ")"
}
func (r andRule) String() string { return listString("and", r) }
func (r orRule) String() string  { return listString("or", r) }
func (r notRule) String() string { return "(not " + r.r.String() + ")" }

func listString(name string, rs []Rule) string {
	parts := []string{"(" + name}
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, " ") + ")"
}

// The tokenizer.

type tokKind int

const (
	tokEOF tokKind = iota
	tokOpen
	tokClose
	tokAtom
	tokString
	tokBad
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of rule"
	case tokOpen:
		return `"("`
	case tokClose:
		return `")"`
	}
	return strconv.Quote(t.text)
}

type ruleParser struct {
	src string
	off int
	tok token
}

func (p *ruleParser) errorf(format string, args ...any) error {
	return &RuleError{Rule: p.src, Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *ruleParser) next() {
	for p.off < len(p.src) && strings.ContainsRune(" \t\n\r", rune(p.src[p.off])) {
		p.off++
	}
	start := p.off
	if p.off >= len(p.src) {
		p.tok = token{tokEOF, "", start}
		return
	}
	switch c := p.src[p.off]; c {
	case '(':
		p.off++
		p.tok = token{tokOpen, "(", start}
	case ')':
		p.off++
		p.tok = token{tokClose, ")", start}
	case '"':
		end := p.off + 1
		for end < len(p.src) && p.src[end] != '"' {
			if p.src[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(p.src) {
			p.off = len(p.src)
			p.tok = token{tokBad, "unterminated string", start}
			return
		}
		text, err := strconv.Unquote(p.src[p.off : end+1])
		p.off = end + 1
		if err != nil {
			p.tok = token{tokBad, "bad string " + p.src[start:p.off], start}
			return
		}
		p.tok = token{tokString, text, start}
	default:
		end := p.off
		for end < len(p.src) && !strings.ContainsRune(" \t\n\r()\"", rune(p.src[end])) {
			end++
		}
		p.tok = token{tokAtom, p.src[p.off:end], start}
		p.off = end
	}
}

func (p *ruleParser) rule() (Rule, error) {
	if p.tok.kind == tokBad {
		return nil, p.errorf("%s", p.tok.text)
	}
	if p.tok.kind != tokOpen {
		return nil, p.errorf("expected \"(\" to start a rule, found %s", p.tok)
	}
	p.next()
	if p.tok.kind != tokAtom {
		return nil, p.errorf("expected a predicate name, found %s", p.tok)
	}
	name, namePos := p.tok.text, p.tok.pos
	p.next()
	var r Rule
	var err error
	switch name {
	case "op":
		r, err = p.opArg()
	case "site":
		r, err = p.siteArg()
	case "path":
		r, err = p.pathArg()
	case "index":
		var n int
		n, err = p.intArg()
		r = indexRule(n)
	case "randomly":
		r, err = p.randomArgs()
	case "and", "or":
		var rs []Rule
		rs, err = p.ruleList(name)
		r = andRule(rs)
		if name == "or" {
			r = orRule(rs)
		}
	case "not":
		var x Rule
		x, err = p.rule()
		r = notRule{x}
	default:
		p.tok.pos = namePos
		return nil, p.errorf("unknown predicate %q; use op, site, path, index, randomly, and, or or not", name)
	}
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokClose {
		return nil, p.errorf("expected \")\" to close (%s ...), found %s", name, p.tok)
	}
	p.next()
	return r, nil
}

func (p *ruleParser) atom(what string) (string, error) {
	if p.tok.kind != tokAtom {
		return "", p.errorf("expected %s, found %s", what, p.tok)
	}
	s := p.tok.text
	p.next()
	return s, nil
}

func (p *ruleParser) opArg() (Rule, error) {
	pos := p.tok.pos
	s, err := p.atom("an op kind")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(opKinds, OpKind(s)) {
		msg := "unknown op kind %q; use mkdir, create, remove, write, read or close"
		if s == "seek" || s == "sync" {
			msg = "op kind %q never happens: the spill seam uses positional I/O and never fsyncs; use write or close"
		}
		return nil, &RuleError{Rule: p.src, Pos: pos, Msg: fmt.Sprintf(msg, s)}
	}
	return opRule(s), nil
}

func (p *ruleParser) siteArg() (Rule, error) {
	pos := p.tok.pos
	s, err := p.atom("a site name")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(spill.Sites, spill.Site(s)) {
		return nil, &RuleError{Rule: p.src, Pos: pos, Msg: fmt.Sprintf("unknown site %q; the sites are %v", s, spill.Sites)}
	}
	return siteRule(s), nil
}

func (p *ruleParser) pathArg() (Rule, error) {
	if p.tok.kind != tokString {
		return nil, p.errorf("expected a quoted glob, found %s", p.tok)
	}
	glob := p.tok.text
	if _, err := filepath.Match(glob, ""); err != nil {
		return nil, p.errorf("bad glob %q: %v", glob, err)
	}
	p.next()
	return pathRule(glob), nil
}

func (p *ruleParser) intArg() (int, error) {
	pos := p.tok.pos
	s, err := p.atom("a call index")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, &RuleError{Rule: p.src, Pos: pos, Msg: fmt.Sprintf("call index %q is not a whole number from 1", s)}
	}
	return n, nil
}

func (p *ruleParser) randomArgs() (Rule, error) {
	pos := p.tok.pos
	ps, err := p.atom("a probability")
	if err != nil {
		return nil, err
	}
	prob, err := strconv.ParseFloat(ps, 64)
	if err != nil || !(prob >= 0 && prob <= 1) {
		return nil, &RuleError{Rule: p.src, Pos: pos, Msg: fmt.Sprintf("probability %q is not a number from 0 to 1", ps)}
	}
	pos = p.tok.pos
	ss, err := p.atom("a seed")
	if err != nil {
		return nil, err
	}
	seed, err := strconv.ParseUint(ss, 10, 64)
	if err != nil {
		return nil, &RuleError{Rule: p.src, Pos: pos, Msg: fmt.Sprintf("seed %q is not a whole number", ss)}
	}
	return randomRule{prob, seed}, nil
}

func (p *ruleParser) ruleList(name string) ([]Rule, error) {
	var rs []Rule
	for p.tok.kind == tokOpen {
		r, err := p.rule()
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, p.errorf("(%s ...) needs at least one rule", name)
	}
	return rs, nil
}
