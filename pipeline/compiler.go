package pipeline

import (
	"bytes"
	"cmp"
	"encoding/binary"
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
	users   [2]map[depKey]*userSet  // dependency -> (lflow, datapath) pairs that used it, in two shards (depShard)
	dirty   map[string][]uint32     // lflow -> datapaths to recompile (nil: all)
	matches map[string]*parsedMatch // parse cache of the current batch
	acts    map[string]*parsedActions
	tables  map[TableKey]*table
	changed map[TableKey]struct{}
	errs    map[string]*LflowError
	conj    conjAllocator
	stats   Stats
	shaped  int // lowerings done through shape templates (tests)
}

// flowDP names one datapath's compile of an lflow (dp 0: the whole lflow,
// for dependencies of an lflow that failed). It holds the lflow's state, not
// its uuid: a pointer hashes faster than a 36-byte string, and a state is
// always taken out of every user set before it is dropped.
type flowDP struct {
	st *flowState
	dp uint32
}

// userSet is the set of compiles that used one input. Most inputs (a port
// name) have one or two users, so it is a slice until it grows large,
// rather than one map per input.
type userSet struct {
	list []flowDP
	m    map[flowDP]struct{} // non-nil once the set outgrew userSetSmall
	one  [1]flowDP           // backing of list for the usual single user
}

const userSetSmall = 16

func (u *userSet) add(x flowDP) {
	if u.m != nil {
		u.m[x] = struct{}{}
		return
	}
	if slices.Contains(u.list, x) {
		return
	}
	if u.list == nil {
		u.list = u.one[:0]
	}
	if len(u.list) < userSetSmall {
		u.list = append(u.list, x)
		return
	}
	u.m = make(map[flowDP]struct{}, 2*userSetSmall)
	for _, y := range u.list {
		u.m[y] = struct{}{}
	}
	u.m[x] = struct{}{}
	u.list = nil
}

