package pipeline

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// tokKind is the kind of a lexical token of OVN's match and action language.
type tokKind uint8

const (
	tEOF       tokKind = iota
	tID                // identifier: letters, digits, '_' and '.' (ip4.src, ct.new, reg0)
	tInt               // integer, MAC, IPv4 or IPv6 constant (value in tok.val)
	tString            // "quoted"
	tMacro             // $name (address set)
	tPortGroup         // @name
	tTemplate          // ^name
	tLParen
	tRParen
	tLCurly
	tRCurly
	tLSquare
	tRSquare
	tEq       // ==
	tNe       // !=
	tLt       // <
	tLe       // <=
	tGt       // >
	tGe       // >=
	tNot      // !
	tAnd      // &&
	tOr       // ||
	tEllipsis // ..
	tComma
	tSemicolon
	tEquals    // =
	tExchange  // <->
	tDecrement // --
	tSlash
	tColon
	tArrow // ->
	tHyphen
	tError
)

var tokNames = [...]string{tEOF: "end of input", tID: "identifier", tInt: "constant", tString: "string",
	tMacro: "$set", tPortGroup: "@group", tTemplate: "^template", tLParen: "(", tRParen: ")", tLCurly: "{",
	tRCurly: "}", tLSquare: "[", tRSquare: "]", tEq: "==", tNe: "!=", tLt: "<", tLe: "<=", tGt: ">", tGe: ">=",
	tNot: "!", tAnd: "&&", tOr: "||", tEllipsis: "..", tComma: ",", tSemicolon: ";", tEquals: "=",
	tExchange: "<->", tDecrement: "--", tSlash: "/", tColon: ":", tArrow: "->", tHyphen: "-", tError: "error"}

func (k tokKind) String() string { return tokNames[k] }

// cFormat says how a constant was written; it decides how it prints.
type cFormat uint8

const (
	fmtDecimal cFormat = iota
	fmtHex
	fmtMAC
	fmtIPv4
	fmtIPv6
)

// token is one lexical token. For tInt, val holds the value right-aligned
// (big-endian) in 16 bytes.
type token struct {
	kind tokKind
	s    string // identifier, string contents, set/group/template name, or error text
	val  [16]byte
	fmt  cFormat
	pos  int // byte offset in the input
}

func (t token) text() string {
	switch t.kind {
	case tID:
		return t.s
	case tString:
		return quote(t.s)
	case tMacro:
		return "$" + t.s
	case tPortGroup:
		return "@" + t.s
	case tTemplate:
		return "^" + t.s
	case tInt:
		return formatConst(t.val, t.fmt)
	case tError:
		return t.s
	}
	return t.kind.String()
}

// lexer scans OVN syntax one token at a time.
type lexer struct {
	in  string
	pos int
	tok token // current token
}

func newLexer(s string) *lexer {
	l := &lexer{}
	l.init(s)
	return l
}

func (l *lexer) init(s string) {
	*l = lexer{in: s}
	l.next()
}

func isIDStart(c byte) bool { return charClass[c]&classIDStart != 0 }

func isWordChar(c byte) bool { return charClass[c]&classWord != 0 }

const (
	classIDStart  = 1 << iota // letters, '_' and '.'
	classWord                 // those, digits and ':'
	classColon                // ':' (a MAC or IPv6 address, or a word's end)
	classDot                  // '.' (an IPv4 address, or a '..' range)
	classNonDigit             // a word byte other than a decimal digit
)

// charClass classifies bytes for the lexer's hot loops (a table rather
// than a chain of comparisons per byte).
var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b == '.' {
			t[c] |= classIDStart | classWord
		}
		if b >= '0' && b <= '9' || b == ':' {
			t[c] |= classWord
		}
		if t[c]&classWord != 0 && !(b >= '0' && b <= '9') {
			t[c] |= classNonDigit
		}
		switch b {
		case ':':
			t[c] |= classColon
		case '.':
			t[c] |= classDot
		}
	}
	return t
}()

