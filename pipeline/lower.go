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
type lowered struct {
	one      [1]Rule // backing of rules when there is one
	opsBuf   [2]Op   // backing of the rules' program when short
	depsBuf  [1]depKey
	rules    []Rule
	deps     []depKey
	isRouter bool
	conjIDs  []uint32 // global conjunction ids the rules use (set at commit)
}

// forDatapath returns a copy of lo for another datapath: valid only when lo
// used no datapath-specific input (no deps) and the datapath kind matches.
func (lo *lowered) forDatapath(dp uint32) *lowered {
	out := &lowered{rules: make([]Rule, len(lo.rules)), isRouter: lo.isRouter, conjIDs: lo.conjIDs}
	copy(out.rules, lo.rules)
	for i := range out.rules {
		out.rules[i].Datapath = dp
	}
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
	out := &lowered{isRouter: c.isRouter}
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
	if len(d) == 1 && singleRule(d[0]) {
		out.rules = out.one[:0:1] // the common case: no separate allocation
	}
	if n := len(c.deps.list); n > 0 && n <= len(out.depsBuf) {
		out.deps = dedupDeps(append(out.depsBuf[:0:n], c.deps.list...))
	} else if n > 0 {
		out.deps = dedupDeps(slices.Clone(c.deps.list)) // the buffer goes back to the pool
	}
	base := Rule{Lflow: f.UUID, Datapath: dp, Pipeline: f.Pipeline, Table: f.Table, Priority: f.Priority, Actions: ops}
	for _, cj := range d {
		out.rules = emitConj(out.rules, base, cj, newConj, &c.slabs)
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

// slab hands out the match storage of one disjunct's rules from two
// allocations instead of two per rule.
type slab struct {
	fms   []FieldMatch
	bytes []byte
}

func newSlab(cj conj, rules int, ch *slabChunks) slab {
	size := 0
	for _, cl := range cj {
		size += 2 * cl.field.Bytes()
	}
	return slab{fms: carveCap(&ch.fms, rules*len(cj), slabChunkFMs), bytes: carveCap(&ch.bytes, rules*size, slabChunkBytes)}
}

// slabChunks are the blocks the match storage of small lowerings is carved
// from, shared by the lowerings of one pooled context: two allocations per
// rule set otherwise. The blocks are small, so that rules outliving their
// neighbours (an lflow kept while the rest of its batch is replaced) pin
// little memory.
type slabChunks struct {
	fms   []FieldMatch
	bytes []byte
}

const (
	slabChunkFMs   = 32
	slabChunkBytes = 1024
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

// emitConj appends the rules of one disjunct.
func emitConj(rules []Rule, base Rule, cj conj, newConj func() uint32, ch *slabChunks) []Rule {
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
		rules = slices.Grow(rules, n)
		sl := newSlab(cj, n, ch)
		var idxBuf [16]int
		idx := idxBuf[:0]
		if len(cj) > len(idxBuf) {
			idx = make([]int, len(cj))
		} else {
			idx = idxBuf[:len(cj)]
		}
		for {
			r := base
			r.Match = sl.matches(cj, idx, nil, -1)
			rules = append(rules, r)
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
				return rules
			}
		}
	}
	id := newConj()
	n := uint8(len(multi))
	member := base
	member.Actions = nil
	idx := make([]int, len(cj))
	rules = slices.Grow(rules, total+1)
	sl := newSlab(cj, total, ch)
	refs := make([]ConjRef, len(multi))
	for k, i := range multi {
		refs[k] = ConjRef{ID: id, Clause: uint8(k + 1), NClauses: n}
		for a := range cj[i].alts {
			idx[i] = a
			// Only clause i varies; every other multi-valued clause is
			// left out of this member (it is matched by its own members).
			r := member
			r.Match = sl.matches(cj, idx, multi, i)
			r.Conj = refs[k : k+1 : k+1]
			rules = append(rules, r)
		}
		idx[i] = 0
	}
	final := base
	var v [4]byte
	v[0], v[1], v[2], v[3] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
	final.Match = []FieldMatch{{Field: FieldConjID, Value: v[:], Mask: []byte{0xff, 0xff, 0xff, 0xff}}}
	return append(rules, final)
}

// matches returns the field matches of cj at alternatives idx. When multi
// is given, multi-valued clauses other than keep are left out.
func (sl *slab) matches(cj conj, idx []int, multi []int, keep int) []FieldMatch {
	start := len(sl.fms)
	for i, cl := range cj {
		if multi != nil && len(cl.alts) > 1 && i != keep {
			continue
		}
		a := cl.alts[idx[i]]
		n := cl.field.Bytes()
		var zero [16]byte
		if a.m == zero {
			continue // matches anything
		}
		b := len(sl.bytes)
		sl.bytes = append(sl.bytes, a.v[16-n:]...)
		sl.bytes = append(sl.bytes, a.m[16-n:]...)
		sl.fms = append(sl.fms, FieldMatch{Field: cl.field, Value: sl.bytes[b : b+n : b+n], Mask: sl.bytes[b+n : b+2*n : b+2*n]})
	}
	return sl.fms[start:len(sl.fms):len(sl.fms)]
}
