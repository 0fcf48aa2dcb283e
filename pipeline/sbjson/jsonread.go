package sbjson

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for snapshots: encoding/json into interfaces (via
// RawMessage per datum) took most of `lflow compile --from` on large
// snapshots. It reads one document into string, float64, bool, nil, []any
// and ordered objects, in one pass with few allocations: a string without
// escapes is one allocation, arrays are sized from a shared stack. Bytes of
// strings are kept as they are (OVSDB strings are UTF-8).

// jsonObject is a decoded JSON object, keys in document order.
type jsonObject struct {
	keys []string
	vals []any
}

func (o *jsonObject) get(key string) (any, bool) {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i], true
		}
	}
	return nil, false
}

type jsonReader struct {
	data  []byte
	pos   int
	stack []any // elements of the arrays being read, innermost last
	depth int
}

const maxJSONDepth = 256

// readJSON decodes one JSON document.
func readJSON(data []byte) (any, error) {
	r := &jsonReader{data: data}
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	r.space()
	if r.pos != len(r.data) {
		return nil, r.errorf("unexpected data after the document")
	}
	return v, nil
}

func (r *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", r.pos, fmt.Sprintf(format, args...))
}

func (r *jsonReader) space() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *jsonReader) value() (any, error) {
	r.space()
	if r.pos >= len(r.data) {
		return nil, r.errorf("unexpected end of input")
	}
	switch c := r.data[r.pos]; {
	case c == '"':
		return r.str()
	case c == '[':
		return r.array()
	case c == '{':
		return r.object()
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	case r.literal("true"):
		return true, nil
	case r.literal("false"):
		return false, nil
	case r.literal("null"):
		return nil, nil
	default:
		return nil, r.errorf("invalid character %q", c)
	}
}

func (r *jsonReader) literal(word string) bool {
	if len(r.data)-r.pos >= len(word) && string(r.data[r.pos:r.pos+len(word)]) == word {
		r.pos += len(word)
		return true
	}
	return false
}

func (r *jsonReader) enter() error {
	r.depth++
	if r.depth > maxJSONDepth {
		return r.errorf("nesting too deep")
	}
	return nil
}

func (r *jsonReader) array() (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer func() { r.depth-- }()
	r.pos++ // [
	base := len(r.stack)
	r.space()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return []any{}, nil
	}
	for {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		r.stack = append(r.stack, v)
		r.space()
		if r.pos >= len(r.data) {
			return nil, r.errorf("unterminated array")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
			continue
		case ']':
			r.pos++
			out := make([]any, len(r.stack)-base)
			copy(out, r.stack[base:])
			clear(r.stack[base:])
			r.stack = r.stack[:base]
			return out, nil
		}
		return nil, r.errorf("expecting ',' or ']' in array")
	}
}

func (r *jsonReader) object() (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer func() { r.depth-- }()
	r.pos++ // {
	o := &jsonObject{}
	r.space()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return o, nil
	}
	for {
		r.space()
		if r.pos >= len(r.data) || r.data[r.pos] != '"' {
			return nil, r.errorf("expecting a string key in object")
		}
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		r.space()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return nil, r.errorf("expecting ':' in object")
		}
		r.pos++
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		o.keys = append(o.keys, k)
		o.vals = append(o.vals, v)
		r.space()
		if r.pos >= len(r.data) {
			return nil, r.errorf("unterminated object")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
			continue
		case '}':
			r.pos++
			return o, nil
		}
		return nil, r.errorf("expecting ',' or '}' in object")
	}
}

func (r *jsonReader) number() (any, error) {
	start := r.pos
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			r.pos++
			continue
		}
		break
	}
	text := r.data[start:r.pos]
	// Integers (all OVSDB integers) without strconv's float path.
	if len(text) < 16 {
		n, neg, ok := int64(0), false, true
		for i, c := range text {
			switch {
			case c == '-' && i == 0 && len(text) > 1:
				neg = true
			case c >= '0' && c <= '9':
				n = n*10 + int64(c-'0')
			default:
				ok = false
			}
		}
		if ok {
			if neg {
				n = -n
			}
			return float64(n), nil
		}
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return nil, r.errorf("invalid number %q", text)
	}
	return f, nil
}

var errBadEscape = errors.New("invalid escape in string")

// str reads a string at r.pos (on its opening quote).
func (r *jsonReader) str() (string, error) {
	r.pos++
	start := r.pos
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		if c == '"' {
			s := string(r.data[start:r.pos])
			r.pos++
			return s, nil
		}
		if c == '\\' {
			return r.strEscaped(start)
		}
		if c < 0x20 {
			return "", r.errorf("control character in string")
		}
		r.pos++
	}
	return "", r.errorf("unterminated string")
}

func (r *jsonReader) strEscaped(start int) (string, error) {
	buf := append([]byte(nil), r.data[start:r.pos]...)
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			r.pos++
			return string(buf), nil
		case c < 0x20:
			return "", r.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			r.pos++
			continue
		}
		if r.pos+1 >= len(r.data) {
			break
		}
		e := r.data[r.pos+1]
		r.pos += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			ru, ok := r.hex4()
			if !ok {
				return "", r.errorf("%v", errBadEscape)
			}
			if utf16.IsSurrogate(ru) {
				// A pair, or U+FFFD for a lone half (as encoding/json).
				dec := utf8.RuneError
				if r.pos+1 < len(r.data) && r.data[r.pos] == '\\' && r.data[r.pos+1] == 'u' {
					save := r.pos
					r.pos += 2
					if lo, ok := r.hex4(); ok && utf16.DecodeRune(ru, lo) != utf8.RuneError {
						dec = utf16.DecodeRune(ru, lo)
					} else {
						r.pos = save // the next escape is read on its own
					}
				}
				ru = dec
			}
			buf = utf8.AppendRune(buf, ru)
		default:
			return "", r.errorf("%v", errBadEscape)
		}
	}
	return "", r.errorf("unterminated string")
}

func (r *jsonReader) hex4() (rune, bool) {
	if r.pos+4 > len(r.data) {
		return 0, false
	}
	var v rune
	for _, c := range r.data[r.pos : r.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.pos += 4
	return v, true
}
