package pipeline

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strconv"
	"sync"
)

// Normal form. A match expands (symbols resolved, prerequisites added,
// negations pushed to the leaves) into a disjunction of conjunctions of
// clauses; a clause constrains ONE physical field to one of a set of masked
// values. Keeping a set of values of one field as one clause (rather than
// one disjunct per value) is what lets the lowering emit a conjunctive match
// instead of a cross product when a conjunction holds two or more such sets.

// mval is a masked value of a physical field, right-aligned in 16 bytes.
type mval struct{ v, m [16]byte }

// clause is an OR of masked values of one field.
type clause struct {
	field Field
	alts  []mval
}

// conj is an AND of clauses, sorted by field, each field at most once.
type conj []clause

// dnf is an OR of conjunctions. nil/empty = false; one empty conj = true.
type dnf []conj

var dnfTrue = dnf{conj{}}

// Limits that keep hostile or pathological input from exhausting memory.
const (
	maxDisjuncts = 1 << 16
	maxAlts      = 1 << 20
)

var errTooComplex = errors.New("match expands to too many flows")

// arena hands out the short-lived slices of normal forms while one lflow
// is lowered, from chunks reused from one lowering to the next (lowering
// contexts are pooled): a typical match otherwise makes a dozen small
// allocations that die at once. A nil *arena allocates normally; static
// expansions (predicates, prerequisites), which are cached, use nil. Slices
// are capped at their length, so an append never writes into a neighbour.
type arena struct {
	clauses []clause
	conjs   []conj
	mvals   []mval
}

const arenaChunk = 256

// reset makes the memory handed out so far reusable: nothing may still
// refer to it (the lowering copied what it keeps into its rules).
func (a *arena) reset() {
	a.clauses, a.conjs, a.mvals = a.clauses[:0], a.conjs[:0], a.mvals[:0]
}

func (a *arena) newConj(n int) conj {
	if a == nil || n > arenaChunk/4 {
		return make(conj, 0, n)
	}
	if cap(a.clauses)-len(a.clauses) < n {
		a.clauses = make([]clause, 0, arenaChunk)
	}
	l := len(a.clauses)
	a.clauses = a.clauses[:l+n]
	return a.clauses[l : l : l+n]
}

func (a *arena) newDNF(n int) dnf {
	if a == nil || n > arenaChunk/4 {
		return make(dnf, 0, n)
	}
	if cap(a.conjs)-len(a.conjs) < n {
		a.conjs = make([]conj, 0, arenaChunk)
	}
	l := len(a.conjs)
	a.conjs = a.conjs[:l+n]
	return a.conjs[l : l : l+n]
}

// one returns a one-element slice holding v.
func (a *arena) one(v mval) []mval {
	if a == nil {
		return []mval{v}
	}
	if len(a.mvals) == cap(a.mvals) {
		a.mvals = make([]mval, 0, arenaChunk)
	}
	l := len(a.mvals)
	a.mvals = append(a.mvals, v)
	return a.mvals[l : l+1 : l+1]
}

func (a mval) intersect(b mval) (mval, bool) {
	var r mval
	for i := range 16 {
		if (a.v[i]^b.v[i])&a.m[i]&b.m[i] != 0 {
			return r, false
		}
		r.v[i] = a.v[i] | b.v[i]
		r.m[i] = a.m[i] | b.m[i]
	}
	return r, true
}

