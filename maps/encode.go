package maps

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sort"
	"unsafe"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// Limits of the datapath's table layout (bpf/lib/types.h).
const (
	maskWords    = len(DatapathOvnbpfRuleKeyW{}.W)
	maxSubtables = len(DatapathOvnbpfTable{}.Sub)
	maxConj      = len(DatapathOvnbpfRuleSlot{}.Conj)
	maxTables    = len(DatapathOvnbpfDir{}.Table[0])
	narrowWords  = len(DatapathOvnbpfRuleKey{}.W)
)

// TableID names one logical table of one datapath.
type TableID struct {
	Datapath uint32
	Pipeline pipeline.Pipeline
	Table    uint8
}

func (t TableID) String() string {
	return fmt.Sprintf("dp=%d %s table=%d", t.Datapath, t.Pipeline, t.Table)
}

// maskedMatch is a rule's match in the classifier's terms: the key words it
// reads (ascending), their masks, and the masked values.
type maskedMatch struct {
	idx   []uint8
	mask  []uint64
	value []uint64
}

// maskShape identifies a subtable: the key words its mask reads and their
// masks (unused words zero). A comparable value, not text: it is computed
// for every rule of every table a pass hands the installer.
type maskShape struct {
	n    uint8
	idx  [maskWords]uint8
	mask [maskWords]uint64
}

// shape identifies the subtable (mask) of a match.
func (m maskedMatch) shape() maskShape {
	var s maskShape
	s.n = uint8(len(m.idx))
	copy(s.idx[:], m.idx)
	copy(s.mask[:], m.mask)
	return s
}

// encodeMatch lays a rule's field matches into key words.
func encodeMatch(match []pipeline.FieldMatch) (maskedMatch, error) {
	var val, msk [keyWords * 8]byte
	for _, fm := range match {
		loc, err := Loc(fm.Field)
		if err != nil {
			return maskedMatch{}, err
		}
		if len(fm.Value) != loc.Size || len(fm.Mask) != loc.Size {
			return maskedMatch{}, fmt.Errorf("match on %s: value/mask of %d/%d bytes, field has %d",
				fm.Field, len(fm.Value), len(fm.Mask), loc.Size)
		}
		for i := 0; i < loc.Size; i++ {
			msk[loc.Offset+i] |= fm.Mask[i]
			val[loc.Offset+i] |= fm.Value[i] & fm.Mask[i]
		}
	}
	var m maskedMatch
	for w := 0; w < keyWords; w++ {
		// the datapath reads the key as native (little-endian) u64 words
		mw := binary.LittleEndian.Uint64(msk[w*8:])
		if mw == 0 {
			continue
		}
		m.idx = append(m.idx, uint8(w))
		m.mask = append(m.mask, mw)
		m.value = append(m.value, binary.LittleEndian.Uint64(val[w*8:]))
	}
	if len(m.idx) > maskWords {
		return maskedMatch{}, fmt.Errorf("match reads %d key words, the classifier reads at most %d", len(m.idx), maskWords)
	}
	return m, nil
}

func (m maskedMatch) maskValue() DatapathOvnbpfMask {
	var v DatapathOvnbpfMask
	v.N = uint8(len(m.idx))
	copy(v.Idx[:], m.idx)
	copy(v.Mask[:], m.mask)
	return v
}

func (m maskedMatch) words() [maskWords]uint64 {
	var w [maskWords]uint64
	copy(w[:], m.value)
	return w
}

func operand(b pipeline.Bits) (DatapathOvnbpfOperand, error) {
	loc, err := Loc(b.Field)
	if err != nil {
		return DatapathOvnbpfOperand{}, err
	}
	// a register with 64 or 128 bits is the span xreg/xxreg starting at it
	// (contract.md): consecutive big-endian registers, so one wide field
	if b.Field >= pipeline.FieldReg0 && b.Field <= pipeline.FieldReg9 && b.Off == 0 && (b.NBits == 64 || b.NBits == 128) {
		if int(b.Field-pipeline.FieldReg0)+int(b.NBits)/32 > 10 {
			return DatapathOvnbpfOperand{}, fmt.Errorf("%s: register span beyond reg9", b)
		}
		return DatapathOvnbpfOperand{Off: uint16(loc.Offset), Size: uint8(b.NBits / 8), Nbits: b.NBits}, nil
	}
	if int(b.Off)+int(b.NBits) > b.Field.Bits() {
		return DatapathOvnbpfOperand{}, fmt.Errorf("%s: bits beyond the field", b)
	}
	return DatapathOvnbpfOperand{Off: uint16(loc.Offset), Size: uint8(loc.Size), Bit: b.Off, Nbits: b.NBits}, nil
}

