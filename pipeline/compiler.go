package pipeline

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Compiler compiles logical flows incrementally.
//
// Each lflow compiles on its own, for each of its datapaths, and is kept by
// uuid together with the inputs each datapath's compile used (address sets,
// port groups, ports, template variables, chassis residency). Upsert,
// UpsertBatch and Delete change lflows; Invalidate* mark the (lflow,
// datapath) pairs that used an input dirty, and those recompile (once,
// however many inputs changed) at the next Flush, Table, Tables, Errors or
// Stats call. So a port added to a port group recompiles the ACLs of that
// port's datapath only, not those of every datapath sharing the lflow.
//
// Identical match and action strings are parsed once per small batch (a few
// times in a large one, which keeps only recent parses per CPU); parses are
// not kept afterwards (memory), a recompile parses again. An lflow whose
// compile for one datapath used no name (it only depends on the kind of
// datapath) shares its rules with the other datapaths of its group.
//
// Rules are held flat (see lowered): per lowering, its rules without their
// matches, and the matches encoded as bytes in one buffer; a table is a
// sorted list of references to them. Table decodes a table's rules into a
// []Rule for its caller, View reads them one at a time; the compiler keeps
// neither.
//
// Large batches (UpsertBatch, recompiles) parse and lower on all CPUs, and
// fill the table and dependency indexes side by side; the result does not
// depend on the number of CPUs: conjunction ids are assigned afterwards, in
// batch order. In a large batch, lflows of one shape (the same strings but
// for their numbers and port names) share a template of what their
// lowering does not owe to those literals (shape.go); the result is the
// same as lowering each on its own.
//
// The controller drives it like this:
//
//	c := pipeline.NewCompiler(resolver)
//	c.UpsertBatch(allFlows)                  // errors are also kept: c.Errors()
//	for _, k := range c.Flush() { install(k, c.Table(k)) }
//	... later: resolver state changes; c.InvalidateAddressSet("as1"); c.Upsert(f); c.Delete(u)
//	for _, k := range c.Flush() { install(k, c.Table(k)) }
//
// A Compiler is not safe for concurrent use; its Resolver must allow
// concurrent calls (they only read).
type Compiler struct {
	r       Resolver
	flows   map[string]*flowState
	users   [2]map[uint64]*userSet  // dependency hash -> (lflow, datapath) pairs that used it, in two shards (depShard)
	userBlk [2][]userSet            // where each shard's new user sets are carved from
	dirty   map[string][]uint32     // lflow -> datapaths to recompile (nil: all)
	matches map[string]*parsedMatch // parse cache of the current batch
	acts    map[string]*parsedActions
	tables  map[TableKey]*table
	changed map[TableKey]struct{}
	errs    map[string]*LflowError
	ahead   []*table // tables of the last large Flush, to decode at the first Table call
	conj    conjAllocator
	stats   Stats
	shaped  int  // lowerings done through shape templates (tests)
	warm    byte // warmUUIDs' sum (kept, never read)
}

// flowDP names one datapath's compile of an lflow (dp 0: the whole lflow,
// for dependencies of an lflow that failed). It holds the lflow's state, not
// its uuid: a pointer hashes faster than a 36-byte string, and a state is
// always taken out of every user set before it is dropped.
type flowDP struct {
	st *flowState
	dp uint32
}

// userSet is the compiles that used one input. Most inputs (a port name)
// have one or two users, so it is a slice until it grows large, rather than
// one map per input.
//
// The index is keyed by the inputs' hashes (depKey.hash, computed by the
// lowering while the name is in cache), so filling it reads no name: two
// inputs with one hash share a set, and a change to either recompiles the
// users of both (the same rules come out). So a set counts its members (a
// compile using both inputs is in it twice): each compile adds itself once
// per input it used and removes itself once per input when it goes.
type userSet struct {
	list []flowDP
	m    map[flowDP]int32 // member -> count; non-nil once the set outgrew userSetSmall
	one  [1]flowDP        // backing of list for the usual single user
}

const (
	userSetSmall = 16
	userSetBlock = 64
)

func (u *userSet) add(x flowDP) {
	if u.m != nil {
		u.m[x]++
		return
	}
	if u.list == nil {
		u.list = u.one[:0]
	}
	if len(u.list) < userSetSmall {
		u.list = append(u.list, x)
		return
	}
	u.m = make(map[flowDP]int32, 2*userSetSmall)
	for _, y := range u.list {
		u.m[y]++
	}
	u.m[x]++
	u.list = nil
}

func (u *userSet) del(x flowDP) {
	if u.m != nil {
		if u.m[x]--; u.m[x] <= 0 {
			delete(u.m, x)
		}
		return
	}
	if i := slices.Index(u.list, x); i >= 0 {
		last := len(u.list) - 1
		u.list[i] = u.list[last]
		u.list[last] = flowDP{}
		u.list = u.list[:last]
	}
}

func (u *userSet) len() int {
	if u.m != nil {
		return len(u.m)
	}
	return len(u.list)
}

// each calls fn for every member (a member counted twice may be called
// twice).
func (u *userSet) each(fn func(flowDP)) {
	if u.m != nil {
		for x := range u.m {
			fn(x)
		}
		return
	}
	for _, x := range u.list {
		fn(x)
	}
}

// TableKey names one datapath table.
type TableKey struct {
	Datapath uint32
	Pipeline Pipeline
	Table    uint8
}

func (k TableKey) String() string {
	return "dp=" + strconv.FormatUint(uint64(k.Datapath), 10) + " " + k.Pipeline.String() + " table=" + strconv.Itoa(int(k.Table))
}

func (k TableKey) less(o TableKey) bool {
	if k.Datapath != o.Datapath {
		return k.Datapath < o.Datapath
	}
	if k.Pipeline != o.Pipeline {
		return k.Pipeline < o.Pipeline
	}
	return k.Table < o.Table
}

// Stats counts what the compiler holds.
type Stats struct {
	Lflows      int // lflows upserted and not deleted
	Compiled    int // of those, compiled without error
	Failed      int // of those, with an error (skipped)
	Rules       int // rules held, before pruning and merging
	Recompiles  int // lflow compile jobs so far (one per lflow per batch, whatever its datapaths)
	Lowerings   int // (lflow, datapath) lowerings so far; datapaths that reuse an equal one's rules do not count
	ParsedTexts int // match and actions strings parsed (a string repeated in a large batch may be parsed a few times)
}

type flowState struct {
	flow     LogicalFlow
	out      []dpRules // sorted by datapath
	compiled bool
	job      int32     // 1 + index of its job in the batch being built, 0 outside
	fail     *flowFail // set while its compile failed
}

// flowFail is a failed compile: its error, and the inputs it read (a fix to
// one of them retries it). Kept aside: few lflows fail.
type flowFail struct {
	err  *LflowError
	deps []depKey
}

// dpRules is the compile of an lflow for one datapath.
type dpRules struct {
	dp uint32
	lo *lowered
}

// conjLocal marks a conjunction id local to one lowering (1, 2, ...): the
// serial commit replaces it with an id from the allocator.
const conjLocal = 0x80000000

// flowResult is the outcome of lowering one lflow for some datapaths;
// computing it touches no compiler state, so batches compute them in parallel.
type flowResult struct {
	lowered int // fresh lowerings (not copies)
	out     []dpRules
	deps    []depKey // of a failed lowering
	nconj   uint32
	err     *LflowError
}

