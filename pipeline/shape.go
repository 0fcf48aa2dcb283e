package pipeline

import (
	"encoding/binary"
	"slices"
	"strings"
)

// Shape templates. Northd's strings are nearly all unique, but they come in
// few shapes: `eth.dst == 50:54:00:00:29:49` and `outport = "sw41-p73";
// output;` are written ten thousand times with other literals. A worker of
// a large batch lexes each string into its skeleton (the tokens, with the
// literals outside subscripts, numbers and port names, as slots) and keeps,
// per skeleton (and pipeline, table, datapath kind), a template: what the
// lowering does not owe to the literals, worked out once:
//
//   - the match must be an AND of elements that are either `field ==
//     literal` (one unmasked number or port name) or free of literals and of
//     names the resolver answers (predicates, 1-bit fields, their negations
//     and combinations). The literal-free elements, the prerequisites of the
//     fields compared and those the actions add are expanded once into a
//     normal form; an lflow of the shape then only ANDs into it the clause
//     of each `field == literal`, built by the same code as a full expansion.
//     Those clauses hold one value, so the disjuncts come out in the order a
//     full expansion gives;
//   - the actions must be statements that hold no literal (lowered once:
//     their ops are shared, as ops are read-only) or assignments of one
//     literal (lowered per lflow by the ordinary code, with its literal).
//
// A template is built from the first lflow of its shape, after checking that
// its parse maps each slot to the constant of one such element or
// assignment (the parser only looks at a literal's value where the
// skeleton differs: masks, sets, `1`/`0` as true/false); other shapes (a
// set, a port group, nested actions holding literals ...) are compiled as
// before. Results are the same as without templates, rule for rule, error
// for error, dependency for dependency; tests compare both
// (TestShapesEqualPlain, FuzzShapes, and the corpus through
// TestParallelEqualsSerial and TestIncrementalEqualsFull).

// A worker first compares an lflow's strings with the last two templates
// of its table (skel.slotsOf: the text between the literals byte for byte,
// the literals alone lexed); only a miss lexes them whole and looks the
// skeleton up by hash.

// skel is the skeleton of one string: its tokens and which are slots. It
// holds no pointer but its string, so that filling it costs the GC nothing.
type skel struct {
	in    string
	toks  []skelTok
	slots []int32    // indexes in toks of the literals, in order
	vals  [][16]byte // the value of each slot that is a number
	hash  uint64
}

type skelTok struct {
	kind     tokKind
	fmt      cFormat
	pos, end int32 // the token's bytes in the string
}

// lex fills k from s; false when s does not lex (the parser reports it) or
// holds a string with escapes.
func (k *skel) lex(s string) bool {
	k.in, k.toks, k.slots, k.vals = s, k.toks[:0], k.slots[:0], k.vals[:0]
	h := uint64(14695981039346656037)
	var l lexer
	l.init(s)
	depth := 0
	for ; l.tok.kind != tEOF; l.next() {
		t := &l.tok
		raw := s[t.pos:l.pos]
		switch t.kind {
		case tError:
			return false
		case tLSquare:
			depth++
		case tRSquare:
			depth--
		case tString:
			// Escapes make the value shorter than the text between the quotes.
			if len(t.s) != len(raw)-2 {
				return false
			}
		}
		slot := t.kind == tString || t.kind == tInt && depth <= 0
		if slot {
			k.slots = append(k.slots, int32(len(k.toks)))
			k.vals = append(k.vals, t.val)
		}
		k.toks = append(k.toks, skelTok{kind: t.kind, fmt: t.fmt, pos: int32(t.pos), end: int32(l.pos)})
		h = (h ^ uint64(t.kind)<<8 ^ uint64(t.fmt)) * 1099511628211
		if !slot {
			h = hashText(h, raw)
		}
	}
	k.hash = h
	return true
}

