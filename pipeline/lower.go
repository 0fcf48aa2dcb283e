package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// LogicalFlow is one Southbound Logical_Flow row, with its datapath(s)
// resolved by the caller: the row's logical_datapath, or every member of its
// logical_dp_group (that the chassis cares about).
type LogicalFlow struct {
	UUID      string
	Datapaths []uint32 // tunnel keys
	Pipeline  Pipeline
	Table     uint8
	Priority  uint16
	Match     string
	Actions   string
	Stage     string // external_ids:stage-name
}

// LflowError says why an lflow could not be compiled: its uuid, table, stage
// and the exact construct. The compiler counts and skips such lflows.
type LflowError struct {
	UUID      string
	Pipeline  Pipeline
	Table     uint8
	Stage     string
	Datapath  uint32 // 0 when the error does not depend on the datapath
	Part      string // "match" or "actions"
	Construct string // the token or construct at fault
	Reason    string // short, constant-ish cause (for counting)
	Err       error
}

func (e *LflowError) Error() string {
	s := fmt.Sprintf("lflow %s (%s table %d", e.UUID, e.Pipeline, e.Table)
	if e.Stage != "" {
		s += " " + e.Stage
	}
	if e.Datapath != 0 {
		s += " dp " + strconv.FormatUint(uint64(e.Datapath), 10)
	}
	s += "): " + e.Part + ": " + e.Err.Error()
	return s
}

func (e *LflowError) Unwrap() error { return e.Err }

func newLflowError(f *LogicalFlow, dp uint32, part string, err error) *LflowError {
	le := &LflowError{UUID: f.UUID, Pipeline: f.Pipeline, Table: f.Table, Stage: f.Stage, Datapath: dp, Part: part, Err: err}
	var ce *compileError
	var pe *ParseError
	switch {
	case errors.As(err, &ce):
		le.Construct, le.Reason = ce.construct, ce.msg
	case errors.As(err, &pe):
		le.Reason = "syntax error"
		rest := pe.Input[min(pe.Pos, len(pe.Input)):]
		if len(rest) > 40 {
			rest = rest[:40]
		}
		le.Construct = rest
	default:
		le.Reason = err.Error()
	}
	if errors.Is(err, errTooComplex) {
		le.Reason = errTooComplex.Error()
	}
	return le
}

// crossProductLimit: a disjunct with several multi-valued clauses becomes a
// conjunctive match when the cross product would have more rules than this.
const crossProductLimit = 8

// lowered is the result of compiling one lflow for one datapath.
//
// Its rules are held flat: their common part once (base: the lflow,
// datapath, table, priority and program), what a conjunction member adds
// per rule (conj), and the matches encoded one after the other in mbuf
// (see appendMatch), so that a rule's match is one short byte string
// rather than a slice of FieldMatch each holding two slices (six pointers
// a rule for the GC to mark, 56 bytes a field). Table and View build the
// Rules they hand out (rule).
type lowered struct {
	base     ruleBase // the rules' common fields
	opsBuf   [2]Op    // backing of base.actions when short
	depsBuf  [1]depKey
	n        int32 // number of rules
	isRouter bool
	mbuf     []byte   // the rules' matches, encoded
	moff     []uint32 // rule i's match is mbuf[moff[i]:moff[i+1]]; nil when n == 1 (all of mbuf)
	deps     []depKey
	cj       *loweredConj // nil: no conjunction
}

// ruleBase is what the rules of one lowering share: a Rule without its
// match and conjunction membership (48 bytes rather than 96).
type ruleBase struct {
	lflow    string
	dp       uint32
	pipeline Pipeline
	table    uint8
	prio     uint16
	actions  []Op
}

// loweredConj is what a lowering with conjunctions adds.
type loweredConj struct {
	member  []ConjRef // per rule: its membership (ID 0: not a member, the rule has the program)
	conjIDs []uint32  // global conjunction ids the rules use (set at commit)
}

// conjIDs returns the global conjunction ids lo's rules use.
func (lo *lowered) conjIDs() []uint32 {
	if lo.cj == nil {
		return nil
	}
	return lo.cj.conjIDs
}

// match returns the encoded match of rule i.
func (lo *lowered) match(i int) []byte {
	if lo.moff == nil {
		return lo.mbuf
	}
	return lo.mbuf[lo.moff[i]:lo.moff[i+1]]
}