// lowerAll lowers f for each datapath of dps, reusing the rules of an equal
// datapath (same kind, no name-dependent input) from have or from this call.
// out is where the results go (len 0, cap len(dps)).
// A worker of a large batch passes its cache wc (nil otherwise, and pm and
// pa are then set): templates of f's shape, or the parses, made when first
// needed.
func (c *Compiler) lowerAll(f *LogicalFlow, dps []uint32, pm *parsedMatch, pa *parsedActions, wc *workerCache, have []dpRules, out []dpRules) flowResult {
	var res flowResult
	res.out = out
	newConj := func() uint32 {
		res.nconj++
		return conjLocal | res.nconj
	}
	var tmpl [2]*lowered // reusable lowering per datapath kind
	for _, h := range have {
		if len(h.lo.deps) == 0 && tmpl[b2i(h.lo.isRouter)] == nil {
			tmpl[b2i(h.lo.isRouter)] = h.lo
		}
	}
	for _, dp := range dps {
		isRouter := c.r != nil && c.r.DatapathIsRouter(dp)
		if t := tmpl[b2i(isRouter)]; t != nil {
			var ch *slabChunks
			if wc != nil {
				ch = &wc.slabs
			}
			res.out = append(res.out, dpRules{dp, t.forDatapath(dp, ch)})
			continue
		}
		var lo *lowered
		var err *LflowError
		if t := wc.template(f, dp, isRouter, c.r); t != nil {
			lo, err = lowerShaped(f, dp, t, wc.sh, c.r, newConj)
			wc.shaped++
		} else {
			if pm == nil {
				pm, pa = wc.parse(c, f)
			}
			lo, err = lowerFlow(f, dp, pm, pa, c.r, newConj)
		}
		res.lowered++
		if err != nil {
			res.err = err
			res.out = nil
			if lo != nil {
				res.deps = lo.deps
			}
			return res
		}
		if len(lo.deps) == 0 {
			tmpl[b2i(isRouter)] = lo
		}
		res.out = append(res.out, dpRules{dp, lo})
	}
	return res
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// commit installs a lowering result into st. With install false, the
// rules and dependencies of a successful lowering are left for
// addRulesBulk and installDeps.
func (c *Compiler) commit(st *flowState, res flowResult, install bool) {
	c.stats.Recompiles++
	c.stats.Lowerings += res.lowered
	if res.err != nil {
		c.removeAll(st)
		st.fail = &flowFail{err: res.err, deps: dedupDeps(res.deps)}
		c.errs[st.flow.UUID] = res.err
		c.stats.Failed++
		// Still depend on what was read, so a fix to an input retries.
		for _, d := range st.fail.deps {
			c.addUser(d, flowDP{st, 0})
		}
		return
	}
	var global []uint32
	for i := uint32(0); i < res.nconj; i++ {
		global = append(global, c.conj.get())
	}
	for _, o := range res.out {
		if res.nconj > 0 {
			assignConjIDs(o.lo, global)
		}
		if ids := o.lo.conjIDs(); len(ids) > 0 {
			c.conj.retain(ids)
		}
	}
	if install {
		c.installRules(st, res.out)
		c.installDeps(st, res.out, -1)
	}
	if len(global) > 0 {
		c.conj.freeUnused(global) // ids no rule ended up using
	}
	if len(st.out) == 0 {
		st.out = res.out // already in datapath order: jobs list datapaths sorted
	} else {
		st.out = append(st.out, res.out...)
		slices.SortFunc(st.out, func(a, b dpRules) int { return cmp.Compare(a.dp, b.dp) })
	}
	if !st.compiled {
		st.compiled = true
		c.stats.Compiled++
	}
}

func (c *Compiler) installRules(st *flowState, out []dpRules) {
	for _, o := range out {
		c.addRules(st, o.dp, o.lo)
	}
}

// installDeps records the dependencies of the given shard (0 or 1), or of
// both (-1). Lowerings list their dependencies deduplicated.
func (c *Compiler) installDeps(st *flowState, out []dpRules, shard int) {
	for _, o := range out {
		for _, d := range o.lo.deps {
			if shard < 0 || depShard(d) == shard {
				c.addUser(d, flowDP{st, o.dp})
			}
		}
	}
}

// depShard splits dependencies between the two maps of Compiler.users, so
// that a large commit fills them side by side.
func depShard(d depKey) int { return int(d.hash >> 63) }

// assignConjIDs replaces local conjunction ids by global ones, in place
// (datapath copies share the slices, and are then already done), and
// records the ids lo uses.
func assignConjIDs(lo *lowered, global []uint32) {
	if lo.cj == nil {
		return
	}
	seen := map[uint32]bool{}
	for _, id := range lo.cj.conjIDs {
		seen[id] = true
	}
	note := func(id uint32) {
		if !seen[id] {
			seen[id] = true
			lo.cj.conjIDs = append(lo.cj.conjIDs, id)
		}
	}
	for i := range lo.cj.member {
		if m := &lo.cj.member[i]; m.ID != 0 {
			if m.ID&conjLocal != 0 {
				m.ID = global[m.ID&^conjLocal-1]
			}
			note(m.ID)
			continue
		}
		if v := lo.match(i); len(v) == conjIDMatchSize && v[0] == byte(FieldConjID)+1 {
			id := binary.BigEndian.Uint32(v[1:])
			if id&conjLocal != 0 {
				id = global[id&^conjLocal-1]
				binary.BigEndian.PutUint32(v[1:], id)
			}
			note(id)
		}
	}
}

type table struct {
	owners map[*flowState]*lowered // lflow -> its rules in this table (a pointer hashes faster than a uuid)
	// bulk holds the owners instead of owners (nil then) while a table
	// only grew in large batches: a full compile appends its 45k owners
	// rather than inserting them; the first removal or small-batch
	// addition turns it into the map (ownerMap).
	bulk []tableOwner
	// sorted lists every owner's rules in table order as of the last
	// build; owners added or removed since are applied to it then, so one
	// lflow changing in a large table costs a merge, not a sort.
	sorted  []ruleRef
	dups    int8 // sorted has neighbours of equal priority and match (to merge): 1 yes, 0 no, -1 not known
	built   bool
	ready   []Rule // sorted decoded and merged (buildTables), for the next Table call; nil: not made
	added   map[*flowState]struct{}
	removed map[*lowered]struct{}
	changed bool // listed in Compiler.changed
}

type tableOwner struct {
	st *flowState
	lo *lowered
}

// ownerMap returns t.owners, made from t.bulk if need be.
func (t *table) ownerMap() map[*flowState]*lowered {
	if t.owners == nil {
		t.owners = make(map[*flowState]*lowered, len(t.bulk))
		for _, o := range t.bulk {
			t.owners[o.st] = o.lo
		}
		t.bulk = nil
	}
	return t.owners
}

// size returns the number of owners.
func (t *table) size() int { return len(t.owners) + len(t.bulk) }

// ruleRef names rule i of a lowering.
type ruleRef struct {
	lo *lowered
	i  int32
}

func (r ruleRef) rule() Rule    { return r.lo.rule(int(r.i)) }
func (r ruleRef) match() []byte { return r.lo.match(int(r.i)) }

// touch records that st's rules lo were added to t or removed from it.
func (t *table) touch(st *flowState, lo *lowered, add bool) {
	t.ready = nil
	if !t.built {
		return
	}
	if t.removed == nil {
		t.removed = map[*lowered]struct{}{}
		t.added = map[*flowState]struct{}{}
	}
	if add {
		t.added[st] = struct{}{}
	} else {
		t.removed[lo] = struct{}{}
		delete(t.added, st)
	}
}

// rules brings t.sorted up to date and returns it.
func (t *table) rules() []ruleRef { return t.rulesWith(nil) }

// rulesWith is rules, sorting in *scratch (grown as needed; nil: new
// memory).
func (t *table) rulesWith(scratch *[]ruleKey) []ruleRef {
	if !t.built {
		sets := make([]*lowered, 0, t.size())
		for _, o := range t.bulk {
			sets = append(sets, o.lo)
		}
		for _, lo := range t.owners {
			sets = append(sets, lo)
		}
		var dups bool
		t.sorted, dups = sortRules(sets, scratch)
		t.dups = int8(b2i(dups))
		t.built, t.ready = true, nil
		return t.sorted
	}
	if len(t.removed) == 0 && len(t.added) == 0 {
		return t.sorted
	}
	sets := make([]*lowered, 0, len(t.added))
	for st := range t.added {
		sets = append(sets, t.ownerMap()[st])
	}
	fresh, _ := sortRules(sets, scratch)
	out := make([]ruleRef, 0, len(t.sorted)+len(fresh))
	i := 0
	for _, r := range t.sorted {
		if _, gone := t.removed[r.lo]; gone {
			continue
		}
		for i < len(fresh) && compareRefs(fresh[i], r) < 0 {
			out = append(out, fresh[i])
			i++
		}
		out = append(out, r)
	}
	out = append(out, fresh[i:]...)
	t.sorted, t.ready = out, nil
	t.dups = -1 // View finds out if it needs to
	clear(t.added)
	clear(t.removed)
	return t.sorted
}

// decoded returns t's rules as Table hands them out: in table order, with
// their matches decoded and duplicates merged. The result is new memory
// (but for the values and masks, which are the lowerings' encodings).
func (t *table) decoded() []Rule {
	refs := t.rules()
	if r := t.ready; r != nil {
		t.ready = nil // handed out once: the compiler keeps only the flat form
		return r
	}
	out := make([]Rule, len(refs))
	var fms []FieldMatch // carved in blocks: no pass to count the fields first
	dup := false
	for i, r := range refs {
		lo, enc := r.lo, r.match()
		b := &lo.base
		if i > 0 && b.prio == out[i-1].Priority && bytes.Equal(enc, refs[i-1].match()) {
			dup = true
		}
		if n := matchFields(enc); cap(fms)-len(fms) < n {
			fms = make([]FieldMatch, 0, max(n, min(4*(len(refs)-i), 1024)))
		}
		l := len(fms)
		fms = decodeMatch(fms, enc)
		// Field by field rather than a copy of base then Match: a typed
		// copy of a struct holding pointers runs a bulk write barrier
		// while the GC marks.
		out[i] = Rule{Lflow: b.lflow, Datapath: b.dp, Pipeline: b.pipeline, Table: b.table,
			Priority: b.prio, Match: fms[l:len(fms):len(fms)], Actions: b.actions}
		if lo.isMember(int(r.i)) {
			out[i].Conj, out[i].Actions = lo.cj.member[r.i:r.i+1:r.i+1], nil
		}
	}
	if dup {
		return mergeRules(out)
	}
	return out
}

// conjAllocator hands out conjunction ids, reference-counted by the
// lowerings that use them (datapath copies share ids), reusing freed ones so
// ids stay small.
type conjAllocator struct {
	next uint32
	free []uint32
	refs map[uint32]int32
}

func (a *conjAllocator) get() uint32 {
	if a.refs == nil {
		a.refs = map[uint32]int32{}
	}
	var id uint32
	if n := len(a.free); n > 0 {
		id = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		a.next++
		id = a.next
	}
	a.refs[id] = 0
	return id
}

func (a *conjAllocator) retain(ids []uint32) {
	for _, id := range ids {
		a.refs[id]++
	}
}

// release drops references; ids left with none are freed.
func (a *conjAllocator) release(ids []uint32) {
	for _, id := range ids {
		a.refs[id]--
	}
	a.freeUnused(ids)
}

// freeUnused frees those of ids nothing references.
func (a *conjAllocator) freeUnused(ids []uint32) {
	for _, id := range ids {
		if n, ok := a.refs[id]; ok && n <= 0 {
			delete(a.refs, id)
			a.free = append(a.free, id)
		}
	}
}

// NewCompiler returns an empty compiler that resolves names through r.
func NewCompiler(r Resolver) *Compiler {
	return &Compiler{
		r:       r,
		flows:   map[string]*flowState{},
		users:   [2]map[uint64]*userSet{{}, {}},
		dirty:   map[string][]uint32{},
		matches: map[string]*parsedMatch{},
		acts:    map[string]*parsedActions{},
		tables:  map[TableKey]*table{},
		changed: map[TableKey]struct{}{},
		errs:    map[string]*LflowError{},
	}
}

// parseCacheMax bounds the parse cache of a batch: northd output repeats
// some strings thousands of times, but most appear once.
const parseCacheMax = 1 << 14

func newParsedActions(s string) *parsedActions {
	pa := &parsedActions{}
	pa.parse(s, nil, nil)
	return pa
}

// parse fills pa with the parse of s, into ar (nil: new memory). pre, if
// set, caches the parses of prerequisite texts (few distinct ones).
func (pa *parsedActions) parse(s string, ar *parseArena, pre map[string]*parsedMatch) {
	a, err := parseActionsIn(s, ar)
	pa.set(s, a, err, pre)
}

// set fills pa with a parse of s and the prerequisites it adds.
func (pa *parsedActions) set(s string, a *actions, err error, pre map[string]*parsedMatch) {
	*pa = parsedActions{a: a, err: err, text: s}
	if err != nil || len(a.prereqs) == 0 {
		return
	}
	text := a.prereqs[0]
	if len(a.prereqs) > 1 {
		text = "(" + strings.Join(a.prereqs, ") && (") + ")"
	}
	pm := pre[text]
	if pm == nil {
		e, err := parseMatch(text)
		pm = &parsedMatch{e: e, err: err, text: text}
		if pre != nil {
			pre[text] = pm
		}
	}
	pa.prereqs, pa.err = pm.e, pm.err
}

// parsed returns the parses of f's strings, from the batch cache or new.
func (c *Compiler) parsed(f *LogicalFlow) (*parsedMatch, *parsedActions) {
	pm, ok := c.matches[f.Match]
	if !ok {
		e, err := parseMatch(f.Match)
		pm = &parsedMatch{e: e, err: err, text: f.Match}
		c.cacheMatch(f.Match, pm)
	}
	pa, ok := c.acts[f.Actions]
	if !ok {
		pa = newParsedActions(f.Actions)
		c.cacheActions(f.Actions, pa)
	}
	return pm, pa
}

func (c *Compiler) cacheMatch(s string, pm *parsedMatch) {
	if len(c.matches) >= parseCacheMax {
		clear(c.matches)
	}
	c.matches[s] = pm
	c.stats.ParsedTexts++
}

func (c *Compiler) cacheActions(s string, pa *parsedActions) {
	if len(c.acts) >= parseCacheMax {
		clear(c.acts)
	}
	c.acts[s] = pa
	c.stats.ParsedTexts++
}

// endBatch drops the parse cache.
func (c *Compiler) endBatch() {
	clear(c.matches)
	clear(c.acts)
}

// Upsert adds or replaces an lflow and compiles it now. It returns the
// lflow's error, if it cannot be compiled (the lflow is then skipped and
// counted; Errors lists it until it changes or is deleted).
func (c *Compiler) Upsert(f LogicalFlow) *LflowError {
	errs := c.UpsertBatch([]LogicalFlow{f})
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// UpsertBatch adds or replaces lflows (compiling them on all CPUs when there
// are many) and returns the errors of those that cannot be compiled.
func (c *Compiler) UpsertBatch(flows []LogicalFlow) []*LflowError {
	if len(c.flows) == 0 && len(flows) > 1 {
		c.flows = make(map[string]*flowState, len(flows))
	}
	// Into an empty compiler (a full compile) a large batch is added without
	// looking each uuid up first, and the uuid index is filled while the
	// workers lower; a uuid named twice shows as an index shorter than the
	// batch, and the batch starts over the careful way.
	fresh := len(c.flows) == 0 && len(flows) >= parallelMin
	for {
		var work []job
		var index func() bool
		if fresh {
			work = freshJobs(flows)
			c.stats.Lflows += len(work)
			index = func() bool {
				var warm byte
				for i, j := range work {
					if i%lowerChunk == 0 {
						warm += warmUUIDs(work[i:min(i+lowerChunk, len(work))])
					}
					c.flows[j.st.flow.UUID] = j.st
				}
				c.warm = warm
				return len(c.flows) == len(work)
			}
		} else {
			work = c.batchJobs(flows)
		}
		if !c.compileAll(work, index) {
			clear(c.flows)
			c.stats.Lflows = 0
			fresh = false
			continue
		}
		var errs []*LflowError
		for _, j := range work {
			if j.st.fail != nil {
				errs = append(errs, j.st.fail.err)
			}
		}
		return errs
	}
}

// batchJobs makes the jobs of a batch: new states for new lflows, the
// datapaths that joined for lflows whose body did not change.
func (c *Compiler) batchJobs(flows []LogicalFlow) []job {
	work := make([]job, 0, len(flows))
	dups := false
	// A large batch takes its lflows' states and datapath lists from two
	// blocks rather than two allocations per lflow.
	var states []flowState
	var dpBlock []uint32
	if len(flows) >= parallelMin {
		states = make([]flowState, 0, len(flows))
		n := 0
		for i := range flows {
			n += len(flows[i].Datapaths)
		}
		dpBlock = make([]uint32, 0, n)
	}
	for i := range flows {
		f := flows[i]
		if cap(dpBlock)-len(dpBlock) >= len(f.Datapaths) {
			l := len(dpBlock)
			dpBlock = append(dpBlock, f.Datapaths...)
			f.Datapaths = dpBlock[l:len(dpBlock):len(dpBlock)]
		} else {
			f.Datapaths = slices.Clone(f.Datapaths)
		}
		slices.Sort(f.Datapaths)
		f.Datapaths = slices.Compact(f.Datapaths)
		old := c.flows[f.UUID]
		if old != nil && old.job > 0 {
			// The batch names this lflow again: the later row wins, and the
			// earlier row's job (not run yet) goes.
			work[old.job-1].st = nil
			old.job = 0
			dups = true
		}
		if old != nil && old.fail == nil && sameFlowBody(&old.flow, &f) {
			// Only the datapath set may differ: compile the new members only.
			if dps := c.retarget(old, f.Datapaths); len(dps) > 0 {
				work = append(work, job{old, dps})
				old.job = int32(len(work))
			}
			continue
		}
		if old != nil {
			c.removeAll(old)
			delete(c.dirty, f.UUID)
			*old = flowState{} // it may sit in a batch's block: hold nothing
		} else {
			c.stats.Lflows++
		}
		var st *flowState
		if len(states) < cap(states) {
			states = append(states, flowState{flow: f})
			st = &states[len(states)-1]
		} else {
			st = &flowState{flow: f}
		}
		c.flows[f.UUID] = st
		work = append(work, job{st, f.Datapaths})
		st.job = int32(len(work))
	}
	if dups {
		work = slices.DeleteFunc(work, func(j job) bool { return j.st == nil })
	}
	for _, j := range work {
		j.st.job = 0
	}
	return work
}

// freshJobs makes the states and jobs of a large batch into an empty
// compiler, on all CPUs: nothing to look up, each lflow is new (a repeated
// uuid is found when the index is filled).
func freshJobs(flows []LogicalFlow) []job {
	const chunk = 1024
	// Where each chunk's datapath lists start in the shared block.
	starts := make([]int, 0, len(flows)/chunk+2)
	n := 0
	for i := range flows {
		if i%chunk == 0 {
			starts = append(starts, n)
		}
		n += len(flows[i].Datapaths)
	}
	states := make([]flowState, len(flows))
	work := make([]job, len(flows))
	dpBlock := make([]uint32, n)
	parallelChunk((len(flows)+chunk-1)/chunk, runtime.GOMAXPROCS(0), 1, func(ci int) {
		block := dpBlock[starts[ci]:]
		for i := ci * chunk; i < min((ci+1)*chunk, len(flows)); i++ {
			f := flows[i]
			l := copy(block, f.Datapaths)
			f.Datapaths, block = block[:l:l], block[l:]
			slices.Sort(f.Datapaths)
			f.Datapaths = slices.Compact(f.Datapaths)
			states[i] = flowState{flow: f}
			work[i] = job{&states[i], f.Datapaths}
		}
	})
	return work
}

// job is "lower lflow st for these datapaths" (which hold no rules now).
type job struct {
	st  *flowState
	dps []uint32
}

// parallelMin is the batch size from which compiling uses all CPUs.
var parallelMin = 512

// compileAll runs jobs: parse and lower (in parallel for large batches),
// then commit in order. index, if set, runs beside the lowering (it must
// not touch what lowering reads); when it returns false nothing is
// committed and compileAll returns false.
func (c *Compiler) compileAll(work []job, index func() bool) bool {
	if len(work) == 0 {
		return index == nil || index()
	}
	res := make([]flowResult, len(work))
	// One backing array for every job's per-datapath results (each job's
	// part capped at its datapaths), rather than one allocation per lflow.
	n := 0
	for _, j := range work {
		n += len(j.dps)
	}
	outs := make([]dpRules, n)
	for i, j := range work {
		res[i].out = outs[:0:len(j.dps)] // where lowerAll puts its results
		outs = outs[len(j.dps):]
	}
	workers := runtime.GOMAXPROCS(0)
	var indexed chan bool
	if index != nil {
		indexed = make(chan bool, 1)
		go func() { indexed <- index() }()
	}
	if len(work) < parallelMin {
		for i, j := range work {
			pm, pa := c.parsed(&j.st.flow)
			res[i] = c.lowerAll(&j.st.flow, j.dps, pm, pa, nil, j.st.out, res[i].out)
		}
	} else {
		c.lowerParallel(work, res, workers) // also with one CPU: its caches are cheaper
	}
	if indexed != nil && !<-indexed {
		return false
	}
	if len(work) < parallelMin || workers < 2 {
		for i, j := range work {
			c.commit(j.st, res[i], true)
		}
		return true
	}
	// Commit in order, then fill the tables and the dependency index (which
	// share nothing) side by side: on a full compile these map updates are
	// most of what does not run in parallel.
	for i, j := range work {
		c.commit(j.st, res[i], false)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, j := range work {
			if res[i].err == nil {
				c.addRulesBulk(j.st, res[i].out)
			}
		}
	})
	wg.Go(func() {
		for i, j := range work {
			if res[i].err == nil {
				c.installDeps(j.st, res[i].out, 0)
			}
		}
	})
	for i, j := range work {
		if res[i].err == nil {
			c.installDeps(j.st, res[i].out, 1)
		}
	}
	wg.Wait()
	return true
}

// workerCacheMax bounds each worker's parse cache in lowerParallel.
const workerCacheMax = 1 << 12

// lowerParallel parses and lowers each job on all CPUs, one job at a time,
// so that the parse of a string northd wrote once dies as soon as it is
// lowered rather than living (and being marked by the GC) until the whole
// batch is lowered.
//
// Nearly every string northd writes is unique (it names a port or an
// address), so a worker parses a string the first time it sees it into a
// reusable arena, reset after the lowering: no garbage. A string seen again
// ("next;" thousands of times) is parsed into new memory and kept in the
// worker's cache, so it is parsed about twice per worker and cache
// generation. The caches are keyed by a fingerprint of a few words of the
// string (hashing every long unique string costs more than the repeats
// save) and hold the string to compare: a fingerprint shared by two
// strings only means one of them is parsed again.
func (c *Compiler) lowerParallel(work []job, res []flowResult, workers int) {
	caches := make([]workerCache, workers)
	for w := range caches {
		caches[w] = workerCache{m: make(map[uint64]seenText[*parsedMatch], workerCacheMax),
			a: make(map[uint64]seenText[*parsedActions], workerCacheMax), pre: map[string]*parsedMatch{}}
		if useShapes {
			caches[w].sh = newShapeCache()
		}
	}
	parallelWorkers(len(work), workers, lowerChunk, func(w, i int) {
		ca := &caches[w]
		if i%lowerChunk == 0 {
			ca.warm += warmStrings(work[i:min(i+lowerChunk, len(work))])
		}
		j := work[i]
		f := &j.st.flow
		if ca.sh != nil {
			ca.sh.prepare(f)
		}
		res[i] = c.lowerAll(f, j.dps, nil, nil, ca, j.st.out, res[i].out)
		ca.ar.reset()
	})
	for _, ca := range caches {
		c.stats.ParsedTexts += ca.parsed
		c.shaped += ca.shaped
	}
}

// lowerChunk is how many jobs a worker of lowerParallel takes at a time.
const lowerChunk = 64

// warmStrings reads the first byte of each cache line of the strings the
// jobs will lex, one after the other: the strings sit wherever their reader
// put them, mostly out of cache, and misses issued together overlap where
// the lexer would wait for each in turn. A chunk's strings (a few
// kilobytes) stay in cache until lexed. It returns a sum so that the reads
// are kept.
func warmStrings(work []job) byte {
	var x byte
	for _, j := range work {
		for _, s := range [2]string{j.st.flow.Match, j.st.flow.Actions} {
			for k := 0; k < len(s); k += 64 {
				x += s[k]
			}
		}
	}
	return x
}

// warmUUIDs is warmStrings for the jobs' uuids (the index hashes them).
func warmUUIDs(work []job) byte {
	var x byte
	for _, j := range work {
		if u := j.st.flow.UUID; u != "" {
			x += u[0] + u[len(u)-1]
		}
	}
	return x
}

// useShapes turns shape templates on (tests compare with them off).
var useShapes = true

// workerCache is what one worker of lowerParallel keeps between lflows.
type workerCache struct {
	m      map[uint64]seenText[*parsedMatch] // nil parse: seen once, not kept
	a      map[uint64]seenText[*parsedActions]
	pre    map[string]*parsedMatch // prerequisite texts of actions
	ar     parseArena
	slabs  slabChunks  // datapath copies of lowerings
	pm     parsedMatch // this job's throwaway parses
	pa     parsedActions
	parsed int
	shaped int
	sh     *shapeCache // nil: templates off
	warm   byte        // warmStrings' sums (kept, never read)
}

// template returns the template of f's shape for datapath dp, or nil.
func (ca *workerCache) template(f *LogicalFlow, dp uint32, isRouter bool, r Resolver) *shapeTmpl {
	if ca == nil {
		return nil
	}
	return ca.sh.template(f, dp, isRouter, r)
}

// parse returns the parses of f's strings.
func (ca *workerCache) parse(c *Compiler, f *LogicalFlow) (*parsedMatch, *parsedActions) {
	pm, ok := c.matches[f.Match]
	if !ok {
		fp := fingerprint(f.Match)
		e, seen := ca.m[fp]
		switch {
		case seen && e.text == f.Match && e.p != nil:
			pm = e.p
		case seen && e.text == f.Match:
			x, err := parseMatch(f.Match)
			pm = &parsedMatch{e: x, err: err, text: f.Match}
			ca.m[fp] = seenText[*parsedMatch]{f.Match, pm}
			ca.parsed++
		default:
			if len(ca.m) >= workerCacheMax {
				clear(ca.m)
			}
			ca.m[fp] = seenText[*parsedMatch]{text: f.Match}
			x, err := parseMatchIn(f.Match, &ca.ar)
			ca.pm = parsedMatch{e: x, err: err, text: f.Match}
			pm = &ca.pm
			ca.parsed++
		}
	}
	pa, ok := c.acts[f.Actions]
	if !ok {
		fp := fingerprint(f.Actions)
		e, seen := ca.a[fp]
		switch {
		case seen && e.text == f.Actions && e.p != nil:
			pa = e.p
		case seen && e.text == f.Actions:
			pa = &parsedActions{}
			pa.parse(f.Actions, nil, ca.pre)
			ca.a[fp] = seenText[*parsedActions]{f.Actions, pa}
			ca.parsed++
		default:
			if len(ca.a) >= workerCacheMax {
				clear(ca.a)
			}
			ca.a[fp] = seenText[*parsedActions]{text: f.Actions}
			ca.pa.parse(f.Actions, &ca.ar, ca.pre)
			pa = &ca.pa
			ca.parsed++
		}
	}
	return pm, pa
}

// seenText is a worker cache entry: a string seen, and its parse once it
// was seen twice.
type seenText[P any] struct {
	text string
	p    P
}

// fingerprint mixes a string's length with its first, middle and last
// eight bytes: cheap, and enough to find northd's repeated strings (a
// shared fingerprint costs a parse, never a wrong one: entries hold their
// string).
func fingerprint(s string) uint64 {
	n := len(s)
	if n <= 24 {
		var h uint64 = 14695981039346656037
		for i := 0; i < n; i++ {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
		return h ^ uint64(n)<<56
	}
	word := func(i int) uint64 {
		return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
	}
	h := uint64(n) * 0x9e3779b97f4a7c15
	for _, w := range [3]uint64{word(0), word(n/2 - 4), word(n - 8)} {
		h = (h ^ w) * 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	return h
}

// parallel runs fn(0..n-1) on the given number of goroutines, in chunks.
func parallel(n, workers int, fn func(i int)) { parallelChunk(n, workers, 64, fn) }

func parallelChunk(n, workers, chunk int, fn func(i int)) {
	parallelWorkers(n, workers, chunk, func(_, i int) { fn(i) })
}

// parallelWorkers runs fn(w, 0..n-1) on workers goroutines, w being the
// goroutine's number (0..workers-1), taking chunk items at a time.
func parallelWorkers(n, workers, chunk int, fn func(w, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(w, i)
				}
			}
		}()
	}
	wg.Wait()
}