func wholeField(f pipeline.Field) pipeline.Bits {
	return pipeline.Bits{Field: f, NBits: uint16(f.Bits())}
}

// Unsupported names an op the datapath does not execute yet: a packet that
// reaches it is dropped and counted against the lflow.
type Unsupported struct {
	Lflow string
	Op    string
}

// EncodeOps turns a program of typed ops into the datapath's op array.
// Ops the datapath cannot run become OP_UNSUPPORTED (and are listed).
func EncodeOps(ops []pipeline.Op) ([]DatapathOvnbpfOp, []string, error) {
	var unsupported []string
	out, err := appendOps(nil, ops, &unsupported)
	if err != nil {
		return nil, nil, err
	}
	return out, unsupported, nil
}

// appendOps encodes ops after out; the names of unsupported ops are added
// to *unsupported unless it is nil.
func appendOps(out []DatapathOvnbpfOp, ops []pipeline.Op, unsupported *[]string) ([]DatapathOvnbpfOp, error) {
	var err error
	var encode func(ops []pipeline.Op) error
	encode = func(ops []pipeline.Op) error {
		for _, op := range ops {
			var o DatapathOvnbpfOp
			set := func(i int, b pipeline.Bits) {
				if err != nil {
					return
				}
				o.O[i], err = operand(b)
			}
			switch op := op.(type) {
			case pipeline.SetField:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_SET)
				set(0, wholeField(op.Field))
				if len(op.Value) != op.Field.Bytes() || len(op.Mask) != op.Field.Bytes() {
					return fmt.Errorf("%s: value/mask length", op)
				}
				copy(o.Value[:], op.Value)
				copy(o.Mask[:], op.Mask)
			case pipeline.Move:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_MOVE)
				set(0, pipeline.Bits{Field: op.Dst, Off: op.DstOff, NBits: op.NBits})
				set(1, pipeline.Bits{Field: op.Src, Off: op.SrcOff, NBits: op.NBits})
			case pipeline.Swap:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_SWAP)
				set(0, pipeline.Bits{Field: op.A, Off: op.AOff, NBits: op.NBits})
				set(1, pipeline.Bits{Field: op.B, Off: op.BOff, NBits: op.NBits})
			case pipeline.Push:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_PUSH)
				set(0, op.Bits)
			case pipeline.Pop:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_POP)
				set(0, op.Bits)
			case pipeline.Next:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_NEXT)
				o.Arg = uint16(op.Pipeline)<<8 | uint16(op.Table)
			case pipeline.Output:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_OUTPUT)
			case pipeline.Drop:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_DROP)
			case pipeline.Clone:
				at := len(out)
				out = append(out, DatapathOvnbpfOp{Code: uint8(DatapathOvnbpfOpcodeOVNBPF_OP_CLONE)})
				if e := encode(op.Actions); e != nil {
					return e
				}
				out = append(out, DatapathOvnbpfOp{Code: uint8(DatapathOvnbpfOpcodeOVNBPF_OP_EXIT)})
				body := len(out) - at - 1
				if body > 0xffff {
					return fmt.Errorf("clone body of %d ops", body)
				}
				out[at].Arg = uint16(body)
				continue
			case pipeline.Controller:
				if op.Kind != pipeline.CtlNDNA && op.Kind != pipeline.CtlNDNARouter {
					o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_UNSUPPORTED)
					if unsupported != nil {
						*unsupported = append(*unsupported, op.String())
					}
					break
				}
				// nd_na / nd_na_router run in the datapath: the NS becomes the
				// NA in place, then the nested ops run on it (like a clone body).
				flags := uint8(DatapathOvnbpfNaFlagOVNBPF_NA_SOLICITED | DatapathOvnbpfNaFlagOVNBPF_NA_OVERRIDE)
				if op.Kind == pipeline.CtlNDNARouter {
					flags |= uint8(DatapathOvnbpfNaFlagOVNBPF_NA_ROUTER)
				}
				at := len(out)
				out = append(out, DatapathOvnbpfOp{Code: uint8(DatapathOvnbpfOpcodeOVNBPF_OP_ND_NA), Flags: flags})
				if e := encode(op.Nested); e != nil {
					return e
				}
				out = append(out, DatapathOvnbpfOp{Code: uint8(DatapathOvnbpfOpcodeOVNBPF_OP_EXIT)})
				body := len(out) - at - 1
				if body > 0xffff {
					return fmt.Errorf("nd_na body of %d ops", body)
				}
				out[at].Arg = uint16(body)
				continue
			case pipeline.DecTTL:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_DEC_TTL)
			case pipeline.CheckPortSec:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_PORT_SEC)
				o.Flags = uint8(op.Dir)
				set(0, op.Dst)
			case pipeline.GetMAC:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_GET_MAC)
				o.Flags = uint8(op.Kind)
				set(0, wholeField(op.Port))
				set(1, op.IP)
			case pipeline.LookupMAC:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_LOOKUP_MAC)
				o.Flags = uint8(op.Kind)
				set(0, wholeField(op.Port))
				set(1, op.IP)
				if op.MAC.NBits == 0 {
					o.Flags |= 2
				} else {
					set(2, op.MAC)
				}
				set(3, op.Dst)
			case pipeline.PutMAC:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_PUT_MAC)
				o.Flags = uint8(op.Kind)
				set(0, wholeField(op.Port))
				set(1, op.IP)
				set(2, op.MAC)
			case pipeline.GetFDB:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_GET_FDB)
				set(0, op.MAC)
				set(1, op.Dst)
			case pipeline.LookupFDB:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_LOOKUP_FDB)
				set(0, wholeField(op.Port))
				set(1, op.MAC)
				set(2, op.Dst)
			case pipeline.PutFDB:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_PUT_FDB)
				set(0, wholeField(op.Port))
				set(1, op.MAC)
			case pipeline.Helper:
				// No load balancer, ECMP or affinity state exists in the
				// datapath yet, so every such lookup answers "no", which is
				// what OVS answers when none is configured.
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_SET_ZERO)
				set(0, op.Dst)
			case pipeline.CheckPktLarger:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_PKT_LARGER)
				o.Arg = op.Len
				set(0, op.Dst)
			case pipeline.CTClear:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_CT_CLEAR)
			case pipeline.Log, pipeline.SetQueue, pipeline.SetMeter:
				// observability and QoS hints: forwarding is unchanged
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_NOP)
			default:
				o.Code = uint8(DatapathOvnbpfOpcodeOVNBPF_OP_UNSUPPORTED)
				if unsupported != nil {
					*unsupported = append(*unsupported, op.String())
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			out = append(out, o)
		}
		return nil
	}
	if e := encode(ops); e != nil {
		return nil, e
	}
	return out, nil
}