// direct reports whether strings can be matched against k with slotsOf:
// no slot follows a byte of a word (a literal lexed alone could then end or
// start elsewhere than in the whole string: `x..1`, `10.0.0.1:80`).
func (k *skel) direct() bool {
	for _, i := range k.slots {
		if p := k.toks[i].pos; p > 0 && charClass[k.in[p-1]]&classWord != 0 {
			return false
		}
	}
	return true
}

// slotsOf fills k with the slots of s (toks holding only those) when s is
// t's text with other literals: the bytes around t's slots equal, each
// literal of s, lexed alone, a token of the slot's kind and format that
// starts where the slot does. Lexing s whole would then give t's skeleton
// (t.direct: the tokens before a slot end the same whatever it holds), so
// the template of t is that of s. It reports false otherwise (s is then
// lexed whole).
func (k *skel) slotsOf(s string, t *skel) bool {
	k.in, k.toks, k.slots, k.vals = s, k.toks[:0], k.slots[:0], k.vals[:0]
	q, prev := 0, 0 // where s and t.in continue
	for j, i := range t.slots {
		st := &t.toks[i]
		seg := t.in[prev:st.pos]
		if len(s)-q < len(seg) || s[q:q+len(seg)] != seg {
			return false
		}
		q += len(seg)
		val, end, ok := lexSlot(s, q, st)
		if !ok {
			return false
		}
		k.slots = append(k.slots, int32(j))
		k.vals = append(k.vals, val)
		k.toks = append(k.toks, skelTok{kind: st.kind, fmt: st.fmt, pos: int32(q), end: int32(end)})
		q, prev = end, int(st.end)
	}
	return s[q:] == t.in[prev:]
}

// lexSlot lexes the token of s at q, which must be a literal of st's kind
// and format (a string without escapes), returning its value and end. The
// commonest (a MAC, a dotted quad, a quoted name) are read here as the
// lexer would read them.
func lexSlot(s string, q int, st *skelTok) (val [16]byte, end int, ok bool) {
	switch {
	case st.kind == tInt && st.fmt == fmtMAC:
		// The lexer's word is the 17 bytes when no word byte follows.
		if end = q + 17; end <= len(s) && (end == len(s) || charClass[s[end]]&classWord == 0) {
			val, ok = parseMAC(s[q:end])
			return val, end, ok
		}
	case st.kind == tInt && st.fmt == fmtIPv4:
		// The lexer's word: word bytes; a plain dotted quad when it holds
		// no ':' (an address with a port) and no '..' (a range).
		end = q
		for end < len(s) && charClass[s[end]]&classWord != 0 && s[end] != ':' {
			end++
		}
		if end == len(s) || s[end] != ':' {
			if w := s[q:end]; !strings.Contains(w, "..") {
				val, ok = parseIPv4Fast(w)
				if ok {
					return val, end, true
				}
			}
		}
	case st.kind == tString:
		if q < len(s) && s[q] == '"' {
			for i := q + 1; i < len(s); i++ {
				switch s[i] {
				case '"':
					return val, i + 1, true
				case '\\':
					return val, 0, false
				}
			}
			return val, 0, false
		}
		return val, 0, false
	}
	l := lexer{in: s, pos: q}
	l.next()
	tok := &l.tok
	if tok.pos != q || tok.kind != st.kind || tok.fmt != st.fmt || tok.kind == tString && len(tok.s) != l.pos-q-2 {
		return val, 0, false
	}
	return tok.val, l.pos, true
}

