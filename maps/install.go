package maps

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// Installer keeps the datapath's classifier maps equal to the compiler's
// tables. Each Apply writes only what changed, in batches, and makes the
// whole change visible at once:
//
//  1. new subtable masks and op programs go to unused slots;
//  2. every changed entry is written as {since: g+1, prev: old, cur: new}
//     (packets that started under g keep reading prev);
//  3. the changed tables' subtable lists are written under parity (g+1)&1;
//  4. the generation flips to g+1 (one 4-byte map write);
//  5. what g+1 no longer uses is deleted or freed at the next Apply, once no
//     packet can still be reading it.
//
// An Installer is not safe for concurrent use.
type Installer struct {
	m   *DatapathMaps
	gen uint32

	tables map[TableID]*tableState
	// datapaths whose directory at the other parity is stale (changed by the
	// last apply)
	staleOther map[uint32]bool

	subtableIDs idAllocator
	descIDs     idAllocator
	ops         rangeAllocator
	// Op programs are shared: entries with the same program point at one
	// range, counted, freed when the last goes (one apply later, as the
	// entries). At the reference scale a program is used 3-4 times on
	// average (next;, output;, the same port's actions on many matches).
	progByStart map[uint32]*opProg
	progBySum   map[digest]*opProg
	// oddSums are the digests of installed ranges no counted program
	// stands for (read back from pins where two ranges share a start)
	oddSums    map[opRange]digest
	lflows     map[string]uint32
	lflowNames []string
	digester   ruleDigester
	keyed      keyedScratch // the digest pass of a large table

	// released by the previous apply: freed/deleted by the next one
	deferredRules     []ruleKey
	deferredOps       []opRange
	deferredSubtables []uint32
	deferredDescs     []uint32

	// unsure is set when an Apply failed part way: the maps may hold some
	// of its writes, so the next Apply first reads them back (Resync).
	unsure bool
}

type tableState struct {
	// subtables: a few per table (a map keyed by the 112-byte shape cost
	// more than the subtables at the reference scale's 2,000 tables)
	subtables []*subtableState
	desc      uint32 // index of its subtable list in ovnbpf_tables
	listSum   digest // of the list written there
	// sum is the digest of the rules the table was installed from, when
	// they all were (summed): the same rules again are skipped unencoded.
	sum    digest
	summed bool
}

// subtable returns the table's subtable of one shape, or nil.
func (ts *tableState) subtable(shape maskShape) *subtableState {
	for _, st := range ts.subtables {
		if shapeOf(st.mask) == shape {
			return st
		}
	}
	return nil
}

// listDigest identifies a subtable list (the struct is zeroed before its
// fields are set, so its bytes are a function of them).
func listDigest(l *DatapathOvnbpfTable) digest {
	return digestBytes(unsafe.Slice((*byte)(unsafe.Pointer(l)), unsafe.Sizeof(*l)))
}

type subtableState struct {
	id      uint32
	maxPrio uint16
	mask    DatapathOvnbpfMask
	entries
	// sums, in a table of keyedMin rules or more, are the digests of the
	// rules each entry was made from (keyed.go); nil: not known
	sums []digest
}

type opRange struct{ start, n uint32 }

// opProg is an op program in ovnbpf_ops and the entries using it.
type opProg struct {
	r    opRange
	sum  digest
	refs int
}

// acquireOps returns the range holding ops (digest sum), taking a
// reference: an existing one, or a new one whose ops are appended to the
// batch to write.
func (in *Installer) acquireOps(sum digest, ops []DatapathOvnbpfOp, idx *[]uint32, vals *[]DatapathOvnbpfOp) (opRange, error) {
	if len(ops) == 0 {
		return opRange{}, nil
	}
	if p := in.progBySum[sum]; p != nil && p.r.n == uint32(len(ops)) {
		p.refs++
		return p.r, nil
	}
	start, err := in.ops.alloc(uint32(len(ops)))
	if err != nil {
		return opRange{}, err
	}
	r := opRange{start, uint32(len(ops))}
	for i, op := range ops {
		*idx = append(*idx, start+uint32(i))
		*vals = append(*vals, op)
	}
	p := &opProg{r: r, sum: sum, refs: 1}
	in.progByStart[start] = p
	if in.progBySum[sum] == nil {
		in.progBySum[sum] = p
	}
	return r, nil
}

// opsSum is the digest of an installed entry's op program (zero for
// none, as digestOps).
func (in *Installer) opsSum(s *installedSlot) digest {
	if !s.action || s.ops.n == 0 {
		return digest{}
	}
	if p := in.progByStart[s.ops.start]; p != nil && p.r == s.ops {
		return p.sum
	}
	return in.oddSums[s.ops]
}