func sameFlowBody(a, b *LogicalFlow) bool {
	return a.Pipeline == b.Pipeline && a.Table == b.Table && a.Priority == b.Priority &&
		a.Match == b.Match && a.Actions == b.Actions && a.Stage == b.Stage
}

// Delete removes an lflow and its rules.
func (c *Compiler) Delete(uuid string) {
	st := c.flows[uuid]
	if st == nil {
		return
	}
	c.removeAll(st)
	delete(c.flows, uuid)
	delete(c.dirty, uuid)
	c.stats.Lflows--
	*st = flowState{} // it may sit in a batch's block: hold nothing
}

// removeAll takes all of st's rules, ids, dependencies and error out.
func (c *Compiler) removeAll(st *flowState) {
	for _, o := range st.out {
		c.dropDP(st, o)
	}
	st.out = nil
	if st.fail != nil {
		for _, d := range st.fail.deps {
			c.delUser(d, flowDP{st, 0})
		}
		st.fail = nil
		c.stats.Failed--
		delete(c.errs, st.flow.UUID)
	}
	if st.compiled {
		c.stats.Compiled--
		st.compiled = false
	}
}

// removeDPs takes the rules of some datapaths of st out.
func (c *Compiler) removeDPs(st *flowState, dps []uint32) {
	kept := st.out[:0]
	for _, o := range st.out {
		if slices.Contains(dps, o.dp) {
			c.dropDP(st, o)
		} else {
			kept = append(kept, o)
		}
	}
	clear(st.out[len(kept):])
	st.out = kept
}