// rule returns rule i, without its match.
func (lo *lowered) rule(i int) Rule {
	b := &lo.base
	r := Rule{Lflow: b.lflow, Datapath: b.dp, Pipeline: b.pipeline, Table: b.table, Priority: b.prio, Actions: b.actions}
	if lo.cj != nil && lo.cj.member[i].ID != 0 {
		r.Conj, r.Actions = lo.cj.member[i:i+1:i+1], nil
	}
	return r
}

// isMember reports whether rule i is a conjunction member.
func (lo *lowered) isMember(i int) bool { return lo.cj != nil && lo.cj.member[i].ID != 0 }

// forDatapath returns a copy of lo for another datapath: valid only when lo
// used no datapath-specific input (no deps) and the datapath kind matches.
// The copy shares lo's matches and program. ch, if set, is where the copy
// is carved from.
func (lo *lowered) forDatapath(dp uint32, ch *slabChunks) *lowered {
	var out *lowered
	if ch != nil {
		out = ch.newLowered()
	} else {
		out = &lowered{}
	}
	out.base, out.n, out.isRouter, out.mbuf, out.moff, out.cj = lo.base, lo.n, lo.isRouter, lo.mbuf, lo.moff, lo.cj
	out.base.dp = dp
	return out
}

// parsed holds the parse of one match string or actions string, shared by
// every lflow that uses the same text.
type parsedMatch struct {
	e    *expr
	err  error
	text string // the string parsed
}

type parsedActions struct {
	a       *actions
	err     error
	prereqs *expr // nil when none
	text    string
}

// ctxPool recycles lowering contexts (one per lowering otherwise).
var ctxPool = sync.Pool{New: func() any { return new(lowerCtx) }}

// newLowerCtx returns a pooled lowering context set up for f on datapath
// dp (give it back with ctxPool.Put).
func newLowerCtx(f *LogicalFlow, dp uint32, r Resolver) *lowerCtx {
	c := ctxPool.Get().(*lowerCtx)
	// Keep the pooled buffers (pieces, deps); everything else starts over.
	*c = lowerCtx{expandCtx: expandCtx{r: r, dp: dp, deps: &c.depsBuf, al: &c.arenaBuf}, pipeline: f.Pipeline,
		table: f.Table, depsBuf: deps{list: c.depsBuf.list[:0]}, pbuf: [2][]piece{c.pbuf[0][:0], c.pbuf[1][:0]},
		arenaBuf: c.arenaBuf, boxed: c.boxed, slabs: c.slabs}
	c.arenaBuf.reset()
	if r != nil {
		c.isRouter = r.DatapathIsRouter(dp)
	}
	return c
}

// failed is the result of a lowering that failed: it still reports what it
// read, so that a change to that input retries it.
func (c *lowerCtx) failed() *lowered { return &lowered{deps: slices.Clone(c.deps.list)} }

// lowerFlow compiles f for datapath dp.
func lowerFlow(f *LogicalFlow, dp uint32, pm *parsedMatch, pa *parsedActions, r Resolver, newConj func() uint32) (*lowered, *LflowError) {
	if pm.err != nil {
		return nil, newLflowError(f, 0, "match", pm.err)
	}
	if pa.err != nil {
		return nil, newLflowError(f, 0, "actions", pa.err)
	}
	c := newLowerCtx(f, dp, r)
	defer ctxPool.Put(c)
	// out is allocated first, so that a short program and few
	// dependencies live in it rather than in allocations of their own.
	out := c.slabs.newLowered()
	out.isRouter = c.isRouter
	var ops []Op
	var err error
	if len(pa.a.list) <= len(out.opsBuf) {
		ops, err = c.lowerActionsInto(out.opsBuf[:0], pa.a.list, false)
	} else {
		ops, err = c.lowerActions(pa.a.list, false)
	}
	if err != nil {
		return c.failed(), newLflowError(f, dp, "actions", err)
	}
	d, err := c.expand(pm.e, false, 0)
	if err == nil && pa.prereqs != nil {
		var pd dnf
		if pd, err = c.expand(pa.prereqs, false, 0); err == nil {
			d, err = c.al.and(d, pd)
		}
	}
	if err != nil {
		return c.failed(), newLflowError(f, dp, "match", err)
	}
	return c.emit(f, dp, out, ops, d, newConj), nil
}