// canonical reports whether an installed entry uses the shared range of
// its program. One that does not (pins written before programs were
// shared) is written again, pointing at the shared range, and its own
// range is freed: the op array is compacted as the tables are re-applied.
func (in *Installer) canonical(s *installedSlot) bool {
	if !s.action || s.ops.n == 0 {
		return true
	}
	p := in.progBySum[in.opsSum(s)]
	return p == nil || p.r == s.ops
}

// sameSlot reports whether entry i of st holds what c describes.
func (in *Installer) sameSlot(c *slotContent, st *subtableState, i int) bool {
	s := &st.slots[i]
	if c.prio != s.prio || c.action != s.action || int(s.nconj) != len(c.conj) || c.lflow != in.LflowName(s.lflow) {
		return false
	}
	for j, r := range st.conjOf(i) {
		if c.conj[j] != r {
			return false
		}
	}
	return c.opsSum == in.opsSum(s)
}

// releaseOps drops a reference to the program at r, freeing the range
// with the last.
func (in *Installer) releaseOps(r opRange) {
	if r.n == 0 {
		return
	}
	p := in.progByStart[r.start]
	if p == nil || p.r != r {
		delete(in.oddSums, r)
		in.ops.release(r) // not counted (read back so): free as before
		return
	}
	if p.refs--; p.refs > 0 {
		return
	}
	delete(in.progByStart, r.start)
	if in.progBySum[p.sum] == p {
		delete(in.progBySum, p.sum)
	}
	in.ops.release(p.r)
}

// ruleKey names a classifier entry in either rules map (by the subtable's
// width: narrow subtables use ovnbpf_rules, wide ones ovnbpf_rules_w).
type ruleKey struct {
	sub    uint32
	w      [maskWords]uint64
	narrow bool
}

func newRuleKey(st *subtableState, w [maskWords]uint64) ruleKey {
	return ruleKey{sub: st.id, w: w, narrow: int(st.mask.N) <= narrowWords}
}

// ruleBatch collects entry writes for both rules maps.
type ruleBatch struct {
	nk []DatapathOvnbpfRuleKey
	nv []DatapathOvnbpfRule
	wk []DatapathOvnbpfRuleKeyW
	wv []DatapathOvnbpfRule
}

func (b *ruleBatch) add(k ruleKey, v DatapathOvnbpfRule) {
	if k.narrow {
		nk := DatapathOvnbpfRuleKey{Subtable: k.sub}
		copy(nk.W[:], k.w[:])
		b.nk, b.nv = append(b.nk, nk), append(b.nv, v)
		return
	}
	b.wk, b.wv = append(b.wk, DatapathOvnbpfRuleKeyW{Subtable: k.sub, W: k.w}), append(b.wv, v)
}

func (b *ruleBatch) len() int { return len(b.nk) + len(b.wk) }

func (in *Installer) writeRules(b *ruleBatch) error {
	if len(b.nk) > 0 {
		if err := batchUpdate(in.m.OvnbpfRules, b.nk, b.nv); err != nil {
			return err
		}
	}
	if len(b.wk) > 0 {
		if err := batchUpdate(in.m.OvnbpfRulesW, b.wk, b.wv); err != nil {
			return err
		}
	}
	return nil
}

