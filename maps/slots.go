package maps

import (
	"math/bits"
	"slices"
)

// installedSlot is the installer's record of one classifier entry, 20 bytes:
// the op program by its range (its digest is the program's, see
// Installer.opsSum), the lflow by its counter index, and the conjunction
// references by their place in the subtable's conj arena. At the reference
// scale the installer remembers 120,000 entries: a map of pointers to full
// copies cost about 300 bytes an entry, this about 50 with the key.
type installedSlot struct {
	ops    opRange
	lflow  uint32 // counter index: Installer.LflowName
	conjAt uint32 // first of nconj references in subtableState.conj
	prio   uint16
	action bool
	nconj  uint8
}

// entries are a subtable's installed entries: keys in one arena (the words
// the mask reads; the key's other words are zero), slots beside them, and an
// open-addressed index over the keys. They are built once (add, then seal)
// and only read after: an Apply that changes a table builds its subtables
// anew, sharing nothing with the old ones.
type entries struct {
	n     int // key words an entry stores
	keys  []uint64
	slots []installedSlot
	conj  []DatapathOvnbpfConjRef
	index []int32 // entry+1 per bucket, 0: empty; len a power of two
}

func newEntries(mask DatapathOvnbpfMask, capacity int) entries {
	n := min(int(mask.N), maskWords)
	return entries{n: n, keys: make([]uint64, 0, capacity*n), slots: make([]installedSlot, 0, capacity)}
}

// fits reports whether w is a key these entries can hold: zero beyond the
// words the mask reads (the datapath never builds another).
func (e *entries) fits(w *[maskWords]uint64) bool {
	for _, x := range w[e.n:] {
		if x != 0 {
			return false
		}
	}
	return true
}

// add appends an entry (before seal; w must fit and not be there yet).
func (e *entries) add(w *[maskWords]uint64, s installedSlot, conj []DatapathOvnbpfConjRef) {
	e.keys = append(e.keys, w[:e.n]...)
	s.conjAt, s.nconj = uint32(len(e.conj)), uint8(len(conj))
	e.conj = append(e.conj, conj...)
	e.slots = append(e.slots, s)
}

func (e *entries) hash(w []uint64) uint64 {
	h := uint64(len(w))
	for _, x := range w {
		hi, lo := bits.Mul64(h^x, 0x9e3779b97f4a7c15)
		h = hi ^ lo
	}
	return h
}

// seal builds the index (half full at most) and trims the arenas.
func (e *entries) seal() {
	e.keys = e.keys[:len(e.keys):len(e.keys)]
	e.slots = e.slots[:len(e.slots):len(e.slots)]
	e.conj = e.conj[:len(e.conj):len(e.conj)]
	if len(e.slots) == 0 {
		e.index = nil
		return
	}
	size := 2 << bits.Len(uint(len(e.slots)))
	e.index = make([]int32, size)
	mask := uint64(size - 1)
	for i := range e.slots {
		b := e.hash(e.key(i)) & mask
		for e.index[b] != 0 {
			b = (b + 1) & mask
		}
		e.index[b] = int32(i + 1)
	}
}

func (e *entries) key(i int) []uint64 { return e.keys[i*e.n : (i+1)*e.n] }

// find returns the entry of key w, or -1.
func (e *entries) find(w *[maskWords]uint64) int {
	if len(e.index) == 0 || !e.fits(w) {
		return -1
	}
	k := w[:e.n]
	mask := uint64(len(e.index) - 1)
	for b := e.hash(k) & mask; ; b = (b + 1) & mask {
		i := int(e.index[b]) - 1
		if i < 0 {
			return -1
		}
		if slices.Equal(e.key(i), k) {
			return i
		}
	}
}

// words returns entry i's full key.
func (e *entries) words(i int) (w [maskWords]uint64) {
	copy(w[:], e.key(i))
	return w
}

func (e *entries) conjOf(i int) []DatapathOvnbpfConjRef {
	s := &e.slots[i]
	return e.conj[s.conjAt : s.conjAt+uint32(s.nconj)]
}

func (e *entries) len() int { return len(e.slots) }
