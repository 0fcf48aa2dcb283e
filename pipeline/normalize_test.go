package pipeline

import "testing"

// TestShiftBits checks the byte-aligned fast path against the bit loop.
func TestShiftBits(t *testing.T) {
	slow := func(x [16]byte, from, n, to int) [16]byte {
		var out [16]byte
		for i := 0; i < n; i++ {
			b := from + i
			if x[15-b/8]>>(uint(b%8))&1 != 0 {
				d := to + i
				out[15-d/8] |= 1 << uint(d%8)
			}
		}
		return out
	}
	var x [16]byte
	for i := range x {
		x[i] = byte(0x5a + 37*i)
	}
	for _, c := range [][3]int{{0, 48, 0}, {0, 12, 0}, {32, 32, 0}, {0, 32, 96}, {8, 20, 16}, {3, 9, 5}, {96, 32, 0}, {0, 1, 0}, {0, 127, 0}} {
		if got, want := shiftBits(x, c[0], c[1], c[2]), slow(x, c[0], c[1], c[2]); got != want {
			t.Errorf("shiftBits(from %d, n %d, to %d) = %x, want %x", c[0], c[1], c[2], got, want)
		}
	}
}