// intersectClause intersects two clauses on the same field.
func (al *arena) intersectClause(a, b clause) (clause, bool, error) {
	if len(a.alts) == 1 && len(b.alts) == 1 {
		r, ok := a.alts[0].intersect(b.alts[0])
		if !ok {
			return clause{}, false, nil
		}
		return clause{field: a.field, alts: al.one(r)}, true, nil
	}
	if len(a.alts)*len(b.alts) > maxAlts {
		return clause{}, false, errTooComplex
	}
	out := make([]mval, 0, max(len(a.alts), len(b.alts)))
	for _, x := range a.alts {
		for _, y := range b.alts {
			if r, ok := x.intersect(y); ok {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		return clause{}, false, nil
	}
	return clause{field: a.field, alts: al.dedupAlts(out)}, true, nil
}

// dedupAlts returns alts without repeats, in first-seen order, in new
// memory (from the arena when there is one): alts may be shared.
func (al *arena) dedupAlts(alts []mval) []mval {
	if len(alts) < 2 {
		return alts
	}
	if len(alts) <= 8 {
		out := al.mvalBuf(len(alts))
		for i, a := range alts {
			dup := false
			for _, b := range alts[:i] {
				if a == b {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, a)
			}
		}
		return out
	}
	seen := dedupMaps.Get().(map[mval]struct{})
	out := al.mvalBuf(len(alts))
	for _, a := range alts {
		if _, ok := seen[a]; !ok {
			seen[a] = struct{}{}
			out = append(out, a)
		}
	}
	if len(seen) <= dedupMapMax {
		clear(seen)
		dedupMaps.Put(seen)
	}
	return out
}

// dedupMaps recycles the sets dedupAlts uses for large clauses (a port
// group's ports): one map per lowering otherwise.
var dedupMaps = sync.Pool{New: func() any { return map[mval]struct{}{} }}

const dedupMapMax = 1 << 12

// mvalBuf returns an empty slice with room for n values, from the arena's
// chunk when it fits.
func (a *arena) mvalBuf(n int) []mval {
	if a == nil || n > arenaChunk/2 {
		return make([]mval, 0, n)
	}
	if cap(a.mvals)-len(a.mvals) < n {
		a.mvals = make([]mval, 0, arenaChunk)
	}
	l := len(a.mvals)
	a.mvals = a.mvals[:l+n]
	return a.mvals[l : l : l+n]
}

// growMvals returns s with room for extra more values.
func (a *arena) growMvals(s []mval, extra int) []mval {
	if cap(s)-len(s) >= extra {
		return s
	}
	out := a.mvalBuf(len(s) + extra)
	return append(out, s...)
}

// andConj intersects two conjunctions.
func (al *arena) andConj(a, b conj) (conj, bool, error) {
	out := al.newConj(len(a) + len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || i < len(a) && a[i].field < b[j].field:
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j].field < a[i].field:
			out = append(out, b[j])
			j++
		default:
			c, ok, err := al.intersectClause(a[i], b[j])
			if err != nil || !ok {
				return nil, false, err
			}
			out = append(out, c)
			i++
			j++
		}
	}
	return out, true, nil
}

