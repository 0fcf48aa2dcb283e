package maps

import (
	"encoding/binary"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

func fm(f pipeline.Field, v ...byte) pipeline.FieldMatch {
	m := make([]byte, len(v))
	for i := range m {
		m[i] = 0xff
	}
	return pipeline.FieldMatch{Field: f, Value: v, Mask: m}
}

// A match lands in the key words the datapath reads, at the fields' offsets.
func TestEncodeMatchPlacesFields(t *testing.T) {
	m, err := encodeMatch([]pipeline.FieldMatch{
		fm(pipeline.FieldDP, 0, 0, 0, 7),
		fm(pipeline.FieldEthType, 0x08, 0x00),
	})
	if err != nil {
		t.Fatal(err)
	}
	var key [keyWords * 8]byte
	key[3] = 7 // dp, big-endian at offset 0
	et := fieldLocs[pipeline.FieldEthType].Offset
	key[et], key[et+1] = 0x08, 0x00
	if len(m.idx) != 2 || m.idx[0] != 0 || int(m.idx[1]) != et/8 {
		t.Fatalf("words %v, want [0 %d]", m.idx, et/8)
	}
	for i, w := range m.idx {
		want := binary.LittleEndian.Uint64(key[int(w)*8:]) & m.mask[i]
		if m.value[i] != want {
			t.Errorf("word %d: value %x, want %x", w, m.value[i], want)
		}
	}
	if _, err := encodeMatch([]pipeline.FieldMatch{{Field: pipeline.FieldDP, Value: []byte{1}, Mask: []byte{1}}}); err == nil {
		t.Error("a value of the wrong width was accepted")
	}
}

func TestEncodeOps(t *testing.T) {
	ops, unsup, err := EncodeOps([]pipeline.Op{
		pipeline.Clone{Actions: []pipeline.Op{pipeline.Output{}}},
		pipeline.GetMAC{Kind: pipeline.MACKindND, Port: pipeline.FieldOutport, IP: pipeline.Bits{Field: pipeline.FieldReg0, NBits: 128}},
		pipeline.CTNext{Zone: pipeline.FieldCtZone, Table: 3},
		pipeline.Next{Pipeline: pipeline.Egress, Table: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	codes := []DatapathOvnbpfOpcode{DatapathOvnbpfOpcodeOVNBPF_OP_CLONE, DatapathOvnbpfOpcodeOVNBPF_OP_OUTPUT,
		DatapathOvnbpfOpcodeOVNBPF_OP_EXIT, DatapathOvnbpfOpcodeOVNBPF_OP_GET_MAC,
		DatapathOvnbpfOpcodeOVNBPF_OP_UNSUPPORTED, DatapathOvnbpfOpcodeOVNBPF_OP_NEXT}
	if len(ops) != len(codes) {
		t.Fatalf("%d ops, want %d", len(ops), len(codes))
	}
	for i, c := range codes {
		if DatapathOvnbpfOpcode(ops[i].Code) != c {
			t.Errorf("op %d: code %d, want %d", i, ops[i].Code, c)
		}
	}
	if ops[0].Arg != 2 { // output + exit: the continuation resumes after them
		t.Errorf("clone body length %d, want 2", ops[0].Arg)
	}
	// xxreg0 is reg0..reg3 as one 16-byte big-endian field
	if o := ops[3].O[1]; int(o.Off) != fieldLocs[pipeline.FieldReg0].Offset || o.Size != 16 || o.Nbits != 128 {
		t.Errorf("xxreg0 operand %+v", o)
	}
	if ops[5].Arg != 1<<8|4 {
		t.Errorf("next(egress, 4) encoded as %#x", ops[5].Arg)
	}
	if len(unsup) != 1 {
		t.Errorf("unsupported ops listed: %v, want the ct_next", unsup)
	}
}

// The precheck is bits every rule of the subtable agrees on (so it never
// refuses a packet one of them would match), never the datapath's bits.
func TestSubtablePrecheck(t *testing.T) {
	rule := func(tpa byte) pipeline.Rule {
		return pipeline.Rule{Lflow: "r", Datapath: 7, Priority: 10, Actions: []pipeline.Op{pipeline.Drop{}},
			Match: []pipeline.FieldMatch{fm(pipeline.FieldDP, 0, 0, 0, 7), fm(pipeline.FieldEthType, 0x08, 0x06), fm(pipeline.FieldArpTpa, 10, 0, 0, tpa)}}
	}
	subs, errs, _, _ := encodeTable(TableID{Datapath: 7}, Rules{rule(1), rule(2), rule(130)}, nil)
	if len(errs) > 0 || len(subs) != 1 {
		t.Fatalf("subtables %d, errors %v", len(subs), errs)
	}
	for _, ds := range subs {
		st := &subtableState{mask: ds.mask, entries: newEntries(ds.mask, len(ds.slots))}
		for w := range ds.slots {
			st.add(&w, installedSlot{}, nil)
		}
		st.seal()
		word, mask, value := st.precheck()
		if mask == 0 {
			t.Fatal("no precheck for rules that share eth.type and most of arp.tpa")
		}
		if word == 0 && mask&dpBits != 0 {
			t.Errorf("precheck on the datapath's bits: %x", mask)
		}
		for w := range ds.slots {
			for j := 0; j < int(ds.mask.N); j++ {
				if ds.mask.Idx[j] == word && w[j]&mask != value {
					t.Errorf("rule %x does not pass its own subtable's precheck (word %d mask %x value %x)", w, word, mask, value)
				}
			}
		}
	}
}