func (c *Compiler) dropDP(st *flowState, o dpRules) {
	lo := o.lo
	c.conj.release(lo.conjIDs())
	for _, d := range lo.deps {
		c.delUser(d, flowDP{st, o.dp})
	}
	c.stats.Rules -= int(lo.n)
	if lo.n == 0 {
		return
	}
	k := TableKey{Datapath: o.dp, Pipeline: lo.pipeline(), Table: lo.table()}
	if t := c.tables[k]; t != nil {
		delete(t.ownerMap(), st)
		t.touch(st, lo, false)
		c.markChanged(k, t)
		if len(t.owners) == 0 {
			delete(c.tables, k)
		}
	}
}

func (lo *lowered) pipeline() Pipeline { return lo.base.pipeline }
func (lo *lowered) table() uint8       { return lo.base.table }

func (c *Compiler) addUser(d depKey, u flowDP) {
	shard := depShard(d)
	m := c.users[shard]
	s := m[d.hash]
	if s == nil {
		// Carved from a block: most sets are one user and small.
		blk := &c.userBlk[shard]
		if len(*blk) == cap(*blk) {
			*blk = make([]userSet, 0, userSetBlock)
		}
		*blk = (*blk)[:len(*blk)+1]
		s = &(*blk)[len(*blk)-1]
		m[d.hash] = s
	}
	s.add(u)
}