// next advances to the next token.
func (l *lexer) next() {
	for l.pos < len(l.in) {
		c := l.in[l.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			l.pos++
			continue
		}
		// northd annotates actions with C comments: /* ARP reply */.
		if c == '/' && l.pos+1 < len(l.in) && l.in[l.pos+1] == '*' {
			end := strings.Index(l.in[l.pos+2:], "*/")
			if end < 0 {
				l.tok = token{pos: l.pos, kind: tError, s: "unterminated comment"}
				l.pos = len(l.in)
				return
			}
			l.pos += end + 4
			continue
		}
		break
	}
	l.tok = token{pos: l.pos}
	if l.pos >= len(l.in) {
		l.tok.kind = tEOF
		return
	}
	c := l.in[l.pos]
	var c2 byte // the next byte, 0 at the end
	if l.pos+1 < len(l.in) {
		c2 = l.in[l.pos+1]
	}
	single := func(k tokKind) { l.tok.kind = k; l.pos++ }
	double := func(k tokKind) { l.tok.kind = k; l.pos += 2 }
	// One switch on the first byte (most tokens are words: a chain of
	// two-byte comparisons before them cost more than the rest of the lexer).
	switch c {
	case '(':
		single(tLParen)
	case ')':
		single(tRParen)
	case '{':
		single(tLCurly)
	case '}':
		single(tRCurly)
	case '[':
		single(tLSquare)
	case ']':
		single(tRSquare)
	case ',':
		single(tComma)
	case ';':
		single(tSemicolon)
	case '/':
		single(tSlash)
	case '=':
		if c2 == '=' {
			double(tEq)
		} else {
			single(tEquals)
		}
	case '!':
		if c2 == '=' {
			double(tNe)
		} else {
			single(tNot)
		}
	case '&':
		if c2 == '&' {
			double(tAnd)
		} else {
			l.errorf("invalid character %q", c)
			l.pos++
		}
	case '|':
		if c2 == '|' {
			double(tOr)
		} else {
			l.errorf("invalid character %q", c)
			l.pos++
		}
	case '<':
		switch {
		case c2 == '-' && l.pos+2 < len(l.in) && l.in[l.pos+2] == '>':
			l.tok.kind = tExchange
			l.pos += 3
		case c2 == '=':
			double(tLe)
		default:
			single(tLt)
		}
	case '>':
		if c2 == '=' {
			double(tGe)
		} else {
			single(tGt)
		}
	case '-':
		switch c2 {
		case '>':
			double(tArrow)
		case '-':
			double(tDecrement)
		default:
			single(tHyphen)
		}
	case '"':
		l.lexString()
	case '$', '@', '^':
		l.pos++
		start := l.pos
		for l.pos < len(l.in) && (isIDStart(l.in[l.pos]) || l.in[l.pos] >= '0' && l.in[l.pos] <= '9') {
			l.pos++
		}
		l.tok.s = l.in[start:l.pos]
		switch c {
		case '$':
			l.tok.kind = tMacro
		case '@':
			l.tok.kind = tPortGroup
		default:
			l.tok.kind = tTemplate
		}
		if l.tok.s == "" {
			l.errorf("%q must be followed by a name", c)
		}
	case '.':
		if c2 == '.' && !(l.pos+2 < len(l.in) && isIDStart(l.in[l.pos+2]) && l.in[l.pos+2] != '.') {
			double(tEllipsis)
		} else {
			l.lexWord()
		}
	case ':':
		if c2 != ':' {
			single(tColon)
		} else {
			l.lexWord()
		}
	default:
		if isWordChar(c) {
			l.lexWord()
		} else {
			l.errorf("invalid character %q", c)
			l.pos++
		}
	}
}

func (l *lexer) errorf(format string, args ...any) {
	l.tok.kind = tError
	l.tok.s = fmt.Sprintf(format, args...)
}

func (l *lexer) lexString() {
	l.pos++ // opening quote
	// Fast path: no escape before the closing quote, the value is a substring.
	if end := strings.IndexAny(l.in[l.pos:], "\"\\"); end >= 0 && l.in[l.pos+end] == '"' {
		l.tok.kind = tString
		l.tok.s = l.in[l.pos : l.pos+end]
		l.pos += end + 1
		return
	}
	var sb strings.Builder
	for l.pos < len(l.in) {
		c := l.in[l.pos]
		switch c {
		case '"':
			l.pos++
			l.tok.kind = tString
			l.tok.s = sb.String()
			return
		case '\\':
			if l.pos+1 >= len(l.in) {
				l.errorf("unterminated string")
				l.pos = len(l.in)
				return
			}
			l.pos++
			switch e := l.in[l.pos]; e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			default:
				sb.WriteByte(e)
			}
			l.pos++
		default:
			sb.WriteByte(c)
			l.pos++
		}
	}
	l.errorf("unterminated string")
}

// lexWord scans a run of [A-Za-z0-9_.:] and classifies it: identifier, MAC,
// IPv6, IPv4, decimal or hex integer. A run like 10.0.0.1:80 (a backend)
// stops before the ':'; 0..15 (a subfield range) stops before the '..'.
func (l *lexer) lexWord() {
	start := l.pos
	end := start
	// The scan notes which classes the word holds, so that most words need
	// no second look for a ':' or a '.'.
	var seen uint8
	for end < len(l.in) {
		cls := charClass[l.in[end]]
		if cls&classWord == 0 {
			break
		}
		seen |= cls
		end++
	}
	w := l.in[start:end]
	if seen&classColon != 0 {
		if v, ok := parseMAC(w); ok {
			l.tok.kind, l.tok.val, l.tok.fmt = tInt, v, fmtMAC
			l.pos = end
			return
		}
		if a, err := netip.ParseAddr(w); err == nil && a.Is6() && a.Zone() == "" {
			l.tok.kind, l.tok.val, l.tok.fmt = tInt, a.As16(), fmtIPv6
			l.pos = end
			return
		}
		// Not an address: the word ends at the first single ':'.
		i := strings.IndexByte(w, ':')
		w = w[:i]
		end = start + i
		if w == "" {
			l.errorf("invalid constant %q", l.in[start:end])
			l.pos = end + 1
			return
		}
		seen = 0
		for j := 0; j < len(w); j++ {
			seen |= charClass[w[j]]
		}
	}
	c := w[0]
	if c >= '0' && c <= '9' {
		if seen&classDot != 0 {
			if i := strings.Index(w, ".."); i >= 0 {
				w = w[:i]
				end = start + i
			}
		}
		l.pos = end
		// A plain decimal (most numbers northd writes: priorities, ports,
		// register values) skips the address and hex parsers.
		if seen&classNonDigit == 0 && len(w) <= 19 {
			var n uint64
			for j := 0; j < len(w); j++ {
				n = n*10 + uint64(w[j]-'0')
			}
			l.tok.kind, l.tok.fmt = tInt, fmtDecimal
			putUint64(&l.tok.val, n)
			return
		}
		l.lexNumber(w)
		return
	}
	// Identifiers end before a '..' (as in reg0[a..b] never happens with
	// names) and must not end with '.'.
	l.pos = end
	l.tok.kind = tID
	l.tok.s = w
}