// slotContent is what one classifier entry holds in one version. The op
// program itself (72 bytes an op) is kept only while it is to be written:
// what is installed is remembered by its digest, which is what comparisons
// use.
type slotContent struct {
	prio   uint16
	action bool
	ops    []DatapathOvnbpfOp // nil once installed
	opsSum digest             // of ops
	lflow  string
	conj   []DatapathOvnbpfConjRef
}

// digest is a 128-bit hash (two independently seeded 64-bit ones): what is
// remembered of installed contents in place of the contents. Seeds are per
// process; digests of what the maps hold are recomputed when they are read
// back.
type digest [2]uint64

var digestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func digestBytes(b []byte) digest {
	return digest{maphash.Bytes(digestSeeds[0], b), maphash.Bytes(digestSeeds[1], b)}
}

// opBytes is an op program's memory (the generated struct has explicit
// padding fields, so every byte is a field's).
func opBytes(ops []DatapathOvnbpfOp) []byte {
	if len(ops) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&ops[0])), len(ops)*int(unsafe.Sizeof(ops[0])))
}

func digestOps(ops []DatapathOvnbpfOp) digest {
	if len(ops) == 0 {
		return digest{}
	}
	return digestBytes(opBytes(ops))
}

// ruleDigester digests the rules handed for a table: equal digests mean
// equal encodings (encodeTable is a function of the rules alone), so a table
// whose digest is that of the rules it was installed from is skipped
// without encoding it. The digest is a sum of the rules' own, so it does not
// depend on the order the compiler lists them in (which can differ between
// two compilations of the same flows). Its buffers are reused.
type ruleDigester struct {
	buf []byte
	ops []DatapathOvnbpfOp
}