func (c *Compiler) delUser(d depKey, u flowDP) {
	m := c.users[depShard(d)]
	if s := m[d.hash]; s != nil {
		s.del(u)
		if s.len() == 0 {
			delete(m, d.hash)
			*s = userSet{} // its block may outlive it: hold nothing
		}
	}
}

// markChanged lists table k (t) as changed since the last Flush, once.
func (c *Compiler) markChanged(k TableKey, t *table) {
	if !t.changed {
		t.changed = true
		c.changed[k] = struct{}{}
	}
}

func (c *Compiler) addRules(st *flowState, dp uint32, lo *lowered) {
	c.stats.Rules += int(lo.n)
	if lo.n == 0 {
		return
	}
	k := TableKey{Datapath: dp, Pipeline: lo.pipeline(), Table: lo.table()}
	t := c.tables[k]
	if t == nil {
		t = &table{owners: map[*flowState]*lowered{}}
		c.tables[k] = t
	}
	owners := t.ownerMap()
	if old := owners[st]; old != nil && old != lo {
		t.touch(st, old, false) // replaced without being dropped first
	}
	owners[st] = lo
	t.touch(st, lo, true)
	c.markChanged(k, t)
}

// addRulesBulk is addRules for the commit of a large batch: a table made in
// a large batch lists its owners in bulk. Each lflow state of a batch is
// added to a table at most once (one lowering per datapath), and any earlier
// presence of it was removed through ownerMap.
func (c *Compiler) addRulesBulk(st *flowState, out []dpRules) {
	for _, o := range out {
		lo := o.lo
		if lo.n == 0 {
			continue
		}
		k := TableKey{Datapath: o.dp, Pipeline: lo.pipeline(), Table: lo.table()}
		t := c.tables[k]
		if t == nil {
			t = &table{}
			c.tables[k] = t
		}
		if t.owners != nil {
			c.addRules(st, o.dp, lo)
			continue
		}
		c.stats.Rules += int(lo.n)
		t.bulk = append(t.bulk, tableOwner{st, lo})
		t.touch(st, lo, true)
		c.markChanged(k, t)
	}
}

