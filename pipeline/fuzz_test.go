package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "regenerate testdata/fuzz seeds from the corpus snapshots")

// FuzzParseMatch: no input makes the parser, the normaliser or the lowering
// panic, and the canonical rendering of a parse is a fixed point.
func FuzzParseMatch(f *testing.F) {
	f.Add("ip4.src == {10.0.0.1, 10.0.0.0/8} && tcp.dst >= 1024 && !ct.new")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseMatch(s)
		if err != nil {
			return
		}
		r1 := e.String()
		e2, err := parseMatch(r1)
		if err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", r1, s, err)
		}
		if r2 := e2.String(); r2 != r1 {
			t.Fatalf("rendering is not stable: %q -> %q -> %q", s, r1, r2)
		}
		c := NewCompiler(newTestResolver())
		c.Upsert(LogicalFlow{UUID: "f", Datapaths: []uint32{1, 2}, Table: 3, Priority: 10, Match: s, Actions: "next;"})
		c.Flush()
	})
}

// FuzzParseActions: the same for action strings.
func FuzzParseActions(f *testing.F) {
	f.Add(`ct_lb_mark(backends=10.0.0.2:80,[fd00::2]:80; hash_fields="ip_src"); outport = "p1"; output;`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseActions(s)
		if err != nil {
			return
		}
		r1 := a.String()
		a2, err := parseActions(r1)
		if err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", r1, s, err)
		}
		if r2 := a2.String(); r2 != r1 {
			t.Fatalf("rendering is not stable: %q -> %q -> %q", s, r1, r2)
		}
		c := NewCompiler(newTestResolver())
		c.Upsert(LogicalFlow{UUID: "f", Datapaths: []uint32{1, 2}, Table: 3, Priority: 10, Match: "1", Actions: s})
		c.Flush()
	})
}

// TestWriteFuzzSeeds regenerates the seed corpus (every distinct match and
// actions string of tests/corpus) when run with -write-fuzz-seeds; without
// the flag it checks that the seeds exist.
func TestWriteFuzzSeeds(t *testing.T) {
	files, _ := filepath.Glob("../tests/corpus/testdata/*.sb.json")
	matches, actions := map[string]bool{}, map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var tables map[string]struct {
			Headings []string `json:"headings"`
			Data     [][]any  `json:"data"`
		}
		if err := json.Unmarshal(data, &tables); err != nil {
			t.Fatal(err)
		}
		lf := tables["Logical_Flow"]
		for _, row := range lf.Data {
			for i, h := range lf.Headings {
				if s, ok := row[i].(string); ok && h == "match" {
					matches[s] = true
				} else if ok && h == "actions" {
					actions[s] = true
				}
			}
		}
	}
	for dir, set := range map[string]map[string]bool{"FuzzParseMatch": matches, "FuzzParseActions": actions} {
		dir = filepath.Join("testdata", "fuzz", dir)
		if !*writeSeeds {
			if n, _ := filepath.Glob(filepath.Join(dir, "*")); len(n) < len(set)/2 {
				t.Errorf("%s has %d seeds for %d corpus strings: run go test -run TestWriteFuzzSeeds -write-fuzz-seeds", dir, len(n), len(set))
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for s := range set {
			sum := sha256.Sum256([]byte(s))
			body := "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
