package maps

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// keyedMin is the size from which a table is patched entry by entry: its
// installed entries remember the digest of the rules they were made from,
// so a change re-encodes only the entries whose rules changed. At the
// reference scale one port added touches a router table of 10,000 rules
// (ARP resolution): encoding all of them again for one cost ~40 ms.
const keyedMin = 256

// ruleRec is what the digest pass keeps of one rule of a large table.
type ruleRec struct {
	rd    digest
	w     [maskWords]uint64
	shape uint16 // in keyedScratch.shapes
	prio  uint16
	at    int32 // its entry in the installed subtable of that shape, -1: none
}

// keyedScratch is reused from table to table (its size is the largest
// table's, a few hundred kB at the reference scale).
type keyedScratch struct {
	recs   []ruleRec
	shapes []maskShape
}

// digestKeyed is ruleDigester.digest keeping each rule's digest, key and
// subtable in ks (nil: the digest alone); keyed is false when a rule's key
// does not fit a subtable or there are more shapes than a table holds (the
// table is then encoded whole, which reports it).
func (d *ruleDigester) digestKeyed(rules RuleSource, match []pipeline.FieldMatch, ks *keyedScratch) (sum digest, ok, keyed bool, _ []pipeline.FieldMatch) {
	n := sourceLen(rules)
	if ks != nil {
		ks.recs, ks.shapes = ks.recs[:0], ks.shapes[:0]
	}
	keyed = ks != nil
	for i := range n {
		var r pipeline.Rule
		r, match = rules.Rule(i, match)
		var msk, val [keyWords * 8]byte
		rd, ok := d.rule(&r, &msk, &val)
		if !ok {
			return digest{}, false, false, match
		}
		sum[0] += rd[0]
		sum[1] += rd[1]
		if !keyed {
			continue
		}
		rec := ruleRec{rd: rd, prio: r.Priority, at: -1}
		var sh maskShape
		j := 0
		for w := 0; w < keyWords && keyed; w++ {
			mw := binary.LittleEndian.Uint64(msk[w*8:])
			if mw == 0 {
				continue
			}
			if j == maskWords {
				keyed = false
				break
			}
			sh.idx[j], sh.mask[j], rec.w[j] = uint8(w), mw, binary.LittleEndian.Uint64(val[w*8:])
			j++
		}
		sh.n = uint8(j)
		si := -1
		for k := len(ks.shapes) - 1; k >= 0; k-- {
			if ks.shapes[k] == sh {
				si = k
				break
			}
		}
		if si < 0 {
			si = len(ks.shapes)
			ks.shapes = append(ks.shapes, sh)
			if len(ks.shapes) > maxSubtables {
				keyed = false
			}
		}
		rec.shape = uint16(si)
		ks.recs = append(ks.recs, rec)
	}
	sum[1] ^= uint64(n)
	if !keyed && ks != nil {
		ks.recs, ks.shapes = ks.recs[:0], ks.shapes[:0]
	}
	return sum, true, keyed, match
}

// maskValue is the subtable mask of a shape.
func (s maskShape) maskValue() DatapathOvnbpfMask {
	v := DatapathOvnbpfMask{N: s.n}
	copy(v.Idx[:], s.idx[:s.n])
	copy(v.Mask[:], s.mask[:s.n])
	return v
}

// setSums records, after a table was encoded whole without errors, the
// digest of each entry's rules (ks: the digest pass of those rules).
func setSums(subs map[maskShape]*subtableState, ks *keyedScratch) {
	byShape := make([]*subtableState, len(ks.shapes))
	for i, sh := range ks.shapes {
		byShape[i] = subs[sh]
	}
	for _, st := range subs {
		st.sums = make([]digest, st.len())
	}
	for i := range ks.recs {
		rec := &ks.recs[i]
		if st := byShape[rec.shape]; st != nil {
			if at := st.find(&rec.w); at >= 0 {
				st.sums[at][0] += rec.rd[0]
				st.sums[at][1] += rec.rd[1]
			}
		}
	}
}

// keyedState reports whether every installed subtable of ts remembers its
// entries' rule digests.
func (ts *tableState) keyedState() bool {
	if ts == nil || len(ts.subtables) == 0 {
		return false
	}
	for _, st := range ts.subtables {
		if st.sums == nil {
			return false
		}
	}
	return true
}

// applyAcc collects what an Apply writes and releases, table after table.
type applyAcc struct {
	next         uint32
	rules        ruleBatch
	opIdx        []uint32
	opVals       []DatapathOvnbpfOp
	released     []ruleKey
	releasedOps  []opRange
	releasedSubs []uint32
}

type groupKey struct {
	shape uint16
	w     [maskWords]uint64
}

type group struct {
	content slotContent
	sum     digest
}