// emit fills out with the rules of normal form d and program ops, and the
// dependencies the lowering recorded.
func (c *lowerCtx) emit(f *LogicalFlow, dp uint32, out *lowered, ops []Op, d dnf, newConj func() uint32) *lowered {
	ops = ops[:len(ops):len(ops)]
	if n := len(c.deps.list); n > 0 && n <= len(out.depsBuf) {
		out.deps = dedupDeps(append(out.depsBuf[:0:n], c.deps.list...))
	} else if n > 0 {
		out.deps = dedupDeps(slices.Clone(c.deps.list)) // the buffer goes back to the pool
	}
	out.base = ruleBase{lflow: f.UUID, dp: dp, pipeline: f.Pipeline, table: f.Table, prio: f.Priority, actions: ops}
	if !(len(d) == 1 && singleRule(d[0])) {
		out.moff = []uint32{0} // more than one rule (or none)
	}
	for _, cj := range d {
		emitConj(out, cj, newConj, &c.slabs)
	}
	if out.n == 0 {
		out.moff = nil
	}
	return out
}

// singleRule reports whether a disjunct lowers to one rule (every clause
// has one value).
func singleRule(cj conj) bool {
	for _, cl := range cj {
		if len(cl.alts) != 1 {
			return false
		}
	}
	return true
}

// slabChunks are the blocks the lowerings, their encoded matches and their
// op constants are carved from, shared by the lowerings of one pooled
// context: allocations of their own otherwise. The blocks are small, so
// that rules outliving their neighbours (an lflow kept while the rest of
// its batch is replaced) pin little memory.
type slabChunks struct {
	bytes []byte
	los   []lowered
}

// newLowered returns a zeroed lowering carved from ch (a block of a few:
// one allocation per lowering otherwise, and as many objects for the GC
// to mark).
func (ch *slabChunks) newLowered() *lowered {
	if len(ch.los) == cap(ch.los) {
		ch.los = make([]lowered, 0, slabChunkLowered)
	}
	ch.los = ch.los[:len(ch.los)+1]
	return &ch.los[len(ch.los)-1]
}

const (
	slabChunkBytes   = 1024
	slabChunkLowered = 16
)

// carveCap returns an empty slice with capacity n from *chunk (a new block
// of size elements when it has no room; larger requests get their own
// allocation).
func carveCap[T any](chunk *[]T, n, size int) []T {
	if n > size/4 {
		return make([]T, 0, n)
	}
	if cap(*chunk)-len(*chunk) < n {
		*chunk = make([]T, 0, size)
	}
	l := len(*chunk)
	*chunk = (*chunk)[:l+n]
	return (*chunk)[l : l : l+n]
}

// reserve makes room for n more bytes in lo.mbuf, carved from ch.
func (lo *lowered) reserve(n int, ch *slabChunks) {
	if cap(lo.mbuf)-len(lo.mbuf) >= n {
		return
	}
	b := carveCap(&ch.bytes, len(lo.mbuf)+n, slabChunkBytes)
	lo.mbuf = append(b, lo.mbuf...)
}

// encodedSize is the size of the encoding of a match with one value of each
// clause of cj (an upper bound: clauses matching anything are left out).
func encodedSize(cj conj) int {
	n := 0
	for _, cl := range cj {
		n += 1 + 2*cl.field.Bytes()
	}
	return n
}