// retarget moves an unchanged lflow to a new datapath set: rules of the
// datapaths that left go, and it returns the datapaths that joined (to be
// compiled, reusing an equal datapath's rules where possible).
func (c *Compiler) retarget(st *flowState, dps []uint32) []uint32 {
	var gone, add []uint32
	for _, o := range st.out {
		if _, found := slices.BinarySearch(dps, o.dp); !found {
			gone = append(gone, o.dp)
		}
	}
	c.removeDPs(st, gone)
	for _, dp := range dps {
		if !slices.ContainsFunc(st.out, func(o dpRules) bool { return o.dp == dp }) {
			add = append(add, dp)
		}
	}
	st.flow.Datapaths = dps
	return add
}

func dedupDeps(d []depKey) []depKey {
	if len(d) < 2 {
		return d
	}
	slices.SortFunc(d, func(a, b depKey) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return strings.Compare(a.name, b.name)
	})
	return slices.Clip(slices.Compact(d))
}

func (c *Compiler) invalidate(kind depKind, name string) {
	d := newDepKey(kind, name)
	if s := c.users[depShard(d)][d.hash]; s != nil {
		s.each(c.markDirty)
	}
}

func (c *Compiler) markDirty(u flowDP) {
	uuid := u.st.flow.UUID
	dps, ok := c.dirty[uuid]
	switch {
	case ok && dps == nil: // already whole
	case u.dp == 0:
		c.dirty[uuid] = nil
	default:
		if !slices.Contains(dps, u.dp) {
			c.dirty[uuid] = append(dps, u.dp)
		}
	}
}

// InvalidateAddressSet marks the compiles that used address set name.
func (c *Compiler) InvalidateAddressSet(name string) { c.invalidate(depAddrSet, name) }

// InvalidatePortGroup marks the compiles that used the Southbound port group
// called name ("<dp tunnel_key>_<name>" or a bare name).
func (c *Compiler) InvalidatePortGroup(name string) { c.invalidate(depPortGroup, name) }

// InvalidatePort marks the compiles that resolved the logical port (or
// multicast group) called name: its binding, key or datapath changed.
func (c *Compiler) InvalidatePort(name string) {
	c.invalidate(depPort, name)
	c.invalidate(depMcast, name)
}

// InvalidateTemplateVar marks the compiles that used template variable name.
func (c *Compiler) InvalidateTemplateVar(name string) { c.invalidate(depTemplate, name) }

// InvalidateChassisResident marks the compiles that asked
// is_chassis_resident about port.
func (c *Compiler) InvalidateChassisResident(port string) { c.invalidate(depResident, port) }

// InvalidateDatapath marks the lflows of datapath dp (its kind changed, or
// it was recreated with the same key).
func (c *Compiler) InvalidateDatapath(dp uint32) {
	for _, st := range c.flows {
		if slices.Contains(st.flow.Datapaths, dp) {
			c.markDirty(flowDP{st, 0})
		}
	}
}

// InvalidateAll marks every lflow (a full recompute).
func (c *Compiler) InvalidateAll() {
	for u := range c.flows {
		c.dirty[u] = nil
	}
}