func (u *userSet) del(x flowDP) {
	if u.m != nil {
		delete(u.m, x)
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

// each calls fn for every member.
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
	err      *LflowError
	errDeps  []depKey // inputs read by a failed compile
	job      int      // 1 + index of its job in the batch being built, 0 outside
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
			res.out = append(res.out, dpRules{dp, t.forDatapath(dp)})
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
// installRules and installDeps.
func (c *Compiler) commit(st *flowState, res flowResult, install bool) {
	c.stats.Recompiles++
	c.stats.Lowerings += res.lowered
	if res.err != nil {
		c.removeAll(st)
		st.err = res.err
		c.errs[st.flow.UUID] = res.err
		c.stats.Failed++
		// Still depend on what was read, so a fix to an input retries.
		st.errDeps = dedupDeps(res.deps)
		for _, d := range st.errDeps {
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
		if len(o.lo.conjIDs) > 0 {
			c.conj.retain(o.lo.conjIDs)
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
// Two bytes of a name (the last and the middle one) split northd's names
// (ports numbered in sequence) about evenly, without hashing the name.
func depShard(d depKey) int {
	n := uint(d.kind)
	if l := len(d.name); l > 0 {
		n += uint(d.name[l-1]) + uint(d.name[l/2])
	}
	return int(n & 1)
}

// assignConjIDs replaces local conjunction ids by global ones, in place
// (datapath copies share the slices, and are then already done), and
// records the ids lo uses.
func assignConjIDs(lo *lowered, global []uint32) {
	seen := map[uint32]bool{}
	for _, id := range lo.conjIDs {
		seen[id] = true
	}
	note := func(id uint32) {
		if !seen[id] {
			seen[id] = true
			lo.conjIDs = append(lo.conjIDs, id)
		}
	}
	for i := range lo.rules {
		r := &lo.rules[i]
		for j := range r.Conj {
			if id := r.Conj[j].ID; id&conjLocal != 0 {
				r.Conj[j].ID = global[id&^conjLocal-1]
			}
			note(r.Conj[j].ID)
		}
		if len(r.Match) == 1 && r.Match[0].Field == FieldConjID {
			v := r.Match[0].Value
			id := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
			if id&conjLocal != 0 {
				id = global[id&^conjLocal-1]
				v[0], v[1], v[2], v[3] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
			}
			note(id)
		}
	}
}

type table struct {
	owners map[*flowState][]Rule // lflow -> its rules in this table (a pointer hashes faster than a uuid)
	// sorted holds every owner's rules in compareRules order as of the last
	// Table call; owners added or removed since are applied to it then, so
	// one lflow changing in a large table costs a merge, not a sort.
	sorted  []Rule
	built   bool
	merged  []Rule // mergeTable's result for sorted; nil: not computed
	added   map[*flowState]struct{}
	removed map[string]struct{} // uuids
	changed bool                // listed in Compiler.changed
}

func (t *table) touch(st *flowState, add bool) {
	if !t.built {
		return
	}
	if t.removed == nil {
		t.removed = map[string]struct{}{}
		t.added = map[*flowState]struct{}{}
	}
	if add {
		t.added[st] = struct{}{}
	} else {
		t.removed[st.flow.UUID] = struct{}{}
		delete(t.added, st)
	}
}

// rules brings t.sorted up to date and returns it.
func (t *table) rules() []Rule {
	if !t.built {
		sets := make([][]Rule, 0, len(t.owners))
		for _, rs := range t.owners {
			sets = append(sets, rs)
		}
		t.sorted, t.built, t.merged = sortRules(sets), true, nil
		return t.sorted
	}
	if len(t.removed) == 0 && len(t.added) == 0 {
		return t.sorted
	}
	// An owner in both sets was replaced: drop its old rules, add the new.
	sets := make([][]Rule, 0, len(t.added))
	for st := range t.added {
		t.removed[st.flow.UUID] = struct{}{}
		sets = append(sets, t.owners[st])
	}
	fresh := sortRules(sets)
	out := make([]Rule, 0, len(t.sorted)+len(fresh))
	i := 0
	for _, r := range t.sorted {
		if _, gone := t.removed[r.Lflow]; gone {
			continue
		}
		for i < len(fresh) && compareRules(&fresh[i], &r) < 0 {
			out = append(out, fresh[i])
			i++
		}
		out = append(out, r)
	}
	out = append(out, fresh[i:]...)
	t.sorted, t.merged = out, nil
	clear(t.added)
	clear(t.removed)
	return t.sorted
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
		users:   [2]map[depKey]*userSet{{}, {}},
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
	// looking each uuid up first; a uuid named twice shows as a map shorter
	// than the batch, and the batch starts over the careful way.
	fresh := len(c.flows) == 0 && len(flows) >= parallelMin
again:
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
		var old *flowState
		if !fresh {
			old = c.flows[f.UUID]
		}
		if old != nil && old.job > 0 {
			// The batch names this lflow again: the later row wins, and the
			// earlier row's job (not run yet) goes.
			work[old.job-1].st = nil
			old.job = 0
			dups = true
		}
		if old != nil && old.err == nil && sameFlowBody(&old.flow, &f) {
			// Only the datapath set may differ: compile the new members only.
			if dps := c.retarget(old, f.Datapaths); len(dps) > 0 {
				work = append(work, job{old, dps})
				old.job = len(work)
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
		st.job = len(work)
	}
	if fresh && len(c.flows) != len(work) {
		clear(c.flows)
		c.stats.Lflows = 0
		fresh = false
		goto again
	}
	if dups {
		work = slices.DeleteFunc(work, func(j job) bool { return j.st == nil })
	}
	for _, j := range work {
		j.st.job = 0
	}
	c.compileAll(work)
	var errs []*LflowError
	for _, j := range work {
		if j.st.err != nil {
			errs = append(errs, j.st.err)
		}
	}
	return errs
}

// job is "lower lflow st for these datapaths" (which hold no rules now).
type job struct {
	st  *flowState
	dps []uint32
}

// parallelMin is the batch size from which compiling uses all CPUs.
var parallelMin = 512

// compileAll runs jobs: parse and lower (in parallel for large batches),
// then commit in order.
func (c *Compiler) compileAll(work []job) {
	if len(work) == 0 {
		return
	}
	res := make([]flowResult, len(work))
	// One backing array for every job's per-datapath results (each job's
	// part capped at its datapaths), rather than one allocation per lflow.
	n := 0
	for _, j := range work {
		n += len(j.dps)
	}
	outs := make([]dpRules, n)
	next := func(j job) []dpRules {
		o := outs[:0:len(j.dps)]
		outs = outs[len(j.dps):]
		return o
	}
	workers := runtime.GOMAXPROCS(0)
	if len(work) < parallelMin {
		for i, j := range work {
			pm, pa := c.parsed(&j.st.flow)
			res[i] = c.lowerAll(&j.st.flow, j.dps, pm, pa, nil, j.st.out, next(j))
		}
	} else {
		bufs := make([][]dpRules, len(work))
		for i, j := range work {
			bufs[i] = next(j)
		}
		c.lowerParallel(work, res, bufs, workers) // also with one CPU: its caches are cheaper
	}
	if len(work) < parallelMin {
		for i, j := range work {
			c.commit(j.st, res[i], true)
		}
		return
	}
	c.presizeTables(res)
	if workers < 2 {
		for i, j := range work {
			c.commit(j.st, res[i], true)
		}
		return
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
				c.installRules(j.st, res[i].out)
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
}

// presizeTables creates the tables a large batch adds rules to with room
// for their owners, rather than growing each map owner by owner.
func (c *Compiler) presizeTables(res []flowResult) {
	counts := map[TableKey]int{}
	for i := range res {
		for _, o := range res[i].out {
			if len(o.lo.rules) > 0 {
				counts[TableKey{Datapath: o.dp, Pipeline: o.lo.pipeline(), Table: o.lo.table()}]++
			}
		}
	}
	for k, n := range counts {
		if c.tables[k] == nil {
			c.tables[k] = &table{owners: make(map[*flowState][]Rule, n)}
		}
	}
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
func (c *Compiler) lowerParallel(work []job, res []flowResult, bufs [][]dpRules, workers int) {
	caches := make([]workerCache, workers)
	for w := range caches {
		caches[w] = workerCache{m: make(map[uint64]seenText[*parsedMatch], workerCacheMax),
			a: make(map[uint64]seenText[*parsedActions], workerCacheMax), pre: map[string]*parsedMatch{}}
		if useShapes {
			caches[w].sh = newShapeCache()
		}
	}
	parallelWorkers(len(work), workers, 64, func(w, i int) {
		ca := &caches[w]
		j := work[i]
		f := &j.st.flow
		if ca.sh != nil {
			ca.sh.prepare(f)
		}
		res[i] = c.lowerAll(f, j.dps, nil, nil, ca, j.st.out, bufs[i])
		ca.ar.reset()
	})
	for _, ca := range caches {
		c.stats.ParsedTexts += ca.parsed
		c.shaped += ca.shaped
	}
}

// useShapes turns shape templates on (tests compare with them off).
var useShapes = true

// workerCache is what one worker of lowerParallel keeps between lflows.
type workerCache struct {
	m      map[uint64]seenText[*parsedMatch] // nil parse: seen once, not kept
	a      map[uint64]seenText[*parsedActions]
	pre    map[string]*parsedMatch // prerequisite texts of actions
	ar     parseArena
	pm     parsedMatch // this job's throwaway parses
	pa     parsedActions
	parsed int
	shaped int
	sh     *shapeCache // nil: templates off
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
	for _, d := range st.errDeps {
		c.delUser(d, flowDP{st, 0})
	}
	st.errDeps = nil
	if st.err != nil {
		c.stats.Failed--
		delete(c.errs, st.flow.UUID)
		st.err = nil
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
	c.conj.release(lo.conjIDs)
	for _, d := range lo.deps {
		c.delUser(d, flowDP{st, o.dp})
	}
	c.stats.Rules -= len(lo.rules)
	if len(lo.rules) == 0 {
		return
	}
	k := TableKey{Datapath: o.dp, Pipeline: lo.pipeline(), Table: lo.table()}
	if t := c.tables[k]; t != nil {
		delete(t.owners, st)
		t.touch(st, false)
		c.markChanged(k, t)
		if len(t.owners) == 0 {
			delete(c.tables, k)
		}
	}
}

func (lo *lowered) pipeline() Pipeline { return lo.rules[0].Pipeline }
func (lo *lowered) table() uint8       { return lo.rules[0].Table }

func (c *Compiler) addUser(d depKey, u flowDP) {
	m := c.users[depShard(d)]
	s := m[d]
	if s == nil {
		s = &userSet{}
		m[d] = s
	}
	s.add(u)
}

func (c *Compiler) delUser(d depKey, u flowDP) {
	m := c.users[depShard(d)]
	if s := m[d]; s != nil {
		s.del(u)
		if s.len() == 0 {
			delete(m, d)
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
	c.stats.Rules += len(lo.rules)
	if len(lo.rules) == 0 {
		return
	}
	k := TableKey{Datapath: dp, Pipeline: lo.pipeline(), Table: lo.table()}
	t := c.tables[k]
	if t == nil {
		t = &table{owners: map[*flowState][]Rule{}}
		c.tables[k] = t
	}
	t.owners[st] = lo.rules
	t.touch(st, true)
	c.markChanged(k, t)
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
	d := depKey{kind, name}
	if s := c.users[depShard(d)][d]; s != nil {
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
		if dps == nil || st.err != nil {
			c.removeAll(st)
			dps = st.flow.Datapaths
		} else {
			slices.Sort(dps)
			c.removeDPs(st, dps)
		}
		work = append(work, job{st, dps})
	}
	clear(c.dirty)
	c.compileAll(work)
}

// Flush recompiles what is dirty and returns the tables whose rules changed
// since the previous Flush, sorted. Call Table for each to get its rules
// (a table that no longer exists returns no rules).
func (c *Compiler) Flush() []TableKey {
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
// all CPUs when there are many (each table is independent), so that the
// Table calls that follow a large Flush only read.
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
	slices.SortStableFunc(ts, func(a, b *table) int { return cmp.Compare(len(b.owners), len(a.owners)) })
	parallelChunk(len(ts), workers, 1, func(i int) { mergeTable(ts[i]) })
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
// missing table as "go to the next table". The result is shared with the
// compiler and valid until its next change: read it, never modify it.
func (c *Compiler) Table(k TableKey) []Rule {
	c.recompile()
	t := c.tables[k]
	if t == nil {
		return nil
	}
	merged := mergeTable(t)
	if isPassThrough(k, merged) {
		return nil
	}
	return merged
}

// Tables returns every non-empty, non-pruned table, sorted by key.
func (c *Compiler) Tables() []TableKey {
	c.recompile()
	keys := make([]TableKey, 0, len(c.tables))
	for k := range c.tables {
		if c.Table(k) != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	return keys
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

// mergeTable returns t's rules in table order with duplicates merged. When
// there are none (the usual case) it returns t's sorted slice itself.
func mergeTable(t *table) []Rule {
	all := t.rules()
	if t.merged != nil {
		return t.merged
	}
	t.merged = mergeRules(all)
	return t.merged
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

// sortRules returns the rules of sets in compareRules order. It sorts
// small keys and copies each rule once: moving 96-byte rules that hold
// pointers inside the sort costs more (and runs write barriers while the GC
// marks).
//
// Each index carries the first 16 bytes of the rule's order key (priority,
// then per field match: field, value, mask), so that most comparisons read
// two words held in the sorted array instead of two rules' match slices.
func sortRules(sets [][]Rule) []Rule {
	n := 0
	for _, rs := range sets {
		n += len(rs)
	}
	keys := make([]ruleKey, 0, n)
	for s, rs := range sets {
		for i := range rs {
			keys = append(keys, makeRuleKey(&rs[i], int32(s), int32(i)))
		}
	}
	rule := func(k ruleKey) *Rule { return &sets[k.set][k.i] }
	slices.SortFunc(keys, func(a, b ruleKey) int {
		if a.k0 != b.k0 {
			return cmp.Compare(a.k0, b.k0)
		}
		if a.k1 != b.k1 {
			return cmp.Compare(a.k1, b.k1)
		}
		return compareRules(rule(a), rule(b))
	})
	out := make([]Rule, len(keys))
	for i, k := range keys {
		out[i] = *rule(k)
	}
	return out
}

// ruleKey is a prefix of a rule's order key, big-endian in k0:k1, and where
// the rule is (sets[set][i]).
type ruleKey struct {
	k0, k1 uint64
	set, i int32
}

// makeRuleKey encodes the order of compareRules as bytes: 0xffff-priority,
// then for each field match field+1, value, mask; zeros after the end (a
// match that is a prefix of another sorts first, as in compareMatch).
// Equal prefixes fall back to compareRules.
func makeRuleKey(r *Rule, set, i int32) ruleKey {
	var b [16]byte
	p := 0xffff - r.Priority
	b[0], b[1] = byte(p>>8), byte(p)
	n := 2
	for _, m := range r.Match {
		if n == len(b) {
			break
		}
		b[n] = byte(m.Field) + 1
		n++
		n += copy(b[n:], m.Value)
		n += copy(b[n:], m.Mask)
	}
	return ruleKey{k0: binary.BigEndian.Uint64(b[:8]), k1: binary.BigEndian.Uint64(b[8:]), set: set, i: i}
}

// compareRules is the table order: priority (highest first), match, then
// (for identical matches, which are rare) the program text and the lflow,
// so that the rule kept among duplicates does not depend on map order or
// uuids where the programs differ.
func compareRules(a, b *Rule) int {
	if a.Priority != b.Priority {
		return cmp.Compare(b.Priority, a.Priority)
	}
	if c := compareMatch(a.Match, b.Match); c != 0 {
		return c
	}
	if len(a.Conj) > 0 || len(b.Conj) > 0 {
		if c := cmp.Compare(len(a.Conj), len(b.Conj)); c != 0 {
			return c
		}
		return strings.Compare(a.Lflow, b.Lflow)
	}
	if c := strings.Compare(FormatOps(a.Actions), FormatOps(b.Actions)); c != 0 {
		return c
	}
	return strings.Compare(a.Lflow, b.Lflow)
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