func (in *Installer) deleteRule(k ruleKey) error {
	var err error
	if k.narrow {
		nk := DatapathOvnbpfRuleKey{Subtable: k.sub}
		copy(nk.W[:], k.w[:])
		err = in.m.OvnbpfRules.Delete(&nk)
	} else {
		err = in.m.OvnbpfRulesW.Delete(&DatapathOvnbpfRuleKeyW{Subtable: k.sub, W: k.w})
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// NewInstaller starts an installer on the datapath's maps. Maps that are
// already populated (pinned by a previous run of the daemon) are read back,
// not cleared: the first Apply then writes only what differs, and the
// datapath forwards throughout.
func NewInstaller(m *DatapathMaps) (*Installer, error) {
	var gen uint32
	if err := m.OvnbpfGen.Lookup(uint32(0), &gen); err != nil {
		return nil, fmt.Errorf("reading generation: %w", err)
	}
	in := &Installer{
		m:          m,
		gen:        gen,
		tables:     map[TableID]*tableState{},
		staleOther: map[uint32]bool{},
		subtableIDs: idAllocator{what: "subtable ids (ovnbpf_masks)", fix: "raise ovnbpfd --lflow-capacity",
			next: 1, max: m.OvnbpfMasks.MaxEntries()},
		descIDs: idAllocator{what: "table descriptors (ovnbpf_tables)", fix: "the map's size is fixed in bpf/lib/maps.h",
			next: 1, max: m.OvnbpfTables.MaxEntries()},
		ops:         rangeAllocator{next: 1, max: m.OvnbpfOps.MaxEntries()},
		lflows:      map[string]uint32{},
		lflowNames:  []string{""},
		progByStart: map[uint32]*opProg{},
		progBySum:   map[digest]*opProg{},
		oddSums:     map[opRange]digest{},
	}
	if err := in.reconcile(); err != nil {
		return nil, fmt.Errorf("reading installed tables: %w", err)
	}
	return in, nil
}

// reconcile rebuilds the installer's view from the maps: the tables current
// at this generation, their entries (the version packets see now), the op
// ranges and ids in use, and the lflow names of the counters.
func (in *Installer) reconcile() error {
	var idx uint32
	var name DatapathOvnbpfLflowName
	it := in.m.OvnbpfLfnames.Iterate()
	for it.Next(&idx, &name) {
		uuid := cString(name.Uuid[:])
		for uint32(len(in.lflowNames)) <= idx {
			in.lflowNames = append(in.lflowNames, "")
		}
		in.lflowNames[idx] = uuid
		in.lflows[uuid] = idx
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading lflow names: %w", err)
	}

	parity := uint8(in.gen & 1)
	subOwner := map[uint32]*subtableState{}
	// the other parity's directory is one apply behind: refresh it next time
	stale := func(dk DatapathOvnbpfDirKey) { in.staleOther[dk.Dp] = true }
	err := readTables(in.m, parity, stale, func(t installedTable) error {
		ts := &tableState{desc: t.idx, listSum: listDigest(&t.desc)}
		in.descIDs.markUsed(t.idx)
		for i, mask := range t.masks {
			ref := t.desc.Sub[i]
			st := &subtableState{id: ref.Id, maxPrio: ref.MaxPrio, mask: mask, entries: newEntries(mask, 0)}
			ts.subtables = append(ts.subtables, st)
			subOwner[st.id] = st
			in.subtableIDs.markUsed(st.id)
		}
		in.tables[t.id] = ts
		return nil
	})
	if err != nil {
		return err
	}

	var ops []DatapathOvnbpfOp
	readEntry := func(k ruleKey, rv DatapathOvnbpfRule) error {
		slot := rv.Prev
		if int32(in.gen-rv.Since) >= 0 {
			slot = rv.Cur
		}
		st := subOwner[k.sub]
		if st == nil || slot.Kind == 0 || k.narrow != (int(st.mask.N) <= narrowWords) || !st.fits(&k.w) {
			// no current table uses it (what a finished apply had
			// released), or no packet can reach it: a key in the other
			// width's map, or with words the mask does not read
			in.deferredRules = append(in.deferredRules, k)
			return nil
		}
		is := installedSlot{prio: slot.Prio, lflow: slot.Lflow}
		if slot.Kind&1 != 0 {
			is.action = true
			is.ops = opRange{slot.OpStart, uint32(slot.N_ops)}
			if p := in.progByStart[is.ops.start]; p != nil && p.r == is.ops {
				p.refs++ // shared: read once
			} else if is.ops.n > 0 {
				ops = ops[:0]
				for i := uint32(0); i < is.ops.n; i++ {
					var op DatapathOvnbpfOp
					if err := in.m.OvnbpfOps.Lookup(is.ops.start+i, &op); err != nil {
						return fmt.Errorf("reading op %d: %w", is.ops.start+i, err)
					}
					ops = append(ops, op)
				}
				sum := digestOps(ops)
				if p == nil {
					p = &opProg{r: is.ops, sum: sum, refs: 1}
					in.progByStart[is.ops.start] = p
					if in.progBySum[p.sum] == nil {
						in.progBySum[p.sum] = p
					}
				} else {
					in.oddSums[is.ops] = sum
				}
				in.ops.markUsed(is.ops)
			}
		}
		st.add(&k.w, is, slot.Conj[:min(int(slot.N_conj), len(slot.Conj))])
		return nil
	}
	var nk DatapathOvnbpfRuleKey
	var rv DatapathOvnbpfRule
	nit := in.m.OvnbpfRules.Iterate()
	for nit.Next(&nk, &rv) {
		k := ruleKey{sub: nk.Subtable, narrow: true}
		copy(k.w[:], nk.W[:])
		if err := readEntry(k, rv); err != nil {
			return err
		}
	}
	if err := nit.Err(); err != nil {
		return fmt.Errorf("reading classifier entries: %w", err)
	}
	var wk DatapathOvnbpfRuleKeyW
	wit := in.m.OvnbpfRulesW.Iterate()
	for wit.Next(&wk, &rv) {
		if err := readEntry(ruleKey{sub: wk.Subtable, w: wk.W}, rv); err != nil {
			return err
		}
	}
	if err := wit.Err(); err != nil {
		return fmt.Errorf("reading classifier entries: %w", err)
	}
	for _, st := range subOwner {
		st.seal()
	}
	in.subtableIDs.rebuildFree()
	in.descIDs.rebuildFree()
	in.ops.rebuildFree()
	return nil
}

// maskText renders a subtable's mask: "word:mask;" per key word read.
func maskText(m DatapathOvnbpfMask) string {
	var b strings.Builder
	for i := 0; i < int(m.N) && i < maskWords; i++ {
		fmt.Fprintf(&b, "%d:%x;", m.Idx[i], m.Mask[i])
	}
	return b.String()
}

func shapeOf(m DatapathOvnbpfMask) maskShape {
	s := maskShape{n: min(m.N, uint8(maskWords))}
	copy(s.idx[:s.n], m.Idx[:s.n])
	copy(s.mask[:s.n], m.Mask[:s.n])
	return s
}

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// Generation is the generation packets currently start under.
func (in *Installer) Generation() uint32 { return in.gen }

// LflowIndex is the counter index of an lflow (0: unknown).
func (in *Installer) LflowIndex(uuid string) uint32 { return in.lflows[uuid] }

// LflowName is the uuid of a counter index.
func (in *Installer) LflowName(idx uint32) string {
	if int(idx) < len(in.lflowNames) {
		return in.lflowNames[idx]
	}
	return ""
}

func (in *Installer) lflowIndex(uuid string) (uint32, error) {
	if idx, ok := in.lflows[uuid]; ok {
		return idx, nil
	}
	idx := uint32(len(in.lflowNames))
	if idx >= in.m.OvnbpfLflows.MaxEntries() {
		return 0, fmt.Errorf("more than %d lflows", in.m.OvnbpfLflows.MaxEntries()-1)
	}
	var name DatapathOvnbpfLflowName
	if len(uuid) >= len(name.Uuid) {
		return 0, fmt.Errorf("lflow name %q too long", uuid)
	}
	for i := 0; i < len(uuid); i++ {
		name.Uuid[i] = int8(uuid[i])
	}
	if err := in.m.OvnbpfLfnames.Update(idx, &name, ebpf.UpdateAny); err != nil {
		return 0, fmt.Errorf("recording lflow name: %w", err)
	}
	// a fresh index counts from zero
	per := make([]DatapathOvnbpfLflowStats, ebpf.MustPossibleCPU())
	if err := in.m.OvnbpfLflows.Update(idx, per, ebpf.UpdateAny); err != nil {
		return 0, fmt.Errorf("resetting lflow counters: %w", err)
	}
	in.lflows[uuid] = idx
	in.lflowNames = append(in.lflowNames, uuid)
	return idx, nil
}

// ApplyReport says what an Apply did.
type ApplyReport struct {
	Generation  uint32
	Written     int // classifier entries written
	Deleted     int // entries scheduled for deletion
	Skipped     int // tables handed with the rules they were installed from
	Patched     int // large tables whose changed entries alone were encoded
	OpsWritten  int
	Errors      []RuleError   // rules left out (the rest of their table is installed)
	Unsupported []Unsupported // ops that drop and count when reached
}

// Resync forgets what the installer remembers having written and reads the
// maps back, as NewInstaller does: the next Apply compares what it is
// handed with what the maps really hold, encoding every table.
func (in *Installer) Resync() error {
	fresh, err := NewInstaller(in.m)
	if err != nil {
		return err
	}
	*in = *fresh
	return nil
}

// Apply is ApplySources over rules already built.
func (in *Installer) Apply(changes map[TableID][]pipeline.Rule) (*ApplyReport, error) {
	srcs := make(map[TableID]RuleSource, len(changes))
	for id, rules := range changes {
		srcs[id] = Rules(rules)
	}
	return in.ApplySources(srcs)
}

// ApplySources replaces the contents of the given tables (a nil or empty
// source removes a table) and makes all of it visible in one generation. A
// table handed the very rules it was installed from is skipped: its digest
// is compared, not its encoding. Each table is read twice (digest, then
// encoding), one rule at a time; a large table whose entries remember their
// rules' digests reads again only the rules of the entries that changed
// (patchTable).
func (in *Installer) ApplySources(changes map[TableID]RuleSource) (rep *ApplyReport, err error) {
	if in.unsure {
		if err := in.Resync(); err != nil {
			return &ApplyReport{}, fmt.Errorf("reading the maps back after a failed apply: %w", err)
		}
	}
	defer func() {
		if err != nil {
			in.unsure = true
		}
	}()
	rep = &ApplyReport{}
	next := in.gen + 1
	parity := uint8(next & 1)

	// What the previous apply released is unused by now.
	if err := in.releaseDeferred(); err != nil {
		return rep, err
	}

	ids := make([]TableID, 0, len(changes))
	for id := range changes {
		ids = append(ids, id)
	}
	sortTableIDs(ids)

	acc := applyAcc{next: next}
	var matchBuf []pipeline.FieldMatch // each rule's match while it is encoded
	type descWrite struct {
		idx uint32
		val DatapathOvnbpfTable
	}
	var descs []descWrite
	var releasedDescs []uint32
	newTables := map[TableID]*tableState{} // nil: the table goes
	touched := map[uint32]bool{}           // datapaths whose directory changes

	for _, id := range ids {
		if int(id.Table) >= maxTables {
			rep.Errors = append(rep.Errors, RuleError{Table: id, Err: fmt.Errorf("table id beyond the datapath's %d", maxTables)})
			continue
		}
		ts := in.tables[id]
		var sum digest
		var summed, keyed bool
		if sourceLen(changes[id]) >= keyedMin {
			sum, summed, keyed, matchBuf = in.digester.digestKeyed(changes[id], matchBuf, &in.keyed)
		} else {
			sum, summed, matchBuf = in.digester.digest(changes[id], matchBuf)
		}
		if ts != nil && ts.summed && summed && ts.sum == sum {
			rep.Skipped++
			continue // installed from these very rules
		}
		var newSubs map[maskShape]*subtableState
		patched := false
		if keyed && summed && ts.keyedState() {
			var err error
			newSubs, summed, patched, matchBuf, err = in.patchTable(id, ts, changes[id], matchBuf, &in.keyed, &acc, rep)
			if err != nil {
				return rep, err
			}
			if patched {
				rep.Patched++
			}
		}
		if !patched {
			var desired map[maskShape]*desiredSubtable
			var errs []RuleError
			var unsup []Unsupported
			desired, errs, unsup, matchBuf = encodeTable(id, changes[id], matchBuf)
			rep.Errors = append(rep.Errors, errs...)
			rep.Unsupported = append(rep.Unsupported, unsup...)
			summed = summed && len(errs) == 0
			if ts == nil {
				ts = &tableState{}
			}
			if len(desired) > maxSubtables {
				rep.Errors = append(rep.Errors, RuleError{Table: id, Err: fmt.Errorf("%d distinct masks, the datapath holds %d per table; table left unchanged", len(desired), maxSubtables)})
				continue
			}
			newSubs = map[maskShape]*subtableState{}
			for shape, ds := range desired {
				old := ts.subtable(shape)
				ns := &subtableState{maxPrio: ds.maxPrio, mask: ds.mask, entries: newEntries(ds.mask, len(ds.slots))}
				if old != nil {
					ns.id = old.id
				} else {
					sid, err := in.subtableIDs.get()
					if err != nil {
						return rep, err
					}
					ns.id = sid
					mask := ds.mask
					if err := in.m.OvnbpfMasks.Update(sid, &mask, ebpf.UpdateAny); err != nil {
						return rep, fmt.Errorf("writing subtable mask: %w", err)
					}
				}
				for w, content := range ds.slots {
					pi := -1
					if old != nil {
						pi = old.find(&w)
					}
					if pi >= 0 && in.sameSlot(content, old, pi) && in.canonical(&old.slots[pi]) {
						ns.add(&w, old.slots[pi], old.conjOf(pi))
						continue
					}
					is, cur, err := in.slotValue(content, &acc.opIdx, &acc.opVals)
					if err != nil {
						summed = false
						rep.Errors = append(rep.Errors, RuleError{Lflow: content.lflow, Table: id, Err: err})
						if pi >= 0 {
							ns.add(&w, old.slots[pi], old.conjOf(pi)) // keep what is installed
						}
						continue
					}
					val := DatapathOvnbpfRule{Since: next, Cur: cur}
					if pi >= 0 {
						val.Prev = old.value(pi)
						acc.releasedOps = append(acc.releasedOps, old.slots[pi].ops)
					}
					acc.rules.add(newRuleKey(ns, w), val)
					ns.add(&w, is, content.conj)
				}
				ns.seal()
				newSubs[shape] = ns
			}
			// entries and subtables that are gone
			for _, old := range ts.subtables {
				ns := newSubs[shapeOf(old.mask)]
				for i := 0; i < old.len(); i++ {
					w := old.words(i)
					if ns != nil && ns.find(&w) >= 0 {
						continue
					}
					key := newRuleKey(old, w)
					acc.rules.add(key, DatapathOvnbpfRule{Since: next, Prev: old.value(i)})
					acc.released = append(acc.released, key)
					acc.releasedOps = append(acc.releasedOps, old.slots[i].ops)
				}
				if ns == nil {
					acc.releasedSubs = append(acc.releasedSubs, old.id)
				}
			}
			if keyed && summed {
				setSums(newSubs, &in.keyed) // the next change is patched
			}
		}
		list := tableDesc(newSubs)
		nt := &tableState{desc: ts.desc, listSum: listDigest(&list), sum: sum, summed: summed}
		for _, st := range newSubs {
			nt.subtables = append(nt.subtables, st)
		}
		if len(newSubs) == 0 {
			nt = nil
		}
		if nt != nil && (ts.desc == 0 || nt.listSum != ts.listSum) {
			// a new list goes to a fresh slot: the old one may be being read
			idx, err := in.descIDs.get()
			if err != nil {
				return rep, err
			}
			nt.desc = idx
			descs = append(descs, descWrite{idx, list})
		}
		if ts.desc != 0 && (nt == nil || nt.desc != ts.desc) {
			releasedDescs = append(releasedDescs, ts.desc)
		}
		if nt == nil && ts.desc == 0 {
			continue // nothing installed, nothing asked
		}
		newTables[id] = nt
		if nt == nil || nt.desc != ts.desc {
			touched[id.Datapath] = true
		}
	}
	// directories: the touched datapaths, and those the previous apply
	// touched (their directory at this parity is one version behind)
	dirs := map[uint32]bool{}
	for dp := range touched {
		dirs[dp] = true
	}
	for dp := range in.staleOther {
		dirs[dp] = true
	}
	view := func(id TableID) *tableState {
		if nt, ok := newTables[id]; ok {
			return nt
		}
		return in.tables[id]
	}
	type dirWrite struct {
		key  DatapathOvnbpfDirKey
		val  DatapathOvnbpfDir
		gone bool
	}
	var dirWrites []dirWrite
	for dp := range dirs {
		w := dirWrite{key: DatapathOvnbpfDirKey{Dp: dp, Parity: parity}, gone: true}
		for p := 0; p < 2; p++ {
			for t := 0; t < len(w.val.Table[p]); t++ {
				if ts := view(TableID{Datapath: dp, Pipeline: pipeline.Pipeline(p), Table: uint8(t)}); ts != nil {
					w.val.Table[p][t] = ts.desc
					w.gone = false
				}
			}
		}
		dirWrites = append(dirWrites, w)
	}
	if len(acc.opIdx) > 0 {
		if err := batchUpdate(in.m.OvnbpfOps, acc.opIdx, acc.opVals); err != nil {
			return rep, fmt.Errorf("writing op programs: %w", err)
		}
	}
	if err := in.writeRules(&acc.rules); err != nil {
		return rep, fmt.Errorf("writing classifier entries: %w", err)
	}
	for _, d := range descs {
		if err := in.m.OvnbpfTables.Update(d.idx, &d.val, ebpf.UpdateAny); err != nil {
			return rep, fmt.Errorf("writing subtable list %d: %w", d.idx, err)
		}
	}
	for _, d := range dirWrites {
		if d.gone {
			if err := in.m.OvnbpfDirs.Delete(&d.key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return rep, fmt.Errorf("removing directory of datapath %d: %w", d.key.Dp, err)
			}
			continue
		}
		if err := in.m.OvnbpfDirs.Update(&d.key, &d.val, ebpf.UpdateAny); err != nil {
			return rep, fmt.Errorf("writing directory of datapath %d: %w", d.key.Dp, err)
		}
	}
	for id, nt := range newTables {
		if nt == nil {
			delete(in.tables, id)
		} else {
			in.tables[id] = nt
		}
	}
	in.staleOther = touched
	// the flip: packets starting now see the new tables, whole
	if err := in.m.OvnbpfGen.Update(uint32(0), next, ebpf.UpdateAny); err != nil {
		return rep, fmt.Errorf("flipping generation: %w", err)
	}
	in.gen = next
	in.deferredRules = acc.released
	in.deferredOps = acc.releasedOps
	in.deferredSubtables = acc.releasedSubs
	in.deferredDescs = releasedDescs
	rep.Generation = next
	rep.Written = acc.rules.len()
	rep.Deleted = len(acc.released)
	rep.OpsWritten = len(acc.opIdx)
	return rep, nil
}

func (in *Installer) releaseDeferred() error {
	var live map[uint32]*subtableState
	if len(in.deferredRules) > 0 {
		live = in.subtablesByID()
	}
	for _, k := range in.deferredRules {
		if st := live[k.sub]; st != nil && st.find(&k.w) >= 0 {
			continue // written again since
		}
		if err := in.deleteRule(k); err != nil {
			return fmt.Errorf("deleting classifier entry: %w", err)
		}
	}
	for _, r := range in.deferredOps {
		in.releaseOps(r)
	}
	for _, id := range in.deferredSubtables {
		in.subtableIDs.put(id)
	}
	for _, id := range in.deferredDescs {
		in.descIDs.put(id)
	}
	in.deferredRules, in.deferredOps, in.deferredSubtables, in.deferredDescs = nil, nil, nil, nil
	return nil
}

// subtablesByID indexes the installed subtables by id.
func (in *Installer) subtablesByID() map[uint32]*subtableState {
	out := map[uint32]*subtableState{}
	for _, ts := range in.tables {
		for _, st := range ts.subtables {
			out[st.id] = st
		}
	}
	return out
}

// value is what the map holds for entry i.
func (st *subtableState) value(i int) DatapathOvnbpfRuleSlot {
	s := &st.slots[i]
	v := DatapathOvnbpfRuleSlot{Prio: s.prio, Lflow: s.lflow}
	if s.action {
		v.Kind |= 1
		v.OpStart = s.ops.start
		v.N_ops = uint16(s.ops.n)
	}
	if s.nconj > 0 {
		v.Kind |= 2
		v.N_conj = s.nconj
		copy(v.Conj[:], st.conjOf(i))
	}
	return v
}

// slotValue allocates the op program and lflow counter of content and
// returns the record and the map value of its entry.
func (in *Installer) slotValue(content *slotContent, idx *[]uint32, vals *[]DatapathOvnbpfOp) (installedSlot, DatapathOvnbpfRuleSlot, error) {
	lf, err := in.lflowIndex(content.lflow)
	if err != nil {
		return installedSlot{}, DatapathOvnbpfRuleSlot{}, err
	}
	s := installedSlot{lflow: lf, prio: content.prio, action: content.action}
	if content.action {
		if len(content.ops) > 0xffff {
			return installedSlot{}, DatapathOvnbpfRuleSlot{}, fmt.Errorf("action program of %d ops", len(content.ops))
		}
		if s.ops, err = in.acquireOps(content.opsSum, content.ops, idx, vals); err != nil {
			return installedSlot{}, DatapathOvnbpfRuleSlot{}, err
		}
	}
	v := DatapathOvnbpfRuleSlot{Prio: s.prio, Lflow: lf}
	if s.action {
		v.Kind |= 1
		v.OpStart = s.ops.start
		v.N_ops = uint16(s.ops.n)
	}
	if len(content.conj) > 0 {
		v.Kind |= 2
		v.N_conj = uint8(len(content.conj))
		copy(v.Conj[:], content.conj)
	}
	return s, v, nil
}

func tableDesc(subs map[maskShape]*subtableState) DatapathOvnbpfTable {
	list := make([]*subtableState, 0, len(subs))
	for _, s := range subs {
		list = append(list, s)
	}
	// highest priority first: the search stops once nothing later can win
	sort.Slice(list, func(i, j int) bool {
		if list[i].maxPrio != list[j].maxPrio {
			return list[i].maxPrio > list[j].maxPrio
		}
		return list[i].id < list[j].id
	})
	var d DatapathOvnbpfTable
	d.N = uint32(len(list))
	for i, s := range list {
		d.Sub[i].Id = s.id
		d.Sub[i].MaxPrio = s.maxPrio
		d.Sub[i].PreWord, d.Sub[i].PreMask, d.Sub[i].PreValue = s.precheck()
	}
	return d
}

// dpBits are the key bits of the datapath field: every packet reaching a
// table has the table's datapath, so they never refuse one.
var dpBits = func() uint64 {
	loc := fieldLocs[pipeline.FieldDP]
	var m uint64
	for b := loc.Offset; b < loc.Offset+loc.Size; b++ {
		m |= 0xff << (8 * (b % 8))
	}
	return m
}()

// precheck picks the key word in which the subtable's rules share the most
// bits (eth.type, ip.proto... the prerequisites), for the datapath to refuse
// packets without a hash lookup.
func (s *subtableState) precheck() (word uint8, mask, value uint64) {
	if s.len() == 0 {
		return 0, 0, 0
	}
	ref := s.words(0)
	var diff [maskWords]uint64
	for i := 1; i < s.len(); i++ {
		for j, x := range s.key(i) {
			diff[j] |= x ^ ref[j]
		}
	}
	best := -1
	for j := 0; j < int(s.mask.N) && j < maskWords; j++ {
		common := s.mask.Mask[j] &^ diff[j]
		if s.mask.Idx[j] == uint8(fieldLocs[pipeline.FieldDP].Offset/8) {
			common &^= dpBits
		}
		if common != 0 && (best < 0 || bits.OnesCount64(common) > bits.OnesCount64(mask)) {
			best, mask = j, common
		}
	}
	if best < 0 {
		return 0, 0, 0
	}
	return s.mask.Idx[best], mask, ref[best] & mask
}

func sortTableIDs(ids []TableID) {
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.Datapath != b.Datapath {
			return a.Datapath < b.Datapath
		}
		if a.Pipeline != b.Pipeline {
			return a.Pipeline < b.Pipeline
		}
		return a.Table < b.Table
	})
}