// patchTable applies a large table's rules (read by digestKeyed into ks)
// over its installed state ts, whose entries remember their rules' digests:
// an entry whose rules have the same digests is kept without encoding them,
// the others are encoded from their rules alone, and entries no rule makes
// are deleted. ok false: nothing was done (a rule cannot be encoded: the
// caller encodes the table whole, which reports it).
func (in *Installer) patchTable(id TableID, ts *tableState, rules RuleSource, buf []pipeline.FieldMatch, ks *keyedScratch, acc *applyAcc, rep *ApplyReport) (subs map[maskShape]*subtableState, summed, ok bool, _ []pipeline.FieldMatch, err error) {
	// the installed subtable of each shape, and what its entries are made
	// of now
	oldOf := make([]int, len(ks.shapes))
	for i, sh := range ks.shapes {
		oldOf[i] = -1
		for j, st := range ts.subtables {
			if shapeOf(st.mask) == sh {
				oldOf[i] = j
				break
			}
		}
	}
	now := make([][]digest, len(ts.subtables))
	for j, st := range ts.subtables {
		now[j] = make([]digest, st.len())
	}
	maxPrio := make([]uint16, len(ks.shapes))
	for i := range ks.recs {
		rec := &ks.recs[i]
		maxPrio[rec.shape] = max(maxPrio[rec.shape], rec.prio)
		if j := oldOf[rec.shape]; j >= 0 {
			if rec.at = int32(ts.subtables[j].find(&rec.w)); rec.at >= 0 {
				s := &now[j][rec.at]
				s[0] += rec.rd[0]
				s[1] += rec.rd[1]
			}
		}
	}
	// the entries to encode: new keys, and installed ones whose rules
	// changed (their rules are read again, the others not)
	groups := map[groupKey]*group{}
	var order []groupKey // new keys, as first met
	var errs []RuleError
	var unsup []Unsupported
	for i := range ks.recs {
		rec := &ks.recs[i]
		if rec.at >= 0 {
			j := oldOf[rec.shape]
			if now[j][rec.at] == ts.subtables[j].sums[rec.at] {
				continue
			}
		}
		k := groupKey{rec.shape, rec.w}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			if rec.at < 0 {
				order = append(order, k)
			}
		}
		g.sum[0] += rec.rd[0]
		g.sum[1] += rec.rd[1]
		var r pipeline.Rule
		r, buf = rules.Rule(i, buf)
		content, uns, err := ruleContent(&r)
		if err != nil {
			return nil, false, false, buf, nil
		}
		for _, u := range uns {
			unsup = append(unsup, Unsupported{Lflow: r.Lflow, Op: u})
		}
		if errs = mergeRule(&g.content, &content, &r, id, errs); len(errs) > 0 {
			return nil, false, false, buf, nil
		}
	}
	for _, g := range groups {
		finishSlot(&g.content)
	}
	rep.Unsupported = append(rep.Unsupported, unsup...)

	summed = true
	subs = map[maskShape]*subtableState{}
	used := make([]bool, len(ts.subtables))
	// write encodes content as entry w of ns, replacing entry pi of old
	// (-1: none)
	write := func(ns, old *subtableState, w *[maskWords]uint64, pi int, g *group) {
		if pi >= 0 && in.sameSlot(&g.content, old, pi) && in.canonical(&old.slots[pi]) {
			ns.add(w, old.slots[pi], old.conjOf(pi))
			ns.sums = append(ns.sums, g.sum)
			return
		}
		is, cur, err := in.slotValue(&g.content, &acc.opIdx, &acc.opVals)
		if err != nil {
			summed = false
			rep.Errors = append(rep.Errors, RuleError{Lflow: g.content.lflow, Table: id, Err: err})
			if pi >= 0 { // keep what is installed, and what it was made of
				ns.add(w, old.slots[pi], old.conjOf(pi))
				ns.sums = append(ns.sums, old.sums[pi])
			}
			return
		}
		val := DatapathOvnbpfRule{Since: acc.next, Cur: cur}
		if pi >= 0 {
			val.Prev = old.value(pi)
			acc.releasedOps = append(acc.releasedOps, old.slots[pi].ops)
		}
		acc.rules.add(newRuleKey(ns, *w), val)
		ns.add(w, is, g.content.conj)
		ns.sums = append(ns.sums, g.sum)
	}
	remove := func(old *subtableState, i int) {
		key := newRuleKey(old, old.words(i))
		acc.rules.add(key, DatapathOvnbpfRule{Since: acc.next, Prev: old.value(i)})
		acc.released = append(acc.released, key)
		acc.releasedOps = append(acc.releasedOps, old.slots[i].ops)
	}
	for si, sh := range ks.shapes {
		var old *subtableState
		n := 0
		if j := oldOf[si]; j >= 0 {
			old, used[j] = ts.subtables[j], true
			n = old.len()
		}
		mask := sh.maskValue()
		ns := &subtableState{maxPrio: maxPrio[si], mask: mask, entries: newEntries(mask, n)}
		ns.sums = make([]digest, 0, n)
		if old != nil {
			ns.id = old.id
			for i := 0; i < old.len(); i++ {
				cur, was := now[oldOf[si]][i], old.sums[i]
				switch {
				case cur == (digest{}):
					remove(old, i)
				case cur == was:
					w := old.words(i)
					ns.add(&w, old.slots[i], old.conjOf(i))
					ns.sums = append(ns.sums, was)
				default:
					w := old.words(i)
					write(ns, old, &w, i, groups[groupKey{uint16(si), w}])
				}
			}
		} else {
			sid, err := in.subtableIDs.get()
			if err != nil {
				return nil, false, true, buf, err
			}
			ns.id = sid
			if err := in.m.OvnbpfMasks.Update(sid, &mask, ebpf.UpdateAny); err != nil {
				return nil, false, true, buf, fmt.Errorf("writing subtable mask: %w", err)
			}
		}
		for _, k := range order {
			if int(k.shape) == si {
				write(ns, nil, &k.w, -1, groups[k])
			}
		}
		ns.seal()
		subs[sh] = ns
	}
	for j, old := range ts.subtables {
		if used[j] {
			continue
		}
		for i := 0; i < old.len(); i++ {
			remove(old, i)
		}
		acc.releasedSubs = append(acc.releasedSubs, old.id)
	}
	return subs, summed, true, buf, nil
}
