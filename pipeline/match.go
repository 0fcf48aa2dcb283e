package pipeline

import (
	"fmt"
	"strconv"
	"strings"
)

// The match AST is what the parser produces from a match string, before any
// symbol is resolved: it is shared by every lflow with the same string.

type exprKind uint8

const (
	eTrue exprKind = iota
	eFalse
	eAnd
	eOr
	eNot
	eCmp      // field relop constant(s)
	eBare     // a boolean symbol or 1-bit field used alone: ip4, ct.new, reg0[3]
	eResident // is_chassis_resident("port")
)

type relop uint8

const (
	opEq relop = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var relopText = [...]string{"==", "!=", "<", "<=", ">", ">="}

// fieldRef is a symbol with an optional subfield range [lo..hi].
type fieldRef struct {
	name   string
	lo, hi int     // -1, -1: the whole field
	sym    *symbol // symtab[name], looked up once by the parser (nil: unknown)
}

// symbol returns the symbol the reference names, or nil.
func (f fieldRef) symbol() *symbol {
	if f.sym != nil {
		return f.sym
	}
	return lookupSymbol(f.name)
}

func (f fieldRef) String() string {
	switch {
	case f.lo < 0:
		return f.name
	case f.lo == f.hi:
		return f.name + "[" + strconv.Itoa(f.lo) + "]"
	}
	return f.name + "[" + strconv.Itoa(f.lo) + ".." + strconv.Itoa(f.hi) + "]"
}

type constKind uint8

const (
	cInt constKind = iota // value (with optional mask)
	cString
	cAddrSet   // $name
	cPortGroup // @name
	cTemplate  // ^name
)

// constant is one constant of a comparison or assignment.
type constant struct {
	kind   constKind
	val    [16]byte
	mask   [16]byte
	masked bool
	fmt    cFormat
	cidr   int    // >= 0: mask written as /cidr
	s      string // string or name
}

func (c constant) String() string {
	switch c.kind {
	case cString:
		return quote(c.s)
	case cAddrSet:
		return "$" + c.s
	case cPortGroup:
		return "@" + c.s
	case cTemplate:
		return "^" + c.s
	}
	s := formatConst(c.val, c.fmt)
	if c.masked {
		if c.cidr >= 0 {
			s += "/" + strconv.Itoa(c.cidr)
		} else {
			s += "/" + formatConst(c.mask, c.fmt)
		}
	}
	return s
}

// expr is a node of the match AST.
type expr struct {
	kind   exprKind
	subs   []*expr // eAnd, eOr: two or more; eNot: one
	field  fieldRef
	op     relop
	consts []constant // eCmp: one or more (a set)
	set    bool       // eCmp: written as {..}
	port   string     // eResident
	one    [1]constant
}

// String renders the AST back to OVN syntax (fully parenthesised where an
// operator nests), so that parsing the result gives the same AST.
func (e *expr) String() string {
	var sb strings.Builder
	e.write(&sb, false)
	return sb.String()
}

func (e *expr) write(sb *strings.Builder, nestedOp bool) {
	switch e.kind {
	case eTrue:
		sb.WriteString("1")
	case eFalse:
		sb.WriteString("0")
	case eAnd, eOr:
		if nestedOp {
			sb.WriteByte('(')
		}
		sep := " && "
		if e.kind == eOr {
			sep = " || "
		}
		for i, s := range e.subs {
			if i > 0 {
				sb.WriteString(sep)
			}
			s.write(sb, true)
		}
		if nestedOp {
			sb.WriteByte(')')
		}
	case eNot:
		sb.WriteByte('!')
		e.subs[0].write(sb, true)
	case eBare:
		sb.WriteString(e.field.String())
	case eResident:
		sb.WriteString("is_chassis_resident(" + quote(e.port) + ")")
	case eCmp:
		sb.WriteString(e.field.String())
		sb.WriteByte(' ')
		sb.WriteString(relopText[e.op])
		sb.WriteByte(' ')
		if e.set {
			sb.WriteByte('{')
		}
		for i, c := range e.consts {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(c.String())
		}
		if e.set {
			sb.WriteByte('}')
		}
	}
}

// ParseError is a syntax error at a byte offset of its input.
type ParseError struct {
	Input string
	Pos   int
	Msg   string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("syntax error at offset %d: %s", e.Pos, e.Msg)
}

type parser struct {
	l   lexer
	err *ParseError
	// Chunks the nodes of one parse are carved from: they live and die
	// together, so a few allocations serve a whole AST.
	exprs []expr
	acts  []action
	// ar, when set, supplies the nodes instead, from memory reused by the
	// next parse: for a string parsed once and dropped after one lowering.
	ar *parseArena
	// Operands of the && / || chains being parsed (nested chains push
	// above their parent's and pop back), copied out at the chain's end.
	stk    []*expr
	stkBuf [8]*expr
}

// parseArena holds the AST nodes of throwaway parses: reset after each
// lowering, its chunks serve the next parse, so a string that northd wrote
// once (nearly all of them: they name ports and addresses) costs no
// garbage. Nothing may refer to its nodes after reset: lowering copies what
// it keeps.
type parseArena struct {
	exprs   []expr
	acts    []action
	exts    []actionExt
	eptrs   []*expr
	aptrs   []*action
	hdr     actions
	prereqs []string
	astk    []*action
	mp      parser // the parsers themselves (they escape)
	ap      actParser
}

func (a *parseArena) reset() {
	a.exprs, a.acts, a.exts = a.exprs[:0], a.acts[:0], a.exts[:0]
	a.eptrs, a.aptrs, a.astk = a.eptrs[:0], a.aptrs[:0], a.astk[:0]
}

// grow returns s with room for one more element: a new chunk when full
// (the old one stays valid for the nodes already handed out).
func grow[T any](s []T) []T {
	if len(s) == cap(s) {
		return make([]T, 0, max(64, 2*cap(s)))
	}
	return s
}

func (a *parseArena) newExpr(k exprKind) *expr {
	a.exprs = grow(a.exprs)
	a.exprs = a.exprs[:len(a.exprs)+1]
	e := &a.exprs[len(a.exprs)-1]
	*e = expr{kind: k}
	return e
}

func (a *parseArena) newAction() *action {
	a.acts = grow(a.acts)
	a.acts = a.acts[:len(a.acts)+1]
	x := &a.acts[len(a.acts)-1]
	*x = action{}
	return x
}

func (a *parseArena) newExt() *actionExt {
	a.exts = grow(a.exts)
	a.exts = a.exts[:len(a.exts)+1]
	x := &a.exts[len(a.exts)-1]
	*x = actionExt{}
	return x
}

// carve returns a copy of s in memory from chunk (capped at its length, so
// an append never writes into a neighbour), or a new slice when chunk is
// nil-managed (heap parses).
func carve[T any](chunk *[]T, s []T, arena bool) []T {
	if !arena || len(s) > 256 {
		return append([]T(nil), s...)
	}
	if cap(*chunk)-len(*chunk) < len(s) {
		*chunk = make([]T, 0, max(256, 2*cap(*chunk)))
	}
	l := len(*chunk)
	*chunk = append(*chunk, s...)
	return (*chunk)[l : l+len(s) : l+len(s)]
}

// reserveExprs sizes the first chunk of expression nodes for s: one per
// operand of && and || plus one for the operator chain (exact without
// parentheses; more nodes get further chunks).
func (p *parser) reserveExprs(s string) {
	n := 1
	if ops := strings.Count(s, "&&") + strings.Count(s, "||"); ops > 0 {
		n = ops + 2
	}
	p.exprs = make([]expr, 0, n)
}

// newExpr returns a new node of kind k.
func (p *parser) newExpr(k exprKind) *expr {
	if p.ar != nil {
		return p.ar.newExpr(k)
	}
	if len(p.exprs) == cap(p.exprs) {
		p.exprs = make([]expr, 0, 4)
	}
	p.exprs = p.exprs[:len(p.exprs)+1]
	e := &p.exprs[len(p.exprs)-1]
	e.kind = k
	return e
}

// newAction returns a new, empty action.
func (p *parser) newAction() *action {
	if p.ar != nil {
		return p.ar.newAction()
	}
	if len(p.acts) == cap(p.acts) {
		p.acts = make([]action, 0, 4)
	}
	p.acts = p.acts[:len(p.acts)+1]
	return &p.acts[len(p.acts)-1]
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		msg := fmt.Sprintf(format, args...)
		if p.l.tok.kind == tError {
			msg = p.l.tok.s
		}
		p.err = &ParseError{Input: p.l.in, Pos: p.l.tok.pos, Msg: msg}
	}
}