// batchUpdate writes keys/values in one syscall where the map supports it.
func batchUpdate[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	_, err := m.BatchUpdate(keys, vals, nil)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	for i := range keys {
		if err := m.Update(&keys[i], &vals[i], ebpf.UpdateAny); err != nil {
			return err
		}
	}
	return nil
}

type idAllocator struct {
	what, fix string // the ids and the remedy, for the error when they run out
	next, max uint32
	free      []uint32
	used      map[uint32]bool // while reconciling
}

func (a *idAllocator) markUsed(id uint32) {
	if a.used == nil {
		a.used = map[uint32]bool{}
	}
	a.used[id] = true
	if id >= a.next {
		a.next = id + 1
	}
}

// rebuildFree makes the ids below next that nobody uses free again.
func (a *idAllocator) rebuildFree() {
	if a.used == nil {
		return
	}
	for id := uint32(1); id < a.next; id++ {
		if !a.used[id] {
			a.free = append(a.free, id)
		}
	}
	a.used = nil
}

func (a *idAllocator) get() (uint32, error) {
	if n := len(a.free); n > 0 {
		id := a.free[n-1]
		a.free = a.free[:n-1]
		return id, nil
	}
	if a.next >= a.max {
		return 0, fmt.Errorf("out of %s (%d): %s", a.what, a.max, a.fix)
	}
	a.next++
	return a.next - 1, nil
}