// hashText mixes s into h eight bytes at a time (a filter for same, which
// compares the text).
func hashText(h uint64, s string) uint64 {
	for ; len(s) >= 8; s = s[8:] {
		h = (h ^ binary.LittleEndian.Uint64([]byte(s[:8]))) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// same reports whether k and o have the same skeleton: the same tokens, the
// same text but for the slots.
func (k *skel) same(o *skel) bool {
	if k.hash != o.hash || len(k.toks) != len(o.toks) || len(k.slots) != len(o.slots) {
		return false
	}
	j := 0
	for i := range k.toks {
		a, b := &k.toks[i], &o.toks[i]
		if a.kind != b.kind || a.fmt != b.fmt {
			return false
		}
		// Equal kinds put the slots at the same places.
		if j < len(k.slots) && int(k.slots[j]) == i {
			j++
			continue
		}
		if k.in[a.pos:a.end] != o.in[b.pos:b.end] {
			return false
		}
	}
	return true
}

func (k *skel) clone() skel {
	return skel{in: k.in, toks: slices.Clone(k.toks), slots: slices.Clone(k.slots), vals: slices.Clone(k.vals), hash: k.hash}
}

// constOf is the constant the parser makes of literal j.
func (k *skel) constOf(j int) constant {
	t := &k.toks[k.slots[j]]
	if t.kind == tString {
		return constant{kind: cString, s: k.in[t.pos+1 : t.end-1], cidr: -1}
	}
	return constant{kind: cInt, val: k.vals[j], fmt: t.fmt, cidr: -1}
}

// isSlot reports whether c is what the parser makes of literal j.
func (k *skel) isSlot(c *constant, j int) bool {
	if j >= len(k.slots) || c.masked {
		return false
	}
	x := k.constOf(j)
	return c.kind == x.kind && c.s == x.s && c.val == x.val && c.fmt == x.fmt
}

type shapeTmpl struct {
	m, a     skel
	pipeline Pipeline
	table    uint8
	isRouter bool
	next     *shapeTmpl // another template with the same hash
	ok       bool       // false: the shape is compiled the ordinary way
	direct   bool       // ok, and strings can be matched against it directly (slotsOf)
	static   dnf        // literal-free part of the match and prerequisites
	prims    []slotPrim
	acts     []tmplAct
}

// slotPrim is a `field == literal` element of a template's match.
type slotPrim struct {
	sym   *symbol
	lo, w int
	slot  int // index in the match's slots
	e     *expr
}

// tmplAct is one statement of a template's actions: shared ops, or an
// assignment of slot `slot` of the actions.
type tmplAct struct {
	ops    []Op
	slot   int // -1: ops
	a      action
	first  constant // the literal of the lflow the template was built from
	varies bool     // an lflow of the shape assigned another literal
	// The ops of first, once lowered without asking the resolver (then
	// the same for every lflow of the shape): `arp.op = 2`.
	firstOps []Op
	kept     bool
}

// shapeCache is one worker's templates and the skeletons of its current
// lflow.
type shapeCache struct {
	m      map[uint64]*shapeTmpl
	mk, ak skel
	lexed  bool
	full   bool       // mk and ak hold every token, not only the slots
	hit    *shapeTmpl // the template prepare matched the strings against
	cbuf   [1]constant
	// The last two templates used per pipeline and table: an lflow's
	// strings are first compared with them, byte for byte but for the
	// literals, which alone are lexed (most lflows of a table share a few
	// shapes).
	recent [2][256][2]*shapeTmpl
}

const shapeCacheMax = 1 << 12

func newShapeCache() *shapeCache {
	return &shapeCache{m: map[uint64]*shapeTmpl{}}
}

// prepare lexes f's strings: only their literals when they are those of a
// recent template with other literals.
func (sc *shapeCache) prepare(f *LogicalFlow) {
	sc.hit, sc.full = nil, false
	if int(f.Pipeline) < len(sc.recent) {
		r := &sc.recent[f.Pipeline][f.Table]
		for i, t := range r {
			if t != nil && sc.mk.slotsOf(f.Match, &t.m) && sc.ak.slotsOf(f.Actions, &t.a) {
				sc.hit, sc.lexed = t, true
				r[0], r[i] = t, r[0]
				return
			}
		}
	}
	sc.lexFull(f)
}

func (sc *shapeCache) lexFull(f *LogicalFlow) {
	sc.lexed, sc.full = sc.mk.lex(f.Match) && sc.ak.lex(f.Actions), true
}

// remember makes t the first template prepare tries for its table.
func (sc *shapeCache) remember(t *shapeTmpl) {
	if !t.direct || int(t.pipeline) >= len(sc.recent) {
		return
	}
	if r := &sc.recent[t.pipeline][t.table]; r[0] != t {
		r[0], r[1] = t, r[0]
	}
}

// template returns the template of the prepared lflow's shape for a
// datapath of the given kind, building it from f on first sight; nil when
// the shape has none.
func (sc *shapeCache) template(f *LogicalFlow, dp uint32, isRouter bool, r Resolver) *shapeTmpl {
	if sc == nil {
		return nil
	}
	if sc.hit != nil {
		if sc.hit.isRouter == isRouter {
			return sc.hit
		}
		if !sc.full {
			sc.lexFull(f)
		}
	}
	if !sc.lexed {
		return nil
	}
	h := sc.mk.hash*31 ^ sc.ak.hash ^ uint64(f.Pipeline)<<56 ^ uint64(f.Table)<<48 ^ uint64(b2i(isRouter))<<40
	for t := sc.m[h]; t != nil; t = t.next {
		if t.pipeline == f.Pipeline && t.table == f.Table && t.isRouter == isRouter && t.m.same(&sc.mk) && t.a.same(&sc.ak) {
			if !t.ok {
				return nil
			}
			sc.remember(t)
			return t
		}
	}
	if len(sc.m) >= shapeCacheMax {
		clear(sc.m)
	}
	t := &shapeTmpl{m: sc.mk.clone(), a: sc.ak.clone(), pipeline: f.Pipeline, table: f.Table, isRouter: isRouter,
		next: sc.m[h]}
	sc.m[h] = t
	t.build(f, dp, r)
	if !t.ok {
		return nil
	}
	t.direct = t.m.direct() && t.a.direct()
	sc.remember(t)
	return t
}

// build works out the template from f (whose skeletons t holds), setting
// t.ok when the shape qualifies.
func (t *shapeTmpl) build(f *LogicalFlow, dp uint32, r Resolver) {
	e, err := parseMatch(f.Match)
	if err != nil {
		return
	}
	var starts []int
	p := &actParser{starts: &starts}
	var as actions
	p.prereqs = &as.prereqs
	p.l.init(f.Actions)
	as.list = p.parseList(tEOF)
	if p.err != nil || len(starts) != len(as.list) {
		return
	}
	var pa parsedActions
	pa.set(f.Actions, &as, nil, nil)
	if pa.err != nil {
		return
	}

	// The match: literal-free elements and prerequisites, in order.
	elems := []*expr{e}
	if e.kind == eAnd {
		elems = e.subs
	}
	ctx := &expandCtx{}
	static := dnfTrue
	k := 0
	for _, x := range elems {
		var d dnf
		if p, ok := slotPrimOf(x); ok {
			if !t.m.isSlot(&x.consts[0], k) {
				return
			}
			p.slot = k
			k++
			t.prims = append(t.prims, p)
			if d, err = prereqOf(p.sym); err != nil {
				return
			}
		} else {
			if !literalFree(x) {
				return
			}
			if d, err = ctx.expand(x, false, 0); err != nil {
				return
			}
		}
		if static, err = ctx.al.and(static, d); err != nil {
			return
		}
	}
	if k != len(t.m.slots) {
		return
	}
	if pa.prereqs != nil {
		d, err := ctx.expand(pa.prereqs, false, 0)
		if err != nil {
			return
		}
		if static, err = ctx.al.and(static, d); err != nil {
			return
		}
	}
	t.static = static

	// The actions: statements without literals are lowered now.
	c := newLowerCtx(f, dp, r)
	defer ctxPool.Put(c)
	si := 0
	for i, a := range as.list {
		end := len(f.Actions)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		first := si
		for si < len(t.a.slots) && int(t.a.toks[t.a.slots[si]].pos) < end {
			si++
		}
		switch si - first {
		case 0:
			ops, err := c.lowerAction(nil, a, false)
			if err != nil || len(c.deps.list) != 0 {
				return
			}
			t.acts = append(t.acts, tmplAct{ops: ops, slot: -1})
		case 1:
			if a.kind != aAssign || a.src.isField || len(a.src.consts) != 1 ||
				!t.a.isSlot(&a.src.consts[0], first) {
				return
			}
			ta := tmplAct{slot: first, a: *a, first: a.src.consts[0]}
			ta.a.src.consts = nil
			t.acts = append(t.acts, ta)
		default:
			return
		}
	}
	t.ok = si == len(t.a.slots)
}

// slotPrimOf returns the slot element x is, if it is `field == literal`.
func slotPrimOf(x *expr) (slotPrim, bool) {
	if x.kind != eCmp || x.op != opEq || x.set || len(x.consts) != 1 {
		return slotPrim{}, false
	}
	if c := &x.consts[0]; c.masked || c.kind != cInt && c.kind != cString {
		return slotPrim{}, false
	}
	s := x.field.symbol()
	if s == nil || s.kind == symPredicate {
		return slotPrim{}, false
	}
	lo, w, err := subRange(s, x.field)
	if err != nil {
		return slotPrim{}, false
	}
	return slotPrim{sym: s, lo: lo, w: w, e: x}, true
}

// literalFree reports whether x holds no constant (and so no slot) and
// asks the resolver nothing.
func literalFree(x *expr) bool {
	switch x.kind {
	case eBare:
		return true
	case eAnd, eOr, eNot:
		for _, s := range x.subs {
			if !literalFree(s) {
				return false
			}
		}
		return true
	}
	return false
}

// lowerShaped compiles f for datapath dp through template t, the literals
// being those sc prepared: what lowerFlow gives, less the parse and the
// literal-free work.
func lowerShaped(f *LogicalFlow, dp uint32, t *shapeTmpl, sc *shapeCache, r Resolver, newConj func() uint32) (*lowered, *LflowError) {
	c := newLowerCtx(f, dp, r)
	defer ctxPool.Put(c)
	out := c.slabs.newLowered()
	out.isRouter = c.isRouter
	var ops []Op
	if len(t.acts) <= len(out.opsBuf) {
		ops = out.opsBuf[:0]
	} else {
		ops = make([]Op, 0, len(t.acts)+2)
	}
	for i := range t.acts {
		ta := &t.acts[i]
		if ta.slot < 0 {
			ops = append(ops, ta.ops...)
			continue
		}
		if !ta.varies && !sc.ak.isSlot(&ta.first, ta.slot) {
			ta.varies = true
		}
		if !ta.varies && ta.kept {
			ops = append(ops, ta.firstOps...)
			continue
		}
		// The template is this worker's: its assignment takes the literal
		// in place (a copy of the statement cost more than its lowering).
		a := &ta.a
		a.src.one[0] = sc.ak.constOf(ta.slot)
		a.src.consts = a.src.one[:]
		// A literal that varies across the shape (a MAC, an address) is
		// seldom worth looking up among the boxed ops.
		c.unique = ta.varies
		var err error
		start, ndeps := len(ops), len(c.deps.list)
		ops, err = c.lowerAction(ops, a, false)
		c.unique = false
		a.src.consts, a.src.one[0] = nil, constant{}
		if err != nil {
			return c.failed(), newLflowError(f, dp, "actions", err)
		}
		if !ta.varies && len(c.deps.list) == ndeps {
			ta.firstOps, ta.kept = slices.Clone(ops[start:]), true
		}
	}
	d := t.static
	for _, p := range t.prims {
		sc.cbuf[0] = sc.mk.constOf(p.slot)
		body, err := c.cmpBody(p.sym, p.lo, p.w, opEq, sc.cbuf[:], false, p.e)
		if err == nil {
			d, err = c.al.and(d, body)
		}
		if err != nil {
			return c.failed(), newLflowError(f, dp, "match", err)
		}
	}
	return c.emit(f, dp, out, ops, d, newConj), nil
}