func (p *parser) tok() *token { return &p.l.tok }

func (p *parser) accept(k tokKind) bool {
	if p.l.tok.kind == k {
		p.l.next()
		return true
	}
	return false
}

func (p *parser) expect(k tokKind) bool {
	if p.accept(k) {
		return true
	}
	p.fail("expecting %s, found %q", k, p.l.tok.text())
	return false
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 64

// parseMatch parses a match expression.
func parseMatch(s string) (*expr, error) { return parseMatchIn(s, nil) }

// parseMatchIn parses a match expression into ar (nil: new memory).
func parseMatchIn(s string, ar *parseArena) (*expr, error) {
	var p *parser
	if ar != nil {
		ar.mp = parser{ar: ar}
		p = &ar.mp
	} else {
		p = &parser{}
		p.reserveExprs(s)
	}
	p.l.init(s)
	e := p.parseOr(0)
	if p.err == nil && p.l.tok.kind != tEOF {
		p.fail("unexpected %q after expression", p.l.tok.text())
	}
	if p.err != nil {
		return nil, p.err
	}
	return e, nil
}

func (p *parser) parseOr(depth int) *expr {
	if depth > maxDepth {
		p.fail("expression nests too deeply")
		return p.newExpr(eFalse)
	}
	first := p.parseAnd(depth)
	if p.tok().kind != tOr {
		return first
	}
	e := p.newExpr(eOr)
	base := p.push(first)
	for p.err == nil && p.accept(tOr) {
		p.stk = append(p.stk, p.parseAnd(depth))
	}
	e.subs = p.pop(base)
	if p.tok().kind == tAnd {
		p.fail("&& and || must be parenthesised when used together")
	}
	return e
}

func (p *parser) parseAnd(depth int) *expr {
	first := p.parseNot(depth)
	if p.tok().kind != tAnd {
		return first
	}
	e := p.newExpr(eAnd)
	base := p.push(first)
	for p.err == nil && p.accept(tAnd) {
		p.stk = append(p.stk, p.parseNot(depth))
	}
	e.subs = p.pop(base)
	if p.tok().kind == tOr {
		p.fail("&& and || must be parenthesised when used together")
	}
	return e
}

// push starts a chain of operands with first; it returns the chain's base.
func (p *parser) push(first *expr) int {
	if p.stk == nil {
		p.stk = p.stkBuf[:0]
	}
	p.stk = append(p.stk, first)
	return len(p.stk) - 1
}

// pop ends the chain that started at base and returns its operands.
func (p *parser) pop(base int) []*expr {
	var out []*expr
	if p.ar != nil {
		out = carve(&p.ar.eptrs, p.stk[base:], true)
	} else {
		out = carve(nil, p.stk[base:], false)
	}
	clear(p.stk[base:])
	p.stk = p.stk[:base]
	return out
}

func (p *parser) parseNot(depth int) *expr {
	if p.accept(tNot) {
		if depth > maxDepth {
			p.fail("expression nests too deeply")
			return p.newExpr(eFalse)
		}
		sub := p.parseNot(depth + 1)
		e := p.newExpr(eNot)
		e.subs = p.pop(p.push(sub))
		return e
	}
	return p.parsePrimary(depth)
}

func (p *parser) parsePrimary(depth int) *expr {
	t := p.tok()
	switch t.kind {
	case tLParen:
		p.l.next()
		e := p.parseOr(depth + 1)
		p.expect(tRParen)
		return e
	case tInt:
		// "1" and "0" are the constant true and false.
		v := t.val
		isZero := v == [16]byte{}
		var one [16]byte
		one[15] = 1
		if t.fmt == fmtDecimal && (isZero || v == one) {
			p.l.next()
			if isZero {
				return p.newExpr(eFalse)
			}
			return p.newExpr(eTrue)
		}
		p.fail("constant %s where a field or predicate was expected", t.text())
		return p.newExpr(eFalse)
	case tID:
		if t.s == "is_chassis_resident" {
			p.l.next()
			p.expect(tLParen)
			port := p.tok().s
			if !p.expect(tString) {
				return p.newExpr(eFalse)
			}
			p.expect(tRParen)
			e := p.newExpr(eResident)
			e.port = port
			return e
		}
		f := p.parseFieldRef()
		if p.err != nil {
			return p.newExpr(eFalse)
		}
		var op relop
		switch p.tok().kind {
		case tEq:
			op = opEq
		case tNe:
			op = opNe
		case tLt:
			op = opLt
		case tLe:
			op = opLe
		case tGt:
			op = opGt
		case tGe:
			op = opGe
		default:
			e := p.newExpr(eBare)
			e.field = f
			return e
		}
		p.l.next()
		e := p.newExpr(eCmp)
		e.field, e.op = f, op
		if p.accept(tLCurly) {
			e.set = true
			for p.err == nil {
				e.consts = append(e.consts, p.parseConstant())
				if p.accept(tRCurly) {
					break
				}
				p.accept(tComma) // commas between set members are optional
				if p.tok().kind == tEOF {
					p.fail("unterminated set")
				}
			}
		} else {
			e.one[0] = p.parseConstant()
			e.consts = e.one[:]
		}
		return e
	}
	p.fail("expecting a field, predicate or '(', found %q", t.text())
	return p.newExpr(eFalse)
}

// parseFieldRef parses NAME or NAME[i] or NAME[lo..hi].
func (p *parser) parseFieldRef() fieldRef {
	f := fieldRef{name: p.tok().s, lo: -1, hi: -1}
	f.sym = lookupSymbol(f.name)
	if !p.expect(tID) {
		return f
	}
	if !p.accept(tLSquare) {
		return f
	}
	lo, ok := p.smallInt()
	if !ok {
		return f
	}
	hi := lo
	if p.accept(tEllipsis) {
		if hi, ok = p.smallInt(); !ok {
			return f
		}
	}
	p.expect(tRSquare)
	if hi < lo {
		p.fail("invalid subfield range %d..%d", lo, hi)
	}
	f.lo, f.hi = lo, hi
	return f
}

func (p *parser) smallInt() (int, bool) {
	t := p.tok()
	if t.kind != tInt || t.fmt != fmtDecimal {
		p.fail("expecting a bit index, found %q", t.text())
		return 0, false
	}
	for _, b := range t.val[:14] {
		if b != 0 {
			p.fail("bit index %s out of range", t.text())
			return 0, false
		}
	}
	n := int(t.val[14])<<8 | int(t.val[15])
	if n > 127 {
		p.fail("bit index %d out of range", n)
		return 0, false
	}
	p.l.next()
	return n, true
}

// parseConstant parses an integer/address (with optional /mask or /cidr), a
// string, $set, @group or ^template.
func (p *parser) parseConstant() constant {
	t := *p.tok()
	c := constant{cidr: -1}
	switch t.kind {
	case tString:
		c.kind, c.s = cString, t.s
	case tMacro:
		c.kind, c.s = cAddrSet, t.s
	case tPortGroup:
		c.kind, c.s = cPortGroup, t.s
	case tTemplate:
		c.kind, c.s = cTemplate, t.s
	case tInt:
		c.kind, c.val, c.fmt = cInt, t.val, t.fmt
		p.l.next()
		if p.accept(tSlash) {
			m := *p.tok()
			if m.kind != tInt {
				p.fail("expecting a mask after '/', found %q", m.text())
				return c
			}
			p.l.next()
			c.masked = true
			if m.fmt == fmtDecimal && (t.fmt == fmtIPv4 || t.fmt == fmtIPv6) {
				n := int(m.val[15])
				width := 32
				if t.fmt == fmtIPv6 {
					width = 128
				}
				if m.val[14] != 0 || n > width {
					p.fail("prefix length %s out of range", m.text())
					return c
				}
				c.cidr = n
				c.mask = prefixMask(width, n)
			} else {
				c.mask = m.val
			}
			for i := range c.val {
				if c.val[i]&^c.mask[i] != 0 {
					p.fail("value %s has bits outside its mask", c.String())
					return c
				}
			}
		}
		return c
	default:
		p.fail("expecting a constant, found %q", t.text())
		return c
	}
	p.l.next()
	return c
}

// prefixMask returns a mask of the n most significant bits of a width-bit
// value, right-aligned in 16 bytes.
func prefixMask(width, n int) [16]byte {
	if n == width && width >= 0 && width <= 128 {
		return fullMasks[width] // the common case: a whole field of width bits
	}
	return computePrefixMask(width, n)
}

// fullMasks[w] is prefixMask(w, w): the mask of a w-bit field.
var fullMasks = func() (m [129][16]byte) {
	for w := range m {
		m[w] = computePrefixMask(w, w)
	}
	return m
}()

func computePrefixMask(width, n int) [16]byte {
	var m [16]byte
	for i := 0; i < n; i++ {
		bit := width - 1 - i // bit index from the least significant end
		m[15-bit/8] |= 1 << uint(bit%8)
	}
	return m
}