// emitConj appends the rules of one disjunct to lo.
func emitConj(lo *lowered, cj conj, newConj func() uint32, ch *slabChunks) {
	var multi []int
	product, total := 1, 0
	for i, cl := range cj {
		if len(cl.alts) > 1 {
			multi = append(multi, i)
			total += len(cl.alts)
			if product <= crossProductLimit {
				product *= len(cl.alts)
			}
		}
	}
	if len(multi) <= 1 || product <= crossProductLimit || len(multi) > 255 || newConj == nil {
		// Cross product (one rule when every clause is single-valued).
		n := 1
		for _, i := range multi {
			n *= len(cj[i].alts)
		}
		lo.grow(n)
		lo.reserve(n*encodedSize(cj), ch)
		var idxBuf [16]int
		idx := idxBuf[:0]
		if len(cj) > len(idxBuf) {
			idx = make([]int, len(cj))
		} else {
			idx = idxBuf[:len(cj)]
		}
		for {
			lo.addRule(ConjRef{})
			lo.appendMatch(cj, idx, nil, -1)
			k := len(multi) - 1
			for ; k >= 0; k-- {
				i := multi[k]
				idx[i]++
				if idx[i] < len(cj[i].alts) {
					break
				}
				idx[i] = 0
			}
			if k < 0 {
				return
			}
		}
	}
	id := newConj()
	n := uint8(len(multi))
	idx := make([]int, len(cj))
	lo.grow(total + 1)
	lo.reserve(total*encodedSize(cj)+conjIDMatchSize, ch)
	if lo.cj == nil {
		lo.cj = &loweredConj{member: make([]ConjRef, lo.n, int(lo.n)+total+1)}
	}
	for k, i := range multi {
		ref := ConjRef{ID: id, Clause: uint8(k + 1), NClauses: n}
		for a := range cj[i].alts {
			idx[i] = a
			// Only clause i varies; every other multi-valued clause is
			// left out of this member (it is matched by its own members).
			lo.addRule(ref)
			lo.appendMatch(cj, idx, multi, i)
		}
		idx[i] = 0
	}
	lo.addRule(ConjRef{})
	lo.mbuf = append(lo.mbuf, byte(FieldConjID)+1, byte(id>>24), byte(id>>16), byte(id>>8), byte(id), 0xff, 0xff, 0xff, 0xff)
	lo.moff = append(lo.moff, uint32(len(lo.mbuf)))
}

// grow makes room for n more rules.
func (lo *lowered) grow(n int) {
	if lo.moff != nil {
		lo.moff = slices.Grow(lo.moff, n)
	}
	if lo.cj != nil {
		lo.cj.member = slices.Grow(lo.cj.member, n)
	}
}

// addRule counts one more rule, a conjunction member when m.ID != 0 (its
// match is appended next).
func (lo *lowered) addRule(m ConjRef) {
	lo.n++
	if lo.cj != nil {
		lo.cj.member = append(lo.cj.member, m)
	}
}

// conjIDMatchSize is the size of the encoded match `conj_id == ID`.
const conjIDMatchSize = 1 + 2*4

// appendMatch appends the encoded match of cj at alternatives idx to
// lo.mbuf, and its end to lo.moff. When multi is given, multi-valued
// clauses other than keep are left out.
//
// A match is encoded as, per field match in field order, the field + 1 (a
// byte), the value and the mask (Field.Bytes() each). Comparing two
// encodings as bytes orders matches as compareMatch orders FieldMatch
// slices, so the encoding is the match's sort key.
func (lo *lowered) appendMatch(cj conj, idx []int, multi []int, keep int) {
	for i, cl := range cj {
		if multi != nil && len(cl.alts) > 1 && i != keep {
			continue
		}
		a := &cl.alts[idx[i]]
		n := cl.field.Bytes()
		var zero [16]byte
		if a.m == zero {
			continue // matches anything
		}
		lo.mbuf = append(lo.mbuf, byte(cl.field)+1)
		lo.mbuf = append(lo.mbuf, a.v[16-n:]...)
		lo.mbuf = append(lo.mbuf, a.m[16-n:]...)
	}
	if lo.moff != nil {
		lo.moff = append(lo.moff, uint32(len(lo.mbuf)))
	}
}

// decodeMatch appends the field matches of encoded match enc to fms. Their
// values and masks are slices of enc.
func decodeMatch(fms []FieldMatch, enc []byte) []FieldMatch {
	for p := 0; p < len(enc); {
		f := Field(enc[p] - 1)
		n := f.Bytes()
		v, m := p+1, p+1+n
		fms = append(fms, FieldMatch{Field: f, Value: enc[v:m:m], Mask: enc[m : m+n : m+n]})
		p = m + n
	}
	return fms
}

// matchFields counts the field matches of encoded match enc.
func matchFields(enc []byte) int {
	k := 0
	for p := 0; p < len(enc); p += 1 + 2*Field(enc[p]-1).Bytes() {
		k++
	}
	return k
}