// recompile recompiles the dirty compiles, in uuid order for determinism.
func (c *Compiler) recompile() {
	if len(c.dirty) == 0 {
		return
	}
	ids := make([]string, 0, len(c.dirty))
	for u := range c.dirty {
		ids = append(ids, u)
	}
	sort.Strings(ids)
	work := make([]job, 0, len(ids))
	for _, u := range ids {
		st := c.flows[u]
		if st == nil {
			continue
		}
		dps := c.dirty[u]
		if dps == nil || st.fail != nil {
			c.removeAll(st)
			dps = st.flow.Datapaths
		} else {
			slices.Sort(dps)
			c.removeDPs(st, dps)
		}
		work = append(work, job{st, dps})
	}
	clear(c.dirty)
	c.compileAll(work, nil)
}

// Flush recompiles what is dirty and returns the tables whose rules changed
// since the previous Flush, sorted. Call Table for each to get its rules
// (a table that no longer exists returns no rules).
func (c *Compiler) Flush() []TableKey {
	c.ahead = nil // the previous Flush's, not read through Table: they may be gone
	c.recompile()
	c.endBatch()
	keys := make([]TableKey, 0, len(c.changed))
	for k := range c.changed {
		keys = append(keys, k)
		if t := c.tables[k]; t != nil {
			t.changed = false
		}
	}
	clear(c.changed)
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	c.buildTables(keys)
	return keys
}

// buildTables brings the sorted rules of the given tables up to date, on
// all CPUs when there are many (each table is independent). The first
// Table call that follows decodes them all, also on all CPUs (decodeAhead):
// a caller reading them through View never has them decoded.
func (c *Compiler) buildTables(keys []TableKey) {
	workers := runtime.GOMAXPROCS(0)
	if len(keys) < 64 || workers < 2 {
		return // Table builds them on demand
	}
	ts := make([]*table, 0, len(keys))
	for _, k := range keys {
		if t := c.tables[k]; t != nil {
			ts = append(ts, t)
		}
	}
	// Largest first, so that one big table does not finish last alone.
	slices.SortStableFunc(ts, func(a, b *table) int { return cmp.Compare(b.size(), a.size()) })
	scratch := make([][]ruleKey, workers) // sort keys, reused table after table
	parallelWorkers(len(ts), workers, 1, func(w, i int) {
		ts[i].rulesWith(&scratch[w])
	})
	c.ahead = ts
}

// decodeAhead decodes the tables of the last large Flush for the Table
// calls that follow it.
func (c *Compiler) decodeAhead() {
	ts := c.ahead
	c.ahead = nil
	parallelChunk(len(ts), runtime.GOMAXPROCS(0), 1, func(i int) {
		if t := ts[i]; t.ready == nil {
			t.ready = t.decoded()
		}
	})
}