func (l *lexer) lexNumber(w string) {
	if v, ok := parseIPv4Fast(w); ok {
		l.tok.kind, l.tok.val, l.tok.fmt = tInt, v, fmtIPv4
		return
	}
	if strings.Count(w, ".") == 3 {
		if a, err := netip.ParseAddr(w); err == nil && a.Is4() {
			b := a.As4()
			var v [16]byte
			copy(v[12:], b[:])
			l.tok.kind, l.tok.val, l.tok.fmt = tInt, v, fmtIPv4
			return
		}
		l.errorf("invalid IPv4 address %q", w)
		return
	}
	if len(w) > 2 && (w[1] == 'x' || w[1] == 'X') && w[0] == '0' {
		h := w[2:]
		if len(h) > 32 {
			l.errorf("hex constant %q is too wide", w)
			return
		}
		var v [16]byte
		for i := 0; i < len(h); i++ {
			d, ok := hexDigit(h[len(h)-1-i])
			if !ok {
				l.errorf("invalid hex constant %q", w)
				return
			}
			v[15-i/2] |= d << (4 * uint(i%2))
		}
		l.tok.kind, l.tok.val, l.tok.fmt = tInt, v, fmtHex
		return
	}
	n, err := strconv.ParseUint(w, 10, 64)
	if err != nil {
		l.errorf("invalid number %q", w)
		return
	}
	l.tok.kind, l.tok.fmt = tInt, fmtDecimal
	putUint64(&l.tok.val, n)
}

// putUint64 sets v to n, right-aligned (v's upper 8 bytes zero).
func putUint64(v *[16]byte, n uint64) {
	*v = [16]byte{}
	for i := 0; i < 8; i++ {
		v[15-i] = byte(n >> (8 * i))
	}
}

// parseIPv4Fast parses a dotted quad as netip.ParseAddr accepts it (four
// fields of 1-3 digits, at most 255, no leading zero), without its generality:
// northd writes thousands. It reports false for anything else, which the
// caller then hands to netip.
func parseIPv4Fast(w string) ([16]byte, bool) {
	var v [16]byte
	field, digits, n := 0, 0, 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && n == 0 {
				return v, false // leading zero
			}
			n = n*10 + int(c-'0')
			digits++
			if n > 255 {
				return v, false
			}
		case c == '.' && digits > 0 && field < 3:
			v[12+field] = byte(n)
			field, digits, n = field+1, 0, 0
		default:
			return v, false
		}
	}
	if field != 3 || digits == 0 {
		return v, false
	}
	v[15] = byte(n)
	return v, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func parseMAC(w string) ([16]byte, bool) {
	var v [16]byte
	if len(w) != 17 {
		return v, false
	}
	for i := 0; i < 6; i++ {
		hi, ok1 := hexDigit(w[3*i])
		lo, ok2 := hexDigit(w[3*i+1])
		if !ok1 || !ok2 || (i < 5 && w[3*i+2] != ':') {
			return v, false
		}
		v[10+i] = hi<<4 | lo
	}
	return v, true
}

// formatConst prints a constant the way it was written.
func formatConst(v [16]byte, f cFormat) string {
	switch f {
	case fmtMAC:
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", v[10], v[11], v[12], v[13], v[14], v[15])
	case fmtIPv4:
		return netip.AddrFrom4([4]byte(v[12:16])).String()
	case fmtIPv6:
		return netip.AddrFrom16(v).String()
	case fmtDecimal:
		hi := false
		for _, b := range v[:8] {
			if b != 0 {
				hi = true
			}
		}
		if !hi {
			var n uint64
			for _, b := range v[8:] {
				n = n<<8 | uint64(b)
			}
			return strconv.FormatUint(n, 10)
		}
	}
	return hexValue(v[:])
}

// quote writes s as an OVN string literal: only '"', '\\', newline and tab
// are escaped, every other byte is kept, so the lexer reads back exactly s.
func quote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case '\n':
			sb.WriteString(`\n`)
		case '\t':
			sb.WriteString(`\t`)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