// sourceLen is the number of rules of s, 0 for nil (a table removed).
func sourceLen(s RuleSource) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// digest returns the rules' digest; ok is false when an op program cannot
// be encoded (the table is then encoded, and its errors reported, as usual).
// Rules are read into match's storage, returned for reuse (not kept here:
// it points into the compiler's memory).
func (d *ruleDigester) digest(rules RuleSource, match []pipeline.FieldMatch) (sum digest, ok bool, _ []pipeline.FieldMatch) {
	sum, ok, _, match = d.digestKeyed(rules, match, nil)
	return sum, ok, match
}

// rule returns one rule's digest and lays its match out in msk and val
// (the key bytes, as encodeMatch does); false: it cannot be encoded.
func (d *ruleDigester) rule(r *pipeline.Rule, msk, val *[keyWords * 8]byte) (digest, bool) {
	var err error
	b := d.buf[:0]
	defer func() { d.buf = b }()
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Lflow)))
	b = append(b, r.Lflow...)
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Priority)<<16|uint32(len(r.Match))<<8|uint32(len(r.Conj)))
	// the match as the classifier sees it (key bytes and mask), not as
	// listed: field order and bits outside the mask do not count
	for _, fm := range r.Match {
		loc, err := Loc(fm.Field)
		if err != nil || len(fm.Value) != loc.Size || len(fm.Mask) != loc.Size {
			return digest{}, false
		}
		for i := 0; i < loc.Size; i++ {
			msk[loc.Offset+i] |= fm.Mask[i]
			val[loc.Offset+i] |= fm.Value[i] & fm.Mask[i]
		}
	}
	// the key words the mask reads: the same information as both arrays,
	// a fifth of the bytes to hash
	for w := 0; w < keyWords; w++ {
		if mw := binary.LittleEndian.Uint64(msk[w*8:]); mw != 0 {
			b = append(b, byte(w))
			b = binary.LittleEndian.AppendUint64(b, mw)
			b = append(b, val[w*8:w*8+8]...)
		}
	}
	for _, c := range r.Conj {
		b = binary.LittleEndian.AppendUint32(b, c.ID)
		b = append(b, c.Clause, c.NClauses)
	}
	if len(r.Conj) == 0 {
		if d.ops, err = appendOps(d.ops[:0], r.Actions, nil); err != nil {
			return digest{}, false
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(d.ops)))
		b = append(b, opBytes(d.ops)...)
	}
	return digestBytes(b), true
}

type desiredSubtable struct {
	mask    DatapathOvnbpfMask
	maxPrio uint16
	slots   map[[maskWords]uint64]*slotContent
}

// RuleSource is a table's rules, read one at a time in the compiler's order:
// pipeline.TableView reads them without materialising the table. Rule may
// decode the match into buf's storage and returns that storage for the next
// call, so a rule's Match is valid only until then.
type RuleSource interface {
	Len() int
	Rule(i int, buf []pipeline.FieldMatch) (pipeline.Rule, []pipeline.FieldMatch)
}

// Rules is a RuleSource over rules already built.
type Rules []pipeline.Rule

// Len returns the number of rules.
func (rs Rules) Len() int { return len(rs) }

// Rule returns rule i; buf is returned unused.
func (rs Rules) Rule(i int, buf []pipeline.FieldMatch) (pipeline.Rule, []pipeline.FieldMatch) {
	return rs[i], buf
}

// RuleError is a rule the datapath cannot hold, with why.
type RuleError struct {
	Lflow string
	Table TableID
	Err   error
}

func (e RuleError) Error() string { return fmt.Sprintf("lflow %s (%s): %v", e.Lflow, e.Table, e.Err) }

