package pipeline

import (
	"strconv"
	"strings"
	"testing"
)

func lexAll(s string) string {
	l := newLexer(s)
	var out []string
	for l.tok.kind != tEOF {
		if l.tok.kind == tError {
			out = append(out, "ERROR("+l.tok.s+")")
			break
		}
		out = append(out, l.tok.text())
		l.next()
	}
	return strings.Join(out, " ")
}

func TestLexer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ip4.src == 10.0.0.1", `ip4.src == 10.0.0.1`},
		{"eth.dst==ff:ff:ff:ff:ff:ff", `eth.dst == ff:ff:ff:ff:ff:ff`},
		{"ip6.src == fe80::/10", `ip6.src == fe80:: / 10`},
		{"ip6.dst == ::1", `ip6.dst == ::1`},
		{"reg0[0..15] == 0x1f", `reg0 [ 0 .. 15 ] == 0x1f`},
		{"tcp.dst >= 1024 && !ct.new || $as1 @pg ^var", `tcp.dst >= 1024 && ! ct.new || $as1 @pg ^var`},
		{`outport = "sw0-p1"; output;`, `outport = "sw0-p1" ; output ;`},
		{`eth.dst <-> eth.src; ip.ttl--;`, `eth.dst <-> eth.src ; ip.ttl -- ;`},
		{`ct_lb_mark(backends=10.0.0.2:80,[fd00::2]:8080)`, `ct_lb_mark ( backends = 10.0.0.2 : 80 , [ fd00::2 ] : 8080 )`},
		{`ct_snat(203.0.113.1, 1000-2000)`, `ct_snat ( 203.0.113.1 , 1000 - 2000 )`},
		{`arp.op = 2; /* ARP reply */ next;`, `arp.op = 2 ; next ;`},
		{`"a\"b"`, `"a\"b"`},
		{"0xG", `ERROR(invalid hex constant "0xG")`},
		{"1.2.3", `ERROR(invalid number "1.2.3")`},
		{"`", "ERROR(invalid character '`')"},
		{`"open`, `ERROR(unterminated string)`},
		{`/* open`, `ERROR(unterminated comment)`},
		{"0x" + strings.Repeat("f", 33), `ERROR(hex constant "0x` + strings.Repeat("f", 33) + `" is too wide)`},
	} {
		if got := lexAll(tc.in); got != tc.want {
			t.Errorf("lex(%q)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestLexDecimalFast holds the lexer's plain-decimal path to strconv.
func TestLexDecimalFast(t *testing.T) {
	for _, s := range []string{"0", "7", "007", "65535", "4294967296", "9999999999999999999", "18446744073709551615",
		"18446744073709551616", "99999999999999999999", "12a", "1x", "1..5", "0..15"} {
		l := newLexer(s)
		w, _, _ := strings.Cut(s, "..")
		n, err := strconv.ParseUint(w, 10, 64)
		switch {
		case err != nil && l.tok.kind != tError:
			t.Errorf("%q: lexed %s, strconv refuses it: %v", s, l.tok.text(), err)
		case err == nil && (l.tok.kind != tInt || l.tok.fmt != fmtDecimal || l.tok.val != ([16]byte{8: byte(n >> 56),
			byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})):
			t.Errorf("%q: lexed %v %v %x, strconv %d", s, l.tok.kind, l.tok.fmt, l.tok.val, n)
		}
	}
}
