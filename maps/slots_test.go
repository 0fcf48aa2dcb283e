package maps

import "testing"

// Every key added is found at its own entry, with its slot and conjunction
// references; keys never added, and keys with words beyond the mask, are
// not found. Keys that differ in one word only collide often in a weak hash:
// the index must still tell them apart.
func TestEntriesIndex(t *testing.T) {
	mask := DatapathOvnbpfMask{N: 3}
	e := newEntries(mask, 0)
	const n = 5000
	key := func(i int) (w [maskWords]uint64) {
		w[0], w[1], w[2] = 7, uint64(i>>8), uint64(i&0xff)<<40
		return w
	}
	for i := 0; i < n; i += 2 {
		w := key(i)
		var conj []DatapathOvnbpfConjRef
		if i%10 == 0 {
			conj = []DatapathOvnbpfConjRef{{Id: uint32(i), Clause: 1, N_clauses: 2}}
		}
		e.add(&w, installedSlot{prio: uint16(i), lflow: uint32(i)}, conj)
	}
	e.seal()
	if e.len() != n/2 {
		t.Fatalf("%d entries, want %d", e.len(), n/2)
	}
	for i := 0; i < n; i++ {
		w := key(i)
		at := e.find(&w)
		if i%2 == 1 {
			if at >= 0 {
				t.Fatalf("key %d was never added but is entry %d", i, at)
			}
			continue
		}
		if at < 0 || e.slots[at].prio != uint16(i) || e.words(at) != w {
			t.Fatalf("key %d: entry %d", i, at)
		}
		if c := e.conjOf(at); (i%10 == 0) != (len(c) == 1) || len(c) == 1 && c[0].Id != uint32(i) {
			t.Fatalf("key %d: conjunctions %v", i, c)
		}
	}
	w := key(2)
	w[5] = 1
	if e.fits(&w) || e.find(&w) >= 0 {
		t.Fatal("a key with a word the mask does not read was found")
	}
	var empty entries
	if empty.find(&w) >= 0 {
		t.Fatal("found in no entries")
	}
}