// encodeTable groups a table's rules into subtables and entries. Rules it
// cannot encode are returned as errors; the others are kept.
// A rule's match is read into buf (returned for reuse), so nothing here
// keeps it: encodeMatch copies it into key words.
func encodeTable(id TableID, rules RuleSource, buf []pipeline.FieldMatch) (map[maskShape]*desiredSubtable, []RuleError, []Unsupported, []pipeline.FieldMatch) {
	subs := map[maskShape]*desiredSubtable{}
	var errs []RuleError
	var unsup []Unsupported
	for i := range sourceLen(rules) {
		var r pipeline.Rule
		r, buf = rules.Rule(i, buf)
		m, err := encodeMatch(r.Match)
		if err != nil {
			errs = append(errs, RuleError{r.Lflow, id, err})
			continue
		}
		content, uns, err := ruleContent(&r)
		if err != nil {
			errs = append(errs, RuleError{r.Lflow, id, err})
			continue
		}
		for _, u := range uns {
			unsup = append(unsup, Unsupported{Lflow: r.Lflow, Op: u})
		}
		shape := m.shape()
		st := subs[shape]
		if st == nil {
			st = &desiredSubtable{mask: m.maskValue(), slots: map[[maskWords]uint64]*slotContent{}}
			subs[shape] = st
		}
		w := m.words()
		cur := st.slots[w]
		if cur == nil {
			cur = &slotContent{}
			st.slots[w] = cur
		}
		errs = mergeRule(cur, &content, &r, id, errs)
		if r.Priority > st.maxPrio {
			st.maxPrio = r.Priority
		}
	}
	for _, st := range subs {
		for _, s := range st.slots {
			finishSlot(s)
		}
	}
	return subs, errs, unsup, buf
}

// ruleContent is what one rule puts in its entry: its op program unless
// it is a conjunction member (uns: the unsupported ops it holds).
func ruleContent(r *pipeline.Rule) (content slotContent, uns []string, err error) {
	content.prio = r.Priority
	content.lflow = r.Lflow
	if len(r.Conj) == 0 {
		ops, uns, err := EncodeOps(r.Actions)
		if err != nil {
			return slotContent{}, nil, err
		}
		content.action = true
		content.ops = ops
		return content, uns, nil
	}
	return content, nil, nil
}

// mergeRule merges one rule (its content from ruleContent) into the entry
// of its match.
func mergeRule(cur, content *slotContent, r *pipeline.Rule, id TableID, errs []RuleError) []RuleError {
	if content.action {
		// same match twice: the higher priority wins, as in OVS (at
		// one priority the lower lflow uuid, whatever the rules' order)
		if !cur.action || content.prio > cur.prio || content.prio == cur.prio && content.lflow < cur.lflow {
			cur.action, cur.prio, cur.ops, cur.lflow = true, content.prio, content.ops, content.lflow
		}
	}
	for _, c := range r.Conj {
		if c.Clause == 0 || c.Clause > c.NClauses || c.NClauses > 32 {
			errs = append(errs, RuleError{r.Lflow, id, fmt.Errorf("conjunction %d clause %d/%d", c.ID, c.Clause, c.NClauses)})
			continue
		}
		if len(cur.conj) >= maxConj {
			errs = append(errs, RuleError{r.Lflow, id, fmt.Errorf("more than %d conjunctions share one match", maxConj)})
			continue
		}
		cur.conj = append(cur.conj, DatapathOvnbpfConjRef{Id: c.ID, Prio: r.Priority, Clause: c.Clause - 1, N_clauses: c.NClauses})
		if !cur.action && (cur.lflow == "" || r.Lflow < cur.lflow) {
			cur.lflow = r.Lflow // counted against the lowest uuid: independent of the rules' order
		}
	}
	return errs
}

// finishSlot digests an entry's program and orders its conjunctions once
// every rule of its match is merged.
func finishSlot(s *slotContent) {
	s.opsSum = digestOps(s.ops)
	sort.Slice(s.conj, func(i, j int) bool {
		a, b := s.conj[i], s.conj[j]
		if a.Id != b.Id {
			return a.Id < b.Id
		}
		if a.Prio != b.Prio {
			return a.Prio < b.Prio
		}
		return a.Clause < b.Clause
	})
}
