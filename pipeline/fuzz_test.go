package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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
		checkArenaMatch(t, s)
		c := NewCompiler(newTestResolver())
		c.Upsert(LogicalFlow{UUID: "f", Datapaths: []uint32{1, 2}, Table: 3, Priority: 10, Match: s, Actions: "next;"})
		c.Flush()
	})
}

// fuzzArena is reused by every fuzz input, as a worker reuses its arena
// from one lflow to the next.
var (
	fuzzArenaMu sync.Mutex
	fuzzArena   parseArena
)

// checkArenaMatch requires a parse into a reused arena to equal a parse
// into new memory.
func checkArenaMatch(t *testing.T, s string) {
	fuzzArenaMu.Lock()
	defer fuzzArenaMu.Unlock()
	if a, b := parseText(s, false, nil), parseText(s, false, &fuzzArena); a != b {
		t.Fatalf("match %q: parse in an arena %q, in new memory %q", s, b, a)
	}
	fuzzArena.reset()
}

func checkArenaActions(t *testing.T, s string) {
	fuzzArenaMu.Lock()
	defer fuzzArenaMu.Unlock()
	if a, b := parseText(s, true, nil), parseText(s, true, &fuzzArena); a != b {
		t.Fatalf("actions %q: parse in an arena %q, in new memory %q", s, b, a)
	}
	fuzzArena.reset()
}

// parseText parses s (a match, or actions with their prerequisites) into
// ar (nil: new memory) and renders the result or the error.
func parseText(s string, isActions bool, ar *parseArena) string {
	if !isActions {
		e, err := parseMatchIn(s, ar)
		if err != nil {
			return "error: " + err.Error()
		}
		return e.String()
	}
	var pa parsedActions
	pa.parse(s, ar, nil)
	if pa.err != nil {
		return "error: " + pa.err.Error()
	}
	out := pa.a.String()
	if pa.prereqs != nil {
		out += " prereqs: " + pa.prereqs.String()
	}
	return out
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
		checkArenaActions(t, s)
		c := NewCompiler(newTestResolver())
		c.Upsert(LogicalFlow{UUID: "f", Datapaths: []uint32{1, 2}, Table: 3, Priority: 10, Match: "1", Actions: s})
		c.Flush()
	})
}

// corpusStrings returns the match and actions strings of every lflow of
// tests/corpus, in file order (sbjson, which reads them for the external
// tests, imports this package).
func corpusStrings(t *testing.T) (matches, actions []string) {
	t.Helper()
	files, _ := filepath.Glob("../tests/corpus/testdata/*.sb.json")
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
					matches = append(matches, s)
				} else if ok && h == "actions" {
					actions = append(actions, s)
				}
			}
		}
	}
	return matches, actions
}

// TestWriteFuzzSeeds regenerates the seed corpus (every distinct match and
// actions string of tests/corpus) when run with -write-fuzz-seeds; without
// the flag it checks that the seeds exist.
func TestWriteFuzzSeeds(t *testing.T) {
	matches, actions := map[string]bool{}, map[string]bool{}
	ms, as := corpusStrings(t)
	for _, m := range ms {
		matches[m] = true
	}
	for _, a := range as {
		actions[a] = true
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

// TestArenaParseEqualsHeap: parsing every corpus string, and strings with
// errors, into one arena reused across them (a match and an actions string
// share it until reset, as in a compile) gives what parsing into new
// memory gives: nothing of one parse leaks into the next.
func TestArenaParseEqualsHeap(t *testing.T) {
	matches := []string{"ip4 && (tcp.dst == {80, 443} || !udp) && !(ct.new && !ct.est)", "ip4.src == {10.0.0.1 10.0.0.2", "inport == @pg && ip4.dst == $as",
		"((((ip4))))", "!!!tcp", "reg0[3..1] == 1", "1", "0", "eth.src == {00:00:00:00:00:01, 00:00:00:00:00:02} && vlan.present"}
	actions := []string{`clone { outport = "p1"; output; }; ct_commit { ct_mark.blocked = 1; }; next;`, "drop;", "next(",
		`arp { eth.dst = ff:ff:ff:ff:ff:ff; arp { output; }; };`, `reg8[16..31] = select(values=(1, 2=5); hash_fields="ip_src");`,
		"ct_lb_mark(backends=^bip:^bport,10.0.0.1:80; skip_snat);", "ct_dnat(10.0.0.1, 100-200, random);", "icmp4 { ip.ttl--; };", "frobnicate;"}
	ms, as := corpusStrings(t)
	matches, actions = append(matches, ms...), append(actions, as...)
	if len(matches) < 100 {
		t.Fatalf("only %d corpus strings", len(matches))
	}
	var ar parseArena
	for i := 0; i < max(len(matches), len(actions)); i++ {
		m, a := matches[i%len(matches)], actions[i%len(actions)]
		// The match is rendered after the actions used the arena too.
		e, err := parseMatchIn(m, &ar)
		gotA := parseText(a, true, &ar)
		gotM := "error: "
		if err != nil {
			gotM += err.Error()
		} else {
			gotM = e.String()
		}
		if want := parseText(m, false, nil); gotM != want {
			t.Errorf("match %q: arena %q, new memory %q", m, gotM, want)
		}
		if want := parseText(a, true, nil); gotA != want {
			t.Errorf("actions %q: arena %q, new memory %q", a, gotA, want)
		}
		ar.reset()
	}
}