// and returns the conjunction of two normal forms.
func (al *arena) and(a, b dnf) (dnf, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, nil
	}
	if len(a)*len(b) > maxDisjuncts {
		return nil, errTooComplex
	}
	out := al.newDNF(len(a) * len(b))
	for _, x := range a {
		for _, y := range b {
			c, ok, err := al.andConj(x, y)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// or returns the disjunction of two normal forms, merging disjuncts that are
// single clauses on the same field into one clause (one set).
func (al *arena) or(a, b dnf) (dnf, error) {
	if len(a)+len(b) > maxDisjuncts {
		return nil, errTooComplex
	}
	out := al.newDNF(len(a) + len(b))
	out = append(out, a...)
	out = append(out, b...)
	return al.mergeSingles(out), nil
}

func (al *arena) mergeSingles(d dnf) dnf {
	var first [NumFields]int
	n := 0
	for i := range first {
		first[i] = -1
	}
	for _, c := range d {
		if len(c) == 0 {
			return dnfTrue // true absorbs everything
		}
		if len(c) == 1 {
			n++
		}
	}
	if n < 2 {
		return d
	}
	out := d[:0]
	for _, c := range d {
		if len(c) != 1 {
			out = append(out, c)
			continue
		}
		f := c[0].field
		if k := first[f]; k >= 0 {
			merged := out[k][0]
			alts := make([]mval, 0, len(merged.alts)+len(c[0].alts))
			alts = append(alts, merged.alts...)
			alts = append(alts, c[0].alts...)
			out[k] = append(al.newConj(1), clause{field: f, alts: alts})
			continue
		}
		first[f] = len(out)
		out = append(out, c)
	}
	for _, k := range first {
		if k >= 0 {
			out[k] = append(al.newConj(1), clause{field: out[k][0].field, alts: al.dedupAlts(out[k][0].alts)})
		}
	}
	return out
}

// depKey names one input a compile used, so the compiler knows what to
// recompile when it changes.
type depKey struct {
	kind depKind
	name string
	hash uint64 // of kind and name: the compiler's index key (userSet)
}

// depSeed seeds the hashes of depKeys (one per process: the index is not
// kept across processes, and nothing depends on its order).
var depSeed = maphash.MakeSeed()

func newDepKey(kind depKind, name string) depKey {
	return depKey{kind, name, maphash.String(depSeed, name) ^ uint64(kind)*0x9e3779b97f4a7c15}
}

type depKind uint8

// Dependency kinds.
const (
	depAddrSet depKind = iota
	depPortGroup
	depPort
	depMcast
	depTemplate
	depResident
)

// deps collects dependencies (duplicates allowed; the compiler dedupes).
type deps struct{ list []depKey }

func (d *deps) add(kind depKind, name string) {
	if d != nil {
		d.list = append(d.list, newDepKey(kind, name))
	}
}

// expandCtx carries what expansion of one match for one datapath needs.
type expandCtx struct {
	r    Resolver
	dp   uint32
	deps *deps
	al   *arena // nil: allocate normally
	buf  []piece
	arr  [4]piece // backing of buf for the common case
	one  [1]mval  // backing of a single resolved constant
}

// CompileError is an error with the construct it is about.
type compileError struct {
	construct string
	msg       string
}

func (e *compileError) Error() string {
	if e.construct == "" {
		return e.msg
	}
	return e.msg + ": " + e.construct
}

func errorf(construct, format string, args ...any) error {
	return &compileError{construct: construct, msg: fmt.Sprintf(format, args...)}
}

// Static symbol expansions (predicates, prerequisites) are computed once
// per symbol and kept on it: lowering asks for them for nearly every
// comparison, so they are read without a lock or map lookup.
type symExpansion struct {
	pos, neg dnf // predicate; pos alone for a prerequisite
	err      error
}

func predicateDNF(s *symbol, neg bool, ctx *expandCtx) (dnf, error) {
	x := s.pred.Load()
	if x == nil {
		x = &symExpansion{}
		e, err := parseMatch(s.expansion)
		if err != nil {
			x.err = fmt.Errorf("predicate %s: %w", s.name, err)
		} else {
			sub := &expandCtx{}
			if x.pos, err = sub.expand(e, false, 0); err == nil {
				x.neg, err = sub.expand(e, true, 0)
			}
			x.err = err
		}
		s.pred.Store(x) // a concurrent first use computes the same
	}
	if x.err != nil {
		return nil, x.err
	}
	if neg {
		return x.neg, nil
	}
	return x.pos, nil
}

func prereqOf(s *symbol) (dnf, error) {
	if s.prereq == "" {
		return dnfTrue, nil
	}
	x := s.pre.Load()
	if x == nil {
		x = &symExpansion{}
		e, err := parseMatch(s.prereq)
		if err == nil {
			x.pos, err = (&expandCtx{}).expand(e, false, 0)
		}
		x.err = err
		s.pre.Store(x)
	}
	return x.pos, x.err
}

// expand turns e (negated if neg) into normal form.
func (ctx *expandCtx) expand(e *expr, neg bool, depth int) (dnf, error) {
	if depth > 4*maxDepth {
		return nil, errorf("", "expression nests too deeply")
	}
	switch e.kind {
	case eTrue, eFalse:
		if (e.kind == eTrue) != neg {
			return dnfTrue, nil
		}
		return nil, nil
	case eNot:
		return ctx.expand(e.subs[0], !neg, depth+1)
	case eAnd, eOr:
		isAnd := (e.kind == eAnd) != neg
		var acc dnf
		for i, s := range e.subs {
			d, err := ctx.expand(s, neg, depth+1)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				acc = d
				continue
			}
			if isAnd {
				acc, err = ctx.al.and(acc, d)
			} else {
				acc, err = ctx.al.or(acc, d)
			}
			if err != nil {
				return nil, err
			}
		}
		return acc, nil
	case eResident:
		if ctx.r == nil {
			return nil, errorf(e.String(), "is_chassis_resident needs a resolver")
		}
		ctx.deps.add(depResident, e.port)
		if ctx.r.ChassisResident(e.port) != neg {
			return dnfTrue, nil
		}
		return nil, nil
	case eBare:
		s := e.field.symbol()
		if s == nil {
			return nil, errorf(e.field.name, "unknown field or predicate")
		}
		if s.kind == symPredicate {
			if e.field.lo >= 0 {
				return nil, errorf(e.field.String(), "cannot take a subfield of a predicate")
			}
			return predicateDNF(s, neg, ctx)
		}
		lo, w, err := subRange(s, e.field)
		if err != nil {
			return nil, err
		}
		if w != 1 || s.kind == symString {
			return nil, errorf(e.field.String(), "field of %d bits used as a boolean (compare it with a value)", w)
		}
		var one constant
		one.val[15] = 1
		return ctx.cmp(s, lo, w, opEq, []constant{one}, neg, e)
	case eCmp:
		s := e.field.symbol()
		if s == nil {
			return nil, errorf(e.field.name, "unknown field")
		}
		if s.kind == symPredicate {
			return nil, errorf(e.field.name, "predicate compared with a value")
		}
		lo, w, err := subRange(s, e.field)
		if err != nil {
			return nil, err
		}
		return ctx.cmp(s, lo, w, e.op, e.consts, neg, e)
	}
	return nil, errorf("", "internal: unknown expression kind %d", e.kind)
}

func subRange(s *symbol, f fieldRef) (lo, width int, err error) {
	if f.lo < 0 {
		return 0, s.width, nil
	}
	if s.kind == symString {
		return 0, 0, errorf(f.String(), "cannot take a subfield of a string field")
	}
	if f.hi >= s.width {
		return 0, 0, errorf(f.String(), "subfield exceeds the %d bits of %s", s.width, s.name)
	}
	return f.lo, f.hi - f.lo + 1, nil
}

// resolveConsts expands sets, groups, templates and port names into masked
// values of the given width (right-aligned). Unknown port names are left out.
func (ctx *expandCtx) resolveConsts(s *symbol, width int, consts []constant, e *expr) ([]mval, error) {
	var out []mval
	if len(consts) == 1 && (consts[0].kind == cInt || consts[0].kind == cString) {
		out = ctx.one[:0] // one value at most
	} else {
		out = ctx.al.mvalBuf(len(consts))
	}
	full := prefixMask(width, width)
	addInt := func(c constant) error {
		if c.kind != cInt {
			return errorf(c.String(), "%s takes numbers, not strings", s.name)
		}
		m := full
		if c.masked {
			m = c.mask
		}
		for i := range 16 {
			if (c.val[i]|m[i])&^full[i] != 0 {
				if c.masked {
					return errorf(c.String(), "constant is wider than the %d bits of the field", width)
				}
				return errorf(c.String(), "constant is wider than the %d bits of the field", width)
			}
		}
		out = append(out, mval{v: c.val, m: m})
		return nil
	}
	for _, c := range consts {
		switch c.kind {
		case cInt:
			if s.kind == symString {
				return nil, errorf(c.String(), "%s takes port names", s.name)
			}
			if err := addInt(c); err != nil {
				return nil, err
			}
		case cString:
			if s.kind != symString {
				return nil, errorf(strconv.Quote(c.s), "%s takes numbers, not strings", s.name)
			}
			if k, ok := ctx.portKey(c.s); ok {
				var v mval
				v.v[12], v.v[13], v.v[14], v.v[15] = byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
				v.m = full
				out = append(out, v)
			}
		case cPortGroup:
			if s.kind != symString {
				return nil, errorf(c.String(), "port group compared with %s", s.name)
			}
			ports, ok := ctx.portGroup(c.s)
			if !ok {
				continue // an unknown group is empty, as in OVN
			}
			out = ctx.al.growMvals(out, len(ports))
			for _, name := range ports {
				if k, ok := ctx.portKey(name); ok {
					var v mval
					v.v[12], v.v[13], v.v[14], v.v[15] = byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
					v.m = full
					out = append(out, v)
				}
			}
		case cAddrSet:
			if ctx.r == nil {
				return nil, errorf(c.String(), "address sets need a resolver")
			}
			ctx.deps.add(depAddrSet, c.s)
			addrs, _ := ctx.r.AddressSet(c.s)
			out = ctx.al.growMvals(out, len(addrs))
			for _, a := range addrs {
				cs, err := parseConstText(a)
				if err != nil {
					return nil, errorf(c.String(), "address set member %q: %v", a, err)
				}
				for _, x := range cs {
					if err := addInt(x); err != nil {
						return nil, err
					}
				}
			}
		case cTemplate:
			if ctx.r == nil {
				return nil, errorf(c.String(), "template variables need a resolver")
			}
			ctx.deps.add(depTemplate, c.s)
			v, ok := ctx.r.TemplateVar(c.s)
			if !ok {
				return nil, errorf(c.String(), "undefined template variable")
			}
			cs, err := parseConstText(v)
			if err != nil {
				return nil, errorf(c.String(), "template value %q: %v", v, err)
			}
			for _, x := range cs {
				if x.kind == cString && s.kind == symString {
					if k, ok := ctx.portKey(x.s); ok {
						var v mval
						v.v[12], v.v[13], v.v[14], v.v[15] = byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
						v.m = full
						out = append(out, v)
					}
					continue
				}
				if err := addInt(x); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// parseConstText parses a constant, or a set of constants, given as text
// (an address set member or a template variable's value).
func parseConstText(s string) ([]constant, error) {
	p := &parser{}
	p.l.init(s)
	var out []constant
	if p.accept(tLCurly) {
		for p.err == nil && !p.accept(tRCurly) {
			out = append(out, p.parseConstant())
			p.accept(tComma)
			if p.tok().kind == tEOF {
				p.fail("unterminated set")
			}
		}
	} else {
		out = append(out, p.parseConstant())
	}
	if p.err == nil && p.tok().kind != tEOF {
		p.fail("unexpected %q", p.tok().text())
	}
	if p.err != nil {
		return nil, p.err
	}
	return out, nil
}

func (ctx *expandCtx) portGroup(name string) ([]string, bool) {
	if ctx.r == nil {
		return nil, false
	}
	sbName := strconv.FormatUint(uint64(ctx.dp), 10) + "_" + name
	ctx.deps.add(depPortGroup, sbName)
	if ports, ok := ctx.r.PortGroup(sbName); ok {
		return ports, true
	}
	ctx.deps.add(depPortGroup, name)
	return ctx.r.PortGroup(name)
}

// portKey resolves a port or multicast group name on ctx's datapath.
func (ctx *expandCtx) portKey(name string) (uint32, bool) {
	// "none" is OVN's name for no port (key 0): the switch's l2 lookup
	// writes it when get_fdb finds nothing, and matches on it.
	if name == "none" {
		return 0, true
	}
	if ctx.r == nil {
		return 0, false
	}
	ctx.deps.add(depPort, name)
	if dp, key, ok := ctx.r.Port(name); ok && dp == ctx.dp {
		return key, true
	}
	ctx.deps.add(depMcast, name)
	return ctx.r.MulticastGroup(ctx.dp, name)
}

// cmp builds the normal form of `s[lo..lo+w-1] op consts`, negated if neg,
// ANDed with s's prerequisites (never negated).
func (ctx *expandCtx) cmp(s *symbol, lo, w int, op relop, consts []constant, neg bool, e *expr) (dnf, error) {
	pre, err := prereqOf(s)
	if err != nil {
		return nil, err
	}
	body, err := ctx.cmpBody(s, lo, w, op, consts, neg, e)
	if err != nil {
		return nil, err
	}
	if len(pre) == 1 && len(pre[0]) == 0 {
		return body, nil
	}
	return ctx.al.and(pre, body)
}

// cmpBody is cmp without the prerequisites.
func (ctx *expandCtx) cmpBody(s *symbol, lo, w int, op relop, consts []constant, neg bool, e *expr) (dnf, error) {
	vals, err := ctx.resolveConsts(s, w, consts, e)
	if err != nil {
		return nil, err
	}
	if neg {
		op = [...]relop{opNe, opEq, opGe, opGt, opLe, opLt}[op]
	}
	switch op {
	case opLt, opLe, opGt, opGe:
		if len(vals) != 1 || len(consts) != 1 || consts[0].masked || consts[0].kind != cInt {
			return nil, errorf(e.String(), "%s needs one unmasked number", relopText[op])
		}
		vals = rangeToMasks(vals[0].v, w, op)
		op = opEq
	}
	if ctx.buf == nil {
		ctx.buf = ctx.arr[:0]
	}
	ctx.buf = s.pieces(lo, w, ctx.buf)
	if op == opEq {
		return ctx.eqSet(vals)
	}
	return ctx.neSet(vals, w)
}

// place shifts a value of a logical bit range into the physical pieces.
func (ctx *expandCtx) place(v mval) conj {
	c := ctx.al.newConj(len(ctx.buf))
	for _, p := range ctx.buf {
		var pv mval
		pv.v = shiftBits(v.v, p.lo, p.n, p.off)
		pv.m = shiftBits(v.m, p.lo, p.n, p.off)
		c = append(c, clause{field: p.field, alts: ctx.al.one(pv)})
	}
	sort.Slice(c, func(i, j int) bool { return c[i].field < c[j].field })
	return c
}

// shiftBits extracts n bits of x starting at bit from and places them at bit to.
func shiftBits(x [16]byte, from, n, to int) [16]byte {
	var out [16]byte
	if from == 0 && to == 0 && n == 128 {
		return x
	}
	if from%8 == 0 && to%8 == 0 {
		// Byte-aligned (the usual case: whole fields, registers of spans).
		for i := 0; i < n/8; i++ {
			out[15-(to/8+i)] = x[15-(from/8+i)]
		}
		if r := n % 8; r != 0 {
			out[15-(to/8+n/8)] = x[15-(from/8+n/8)] & (1<<uint(r) - 1)
		}
		return out
	}
	for i := 0; i < n; i++ {
		b := from + i
		if x[15-b/8]>>(uint(b%8))&1 != 0 {
			d := to + i
			out[15-d/8] |= 1 << uint(d%8)
		}
	}
	return out
}

func (ctx *expandCtx) eqSet(vals []mval) (dnf, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	if len(ctx.buf) == 1 {
		p := ctx.buf[0]
		if p.off != 0 {
			for i, v := range vals { // vals is ours (resolveConsts made it)
				vals[i] = mval{v: shiftBits(v.v, 0, p.n, p.off), m: shiftBits(v.m, 0, p.n, p.off)}
			}
		}
		if len(vals) == 1 {
			c := append(ctx.al.newConj(1), clause{field: p.field, alts: ctx.al.one(vals[0])})
			return append(ctx.al.newDNF(1), c), nil
		}
		c := append(ctx.al.newConj(1), clause{field: p.field, alts: ctx.al.dedupAlts(vals)})
		return append(ctx.al.newDNF(1), c), nil
	}
	var out dnf
	for _, v := range vals {
		var err error
		if out, err = ctx.al.or(out, append(ctx.al.newDNF(1), ctx.place(v))); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// neSet is "not any of vals": for each value, one of its masked bits differs.
func (ctx *expandCtx) neSet(vals []mval, w int) (dnf, error) {
	acc := dnfTrue
	for _, v := range vals {
		var d dnf
		for b := 0; b < w; b++ {
			if v.m[15-b/8]>>(uint(b%8))&1 == 0 {
				continue
			}
			var bit mval
			bit.m[15-b/8] = 1 << uint(b%8)
			if v.v[15-b/8]>>(uint(b%8))&1 == 0 {
				bit.v = bit.m
			}
			var err error
			if d, err = ctx.al.or(d, append(ctx.al.newDNF(1), ctx.place(bit))); err != nil {
				return nil, err
			}
		}
		var err error
		if acc, err = ctx.al.and(acc, d); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

// rangeToMasks turns `x op v` over w bits into a set of prefix-masked values.
func rangeToMasks(v [16]byte, w int, op relop) []mval {
	// Convert to an inclusive range [lo, hi] on w-bit numbers (w <= 128).
	lo, hi := u128{}, u128max(w)
	x := u128FromBytes(v)
	switch op {
	case opLt:
		if x.isZero() {
			return nil
		}
		hi = x.sub1()
	case opLe:
		hi = x
	case opGt:
		if x == u128max(w) {
			return nil
		}
		lo = x.add1()
	case opGe:
		lo = x
	}
	var out []mval
	for !hi.less(lo) {
		// Largest aligned block starting at lo that fits in [lo, hi].
		n := 0
		for n < w {
			size := u128one().shl(n + 1)
			if !lo.and(size.sub1()).isZero() {
				break
			}
			end := lo.add(size.sub1())
			if hi.less(end) || end.less(lo) {
				break
			}
			n++
		}
		var m mval
		m.v = lo.bytes()
		m.m = u128max(w).andNot(u128one().shl(n).sub1()).bytes()
		out = append(out, m)
		next := lo.add(u128one().shl(n))
		if next.isZero() || next.less(lo) {
			break
		}
		lo = next
	}
	return out
}

// u128 is a 128-bit unsigned number (hi, lo words) for range arithmetic.
type u128 struct{ hi, lo uint64 }

func u128one() u128 { return u128{0, 1} }
func u128max(w int) u128 {
	switch {
	case w >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case w > 64:
		return u128{1<<uint(w-64) - 1, ^uint64(0)}
	case w == 64:
		return u128{0, ^uint64(0)}
	}
	return u128{0, 1<<uint(w) - 1}
}
func u128FromBytes(b [16]byte) u128 {
	var x u128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}
func (x u128) bytes() [16]byte {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[7-i] = byte(x.hi >> (8 * i))
		b[15-i] = byte(x.lo >> (8 * i))
	}
	return b
}
func (x u128) isZero() bool       { return x.hi == 0 && x.lo == 0 }
func (x u128) less(y u128) bool   { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }
func (x u128) and(y u128) u128    { return u128{x.hi & y.hi, x.lo & y.lo} }
func (x u128) andNot(y u128) u128 { return u128{x.hi &^ y.hi, x.lo &^ y.lo} }
func (x u128) add(y u128) u128 {
	lo := x.lo + y.lo
	c := uint64(0)
	if lo < x.lo {
		c = 1
	}
	return u128{x.hi + y.hi + c, lo}
}
func (x u128) add1() u128 { return x.add(u128one()) }
func (x u128) sub1() u128 {
	if x.lo == 0 {
		return u128{x.hi - 1, ^uint64(0)}
	}
	return u128{x.hi, x.lo - 1}
}
func (x u128) shl(n int) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{x.lo << uint(n-64), 0}
	case n == 0:
		return x
	}
	return u128{x.hi<<uint(n) | x.lo>>uint(64-n), x.lo << uint(n)}
}