func (a *idAllocator) put(id uint32) { a.free = append(a.free, id) }

// rangeAllocator hands out contiguous op ranges, first fit.
type rangeAllocator struct {
	next, max uint32
	free      []opRange
	used      []opRange // while reconciling
}

func (a *rangeAllocator) markUsed(r opRange) {
	if r.n == 0 {
		return
	}
	a.used = append(a.used, r)
	if r.start+r.n > a.next {
		a.next = r.start + r.n
	}
}

// rebuildFree makes the gaps between used ranges below next free again.
func (a *rangeAllocator) rebuildFree() {
	if a.used == nil {
		return
	}
	sort.Slice(a.used, func(i, j int) bool { return a.used[i].start < a.used[j].start })
	at := uint32(1)
	for _, r := range a.used {
		if r.start > at {
			a.free = append(a.free, opRange{at, r.start - at})
		}
		if r.start+r.n > at {
			at = r.start + r.n
		}
	}
	a.used = nil
}

func (a *rangeAllocator) alloc(n uint32) (uint32, error) {
	if n == 0 {
		return 0, nil
	}
	for i, r := range a.free {
		if r.n >= n {
			start := r.start
			if r.n == n {
				a.free = append(a.free[:i], a.free[i+1:]...)
			} else {
				a.free[i] = opRange{r.start + n, r.n - n}
			}
			return start, nil
		}
	}
	if a.next+n > a.max {
		return 0, fmt.Errorf("out of op slots (%d)", a.max)
	}
	a.next += n
	return a.next - n, nil
}

// release frees r, merged with the free ranges it touches: kept sorted
// and coalesced, so that freed neighbours serve a longer program (without
// merging, a full op array stays full of fragments).
func (a *rangeAllocator) release(r opRange) {
	if r.n == 0 {
		return
	}
	i := sort.Search(len(a.free), func(i int) bool { return a.free[i].start > r.start })
	if i > 0 && a.free[i-1].start+a.free[i-1].n == r.start {
		i--
		a.free[i].n += r.n
	} else {
		a.free = slices.Insert(a.free, i, r)
	}
	if i+1 < len(a.free) && a.free[i].start+a.free[i].n == a.free[i+1].start {
		a.free[i].n += a.free[i+1].n
		a.free = slices.Delete(a.free, i+1, i+2)
	}
}
