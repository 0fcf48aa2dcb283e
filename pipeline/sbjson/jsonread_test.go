package sbjson

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// plain turns readJSON's objects into maps, to compare with encoding/json.
func plain(v any) any {
	switch x := v.(type) {
	case *jsonObject:
		m := map[string]any{}
		for i, k := range x.keys {
			m[k] = plain(x.vals[i])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = plain(x[i])
		}
		return out
	}
	return v
}

// TestReadJSONMatchesEncodingJSON: the snapshot reader decodes what
// encoding/json decodes, on the corpus and on tricky documents.
func TestReadJSONMatchesEncodingJSON(t *testing.T) {
	docs := map[string][]byte{
		"escapes":   []byte(`["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u4e2d", "\ud83d\ude00", "x\ud800y", "\ud800\u0041", "raw é"]`),
		"numbers":   []byte(`[0, -1, 42, 3.5, -0.25, 1e3, 12345678901234567, -9007199254740993]`),
		"literals":  []byte(` { "t" : true , "f":false, "n" :null, "e": [], "o": {} } `),
		"nested":    []byte(`{"a": [[1, [2, [3, ["x"]]]], {"b": {"c": []}}]}`),
		"dup keys":  []byte(`{"a": 1, "a": 2}`),
		"empty str": []byte(`["", "\"\""]`),
	}
	files, _ := filepath.Glob("../../tests/corpus/testdata/*.sb.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = data
	}
	if len(files) == 0 {
		t.Fatal("no corpus snapshots found")
	}
	for name, data := range docs {
		var want any
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: encoding/json: %v", name, err)
		}
		got, err := readJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(plain(got), want) {
			t.Errorf("%s: decoded differently:\n got %v\nwant %v", name, plain(got), want)
		}
	}
}

func TestReadJSONErrors(t *testing.T) {
	for _, in := range []string{``, `[`, `[1,]`, `{"a" 1}`, `{"a": 1,}`, `"abc`, `"a\qb"`, `"\u12"`, `tru`, `[1] x`,
		`{1: 2}`, "\"a\nb\"", `[1 2]`} {
		if _, err := readJSON([]byte(in)); err == nil {
			t.Errorf("readJSON(%q): no error", in)
		}
	}
	deep := make([]byte, 0, 2*maxJSONDepth+2)
	for range maxJSONDepth + 1 {
		deep = append(deep, '[')
	}
	if _, err := readJSON(deep); err == nil {
		t.Error("no error for nesting deeper than the limit")
	}
}
