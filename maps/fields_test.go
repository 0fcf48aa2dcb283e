package maps

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// The field table must say what the compiled object's BTF says: names
// (contract name == C member), offsets and sizes, and the contract's widths.
func TestFieldTableMatchesBTF(t *testing.T) {
	spec, err := LoadDatapath()
	if err != nil {
		t.Fatal(err)
	}
	var key *btf.Struct
	if err := spec.Types.TypeByName("ovnbpf_key", &key); err != nil {
		t.Fatal(err)
	}
	members := map[string]btf.Member{}
	for _, m := range key.Members {
		members[m.Name] = m
	}
	if int(key.Size) != KeyBytes {
		t.Fatalf("BTF key size %d, generated %d", key.Size, KeyBytes)
	}
	for f := pipeline.Field(0); f < pipeline.NumFields; f++ {
		loc := fieldLocs[f]
		if loc.Name != f.String() {
			t.Errorf("field %d: table name %q, contract name %q", f, loc.Name, f.String())
		}
		m, ok := members[loc.Name]
		if !ok {
			t.Errorf("%s: no such member in BTF struct ovnbpf_key", loc.Name)
			continue
		}
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			t.Fatal(err)
		}
		if int(m.Offset.Bytes()) != loc.Offset || size != loc.Size {
			t.Errorf("%s: table offset %d size %d, BTF offset %d size %d", loc.Name, loc.Offset, loc.Size, m.Offset.Bytes(), size)
		}
		if loc.Size != f.Bytes() {
			t.Errorf("%s: stored in %d bytes, contract width %d bits", loc.Name, loc.Size, f.Bits())
		}
	}
}