// Errors returns the lflows that could not be compiled, sorted by uuid.
func (c *Compiler) Errors() []*LflowError {
	c.recompile()
	out := make([]*LflowError, 0, len(c.errs))
	for _, e := range c.errs {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

// Stats returns the compiler's counters.
func (c *Compiler) Stats() Stats {
	c.recompile()
	return c.stats
}

// Table returns the rules of one table as the datapath must hold them:
// sorted by priority (highest first) then match; rules with identical
// priority and match merged (conjunction memberships are combined; of two
// ordinary rules the one whose program text, then lflow uuid, sorts first
// is kept). It returns nil for a table that is absent or pruned (a table
// whose only rule is `priority N, match 1, next;`): the datapath treats a
// missing table as "go to the next table". The compiler keeps its rules in
// a flat form and decodes them for each call (after a large Flush, the
// first call decodes every changed table on all CPUs): the result belongs
// to the caller, who must not modify the rules' matches and programs,
// which are shared. View reads a table without building its []Rule.
func (c *Compiler) Table(k TableKey) []Rule {
	c.recompile()
	if c.ahead != nil {
		c.decodeAhead()
	}
	t := c.tables[k]
	if t == nil {
		return nil
	}
	rules := t.decoded()
	if isPassThrough(k, rules) {
		return nil
	}
	return rules
}

// Tables returns every non-empty, non-pruned table, sorted by key.
func (c *Compiler) Tables() []TableKey {
	c.recompile()
	keys := make([]TableKey, 0, len(c.tables))
	for k, t := range c.tables {
		if !t.prunable(k) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	return keys
}

// TableView reads the rules of one table, as Table returns them, without
// building them all: a rule's match is decoded when it is read, into a
// buffer the caller reuses. A view is valid until the compiler's next
// change.
type TableView struct {
	refs []ruleRef
	// The merged memberships of conjunction members that absorbed their
	// duplicates (by index in refs), in a table that merges rules.
	conj map[int][]ConjRef
}

// View returns a view of table k, or false where Table(k) is nil (absent or
// pruned).
func (c *Compiler) View(k TableKey) (TableView, bool) {
	c.recompile()
	c.ahead = nil // a reader of views needs no tables decoded ahead
	t := c.tables[k]
	if t == nil || t.prunable(k) {
		return TableView{}, false
	}
	refs := t.rules()
	if t.dups < 0 {
		t.dups = 0
		for i := 1; i < len(refs) && t.dups == 0; i++ {
			t.dups = int8(b2i(compareKeyParts(refs[i-1], refs[i]) == 0))
		}
	}
	if t.dups > 0 {
		return mergedView(refs), true
	}
	return TableView{refs: refs}, true
}

// mergedView is the view of sorted rules with duplicates, merged as
// mergeRules merges decoded ones: of rules with the same priority and match
// the first stays, absorbing the memberships of later members if it is a
// member itself.
func mergedView(refs []ruleRef) TableView {
	v := TableView{refs: make([]ruleRef, 0, len(refs))}
	for _, r := range refs {
		n := len(v.refs)
		if n == 0 || compareKeyParts(v.refs[n-1], r) != 0 {
			v.refs = append(v.refs, r)
			continue
		}
		first := v.refs[n-1]
		if !first.lo.isMember(int(first.i)) || !r.lo.isMember(int(r.i)) {
			continue
		}
		if v.conj == nil {
			v.conj = map[int][]ConjRef{}
		}
		cj, ok := v.conj[n-1]
		if !ok {
			cj = []ConjRef{first.lo.cj.member[first.i]}
		}
		v.conj[n-1] = append(cj, r.lo.cj.member[r.i])
	}
	return v
}

// Len returns the number of rules.
func (v TableView) Len() int { return len(v.refs) }

// Rule returns rule i, its match decoded into buf's storage (grown when
// short), and that storage for the next call: the rule's Match is valid
// until buf is reused. The match's values and masks and the program are
// shared with the compiler: read them, never modify them.
func (v TableView) Rule(i int, buf []FieldMatch) (Rule, []FieldMatch) {
	r := v.refs[i]
	out := r.rule()
	buf = decodeMatch(buf[:0], r.match())
	out.Match = buf[:len(buf):len(buf)]
	if cj, ok := v.conj[i]; ok {
		out.Conj = cj
	}
	return out, buf
}

// prunable reports whether Table(k) returns nil for t, without decoding
// it: only a table whose rules all merge into one can be pruned.
func (t *table) prunable(k TableKey) bool {
	refs := t.rules()
	switch {
	case len(refs) == 0:
		return true
	case len(refs) > 1 && compareKeyParts(refs[0], refs[len(refs)-1]) != 0:
		return false // merging leaves at least two rules
	}
	// Every rule has one priority and match: merged, the first stays.
	r := refs[0]
	if len(r.match()) != 0 || r.lo.isMember(int(r.i)) || len(r.lo.base.actions) != 1 {
		return false
	}
	n, ok := r.lo.base.actions[0].(Next)
	return ok && n.Pipeline == k.Pipeline && int(n.Table) == int(k.Table)+1
}

// isPassThrough reports whether a table only says "everything: next".
func isPassThrough(k TableKey, rules []Rule) bool {
	if len(rules) != 1 {
		return false
	}
	r := &rules[0]
	if len(r.Match) != 0 || len(r.Conj) != 0 || len(r.Actions) != 1 {
		return false
	}
	n, ok := r.Actions[0].(Next)
	return ok && n.Pipeline == k.Pipeline && int(n.Table) == int(k.Table)+1
}

func mergeRules(all []Rule) []Rule {
	dup := false
	for i := 1; i < len(all) && !dup; i++ {
		dup = all[i].Priority == all[i-1].Priority && sameMatch(all[i].Match, all[i-1].Match)
	}
	if !dup {
		return all[:len(all):len(all)]
	}
	out := make([]Rule, 0, len(all))
	for _, r := range all {
		if len(out) > 0 {
			p := &out[len(out)-1]
			if p.Priority == r.Priority && sameMatch(p.Match, r.Match) {
				if len(p.Conj) > 0 && len(r.Conj) > 0 {
					p.Conj = append(slices.Clip(p.Conj), r.Conj...)
				}
				// An ordinary duplicate: the first in order wins.
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// sortRules returns the rules of sets in table order (compareRefs). It
// sorts small keys holding no pointers.
//
// Each key carries the first 24 bytes of the rule's order key (priority,
// then its encoded match), so that most comparisons read words held in the
// sorted array instead of two rules; keys are sorted by those (sortKeys),
// then runs of equal ones by the whole order. It also reports whether two
// rules share priority and match. The keys are sorted in *scratch if set.
func sortRules(sets []*lowered, scratch *[]ruleKey) ([]ruleRef, bool) {
	n := 0
	for _, lo := range sets {
		n += int(lo.n)
	}
	var keys []ruleKey
	if scratch != nil && cap(*scratch) >= n {
		keys = (*scratch)[:0]
	} else {
		keys = make([]ruleKey, 0, n)
		if scratch != nil {
			*scratch = keys
		}
	}
	for s, lo := range sets {
		for i := 0; i < int(lo.n); i++ {
			keys = append(keys, makeRuleKey(lo.base.prio, lo.match(i), int32(s), int32(i)))
		}
	}
	ref := func(k ruleKey) ruleRef { return ruleRef{sets[k.set], k.i} }
	sortKeys(keys, 2*bits.Len(uint(len(keys))))
	// Runs of equal prefixes (few and short) take the full order.
	full := func(a, b ruleKey) int { return compareRefs(ref(a), ref(b)) }
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && samePrefix(&keys[j], &keys[i]) {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keys[i:j], full)
		}
		i = j
	}
	out := make([]ruleRef, len(keys))
	dups := false
	for i, k := range keys {
		out[i] = ref(k)
		if i > 0 && !dups && samePrefix(&k, &keys[i-1]) {
			dups = compareKeyParts(out[i-1], out[i]) == 0
		}
	}
	return out, dups
}

// keyLess orders keys by their prefixes.
func keyLess(a, b *ruleKey) bool {
	if a.k0 != b.k0 {
		return a.k0 < b.k0
	}
	if a.k1 != b.k1 {
		return a.k1 < b.k1
	}
	return a.k2 < b.k2
}

func samePrefix(a, b *ruleKey) bool { return a.k0 == b.k0 && a.k1 == b.k1 && a.k2 == b.k2 }

// sortKeys sorts keys by prefix (keyLess): a quicksort comparing inline
// (slices.SortFunc calls a function per comparison, most of a table's
// sort), insertion sort for short ranges, slices.SortFunc below depth 0.
func sortKeys(k []ruleKey, depth int) {
	for len(k) > 12 {
		if depth == 0 {
			slices.SortFunc(k, func(a, b ruleKey) int {
				return cmp.Or(cmp.Compare(a.k0, b.k0), cmp.Compare(a.k1, b.k1), cmp.Compare(a.k2, b.k2))
			})
			return
		}
		depth--
		// The median of the first, middle and last keys goes to the middle.
		m, n := len(k)/2, len(k)-1
		if keyLess(&k[m], &k[0]) {
			k[m], k[0] = k[0], k[m]
		}
		if keyLess(&k[n], &k[m]) {
			k[n], k[m] = k[m], k[n]
			if keyLess(&k[m], &k[0]) {
				k[m], k[0] = k[0], k[m]
			}
		}
		p := k[m]
		i, j := -1, len(k) // Hoare's partition: k[:j+1] <= p <= k[j+1:], both non-empty
		for {
			for i++; keyLess(&k[i], &p); i++ {
			}
			for j--; keyLess(&p, &k[j]); j-- {
			}
			if i >= j {
				break
			}
			k[i], k[j] = k[j], k[i]
		}
		if left, right := k[:j+1], k[j+1:]; len(left) < len(right) {
			sortKeys(left, depth)
			k = right
		} else {
			sortKeys(right, depth)
			k = left
		}
	}
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && keyLess(&k[j], &k[j-1]); j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
}

// ruleKey is a prefix of a rule's order key, big-endian in k0:k1:k2, and where
// the rule is (rule i of sets[set]).
type ruleKey struct {
	k0, k1, k2 uint64
	set, i     int32
}

// makeRuleKey encodes the order of compareRefs as bytes: 0xffff-priority,
// then the encoded match; zeros after the end (a match that is a prefix of
// another sorts first, as in bytes.Compare). Equal prefixes fall back to
// compareRefs.
func makeRuleKey(prio uint16, match []byte, set, i int32) ruleKey {
	var b [24]byte
	p := 0xffff - prio
	b[0], b[1] = byte(p>>8), byte(p)
	copy(b[2:], match)
	return ruleKey{k0: binary.BigEndian.Uint64(b[:8]), k1: binary.BigEndian.Uint64(b[8:16]),
		k2: binary.BigEndian.Uint64(b[16:]), set: set, i: i}
}

// compareKeyParts compares the priority (highest first) and the match.
func compareKeyParts(a, b ruleRef) int {
	if pa, pb := a.lo.base.prio, b.lo.base.prio; pa != pb {
		return cmp.Compare(pb, pa)
	}
	return bytes.Compare(a.match(), b.match())
}

// compareRefs is the table order: priority (highest first), match, then
// (for identical matches, which are rare) the program text and the lflow,
// so that the rule kept among duplicates does not depend on map order or
// uuids where the programs differ.
func compareRefs(a, b ruleRef) int {
	if c := compareKeyParts(a, b); c != 0 {
		return c
	}
	ra, rb := a.rule(), b.rule()
	if len(ra.Conj) > 0 || len(rb.Conj) > 0 {
		if c := cmp.Compare(len(ra.Conj), len(rb.Conj)); c != 0 {
			return c
		}
		return strings.Compare(ra.Lflow, rb.Lflow)
	}
	if c := strings.Compare(FormatOps(ra.Actions), FormatOps(rb.Actions)); c != 0 {
		return c
	}
	return strings.Compare(ra.Lflow, rb.Lflow)
}

func compareMatch(a, b []FieldMatch) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].Field != b[i].Field {
			if a[i].Field < b[i].Field {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
		if c := bytes.Compare(a[i].Mask, b[i].Mask); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func sameMatch(a, b []FieldMatch) bool { return compareMatch(a, b) == 0 }
