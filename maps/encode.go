package maps

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

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

// shape identifies the subtable (mask) of a match.
func (m maskedMatch) shape() string {
	var b strings.Builder
	for i := range m.idx {
		fmt.Fprintf(&b, "%d:%x;", m.idx[i], m.mask[i])
	}
	return b.String()
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
	var out []DatapathOvnbpfOp
	var unsupported []string
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
					unsupported = append(unsupported, op.String())
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
				unsupported = append(unsupported, op.String())
			}
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			out = append(out, o)
		}
		return nil
	}
	if e := encode(ops); e != nil {
		return nil, nil, e
	}
	return out, unsupported, nil
}

// slotContent is what one classifier entry holds in one version.
type slotContent struct {
	prio   uint16
	action bool
	ops    []DatapathOvnbpfOp
	lflow  string
	conj   []DatapathOvnbpfConjRef
}

func (c *slotContent) equal(o *slotContent) bool {
	if c.prio != o.prio || c.action != o.action || c.lflow != o.lflow || len(c.ops) != len(o.ops) || len(c.conj) != len(o.conj) {
		return false
	}
	for i := range c.ops {
		if c.ops[i] != o.ops[i] {
			return false
		}
	}
	for i := range c.conj {
		if c.conj[i] != o.conj[i] {
			return false
		}
	}
	return true
}

type desiredSubtable struct {
	mask    DatapathOvnbpfMask
	maxPrio uint16
	slots   map[[maskWords]uint64]*slotContent
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
func encodeTable(id TableID, rules []pipeline.Rule) (map[string]*desiredSubtable, []RuleError, []Unsupported) {
	subs := map[string]*desiredSubtable{}
	var errs []RuleError
	var unsup []Unsupported
	for _, r := range rules {
		m, err := encodeMatch(r.Match)
		if err != nil {
			errs = append(errs, RuleError{r.Lflow, id, err})
			continue
		}
		var content slotContent
		content.prio = r.Priority
		content.lflow = r.Lflow
		if len(r.Conj) == 0 {
			ops, uns, err := EncodeOps(r.Actions)
			if err != nil {
				errs = append(errs, RuleError{r.Lflow, id, err})
				continue
			}
			for _, u := range uns {
				unsup = append(unsup, Unsupported{Lflow: r.Lflow, Op: u})
			}
			content.action = true
			content.ops = ops
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
		if content.action {
			// same match twice: the higher priority wins, as in OVS
			if !cur.action || content.prio > cur.prio {
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
			if !cur.action && cur.lflow == "" {
				cur.lflow = r.Lflow
			}
		}
		if r.Priority > st.maxPrio {
			st.maxPrio = r.Priority
		}
	}
	for _, st := range subs {
		for _, s := range st.slots {
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
	}
	return subs, errs, unsup
}
