package pipeline_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// corpusSnapshots loads the Southbound snapshots of real northd output that
// tests/corpus captured.
func corpusSnapshots(t testing.TB) map[string]*sbjson.Snapshot {
	t.Helper()
	snaps, _ := corpusSnapshotsRaw(t)
	return snaps
}

// corpusSnapshotsRaw also returns, per snapshot, a variant that only knows
// the datapaths and logical flows (no ports, groups, sets).
func corpusSnapshotsRaw(t testing.TB) (map[string]*sbjson.Snapshot, map[string]*sbjson.Snapshot) {
	t.Helper()
	bare := map[string]*sbjson.Snapshot{}
	files, err := filepath.Glob("../tests/corpus/testdata/*.sb.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus snapshots (%v)", err)
	}
	out := map[string]*sbjson.Snapshot{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sbjson.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.Chassis = "ch1"
		name := strings.TrimSuffix(filepath.Base(f), ".sb.json")
		out[name] = s
		var tables map[string]json.RawMessage
		if err := json.Unmarshal(data, &tables); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Port_Binding", "Multicast_Group", "Address_Set", "Port_Group", "Chassis", "Chassis_Template_Var"} {
			delete(tables, k)
		}
		data, _ = json.Marshal(tables)
		if bare[name], err = sbjson.Parse(data); err != nil {
			t.Fatal(err)
		}
	}
	return out, bare
}

// TestCorpusCompiles: every lflow northd wrote for the corpus compiles.
func TestCorpusCompiles(t *testing.T) {
	for name, s := range corpusSnapshots(t) {
		_, rep := sbjson.Compile(s)
		if rep.Compiled != rep.Lflows || rep.Lflows == 0 {
			t.Errorf("%s: %d of %d lflows unsupported:\n%s", name, rep.Lflows-rep.Compiled, rep.Lflows, strings.Join(rep.Errors, "\n"))
		}
	}
}

// TestCorpusRoundTrip: parse, render, parse again gives the same AST, for
// every match and actions string of the corpus.
func TestCorpusRoundTrip(t *testing.T) {
	n := 0
	for name, s := range corpusSnapshots(t) {
		for _, f := range s.Flows {
			if err := pipeline.CheckRoundTrip(f.Match, f.Actions); err != nil {
				t.Errorf("%s lflow %s: %v", name, f.UUID, err)
			}
			n++
		}
	}
	t.Logf("%d lflows round-tripped", n)
}

// TestIncrementalEqualsFull: building a compiler lflow by lflow while
// inputs change (then invalidating) gives the same tables as a fresh full
// compile of the final state.
func TestIncrementalEqualsFull(t *testing.T) {
	snaps, bare := corpusSnapshotsRaw(t)
	for name, s := range snaps {
		full, _ := sbjson.Compile(s)
		want := pipeline.Render(full, pipeline.RenderOptions{StableConjIDs: true})

		// Start from a world with datapaths and lflows but no ports, port
		// groups or address sets; then reveal the real state and invalidate
		// what changed.
		// Either one lflow at a time, or in one large batch (tables listing
		// their owners in bulk until the changes below).
		for _, batch := range []bool{false, true} {
			r := &sbjson.Switchable{S: bare[name]}
			inc := pipeline.NewCompiler(r)
			flows := slices.Clone(s.Flows)
			for _, ps := range s.LocalPortSecurity() {
				f, err := pipeline.PortSecurityFlows(ps)
				if err != nil {
					t.Fatal(err)
				}
				flows = append(flows, f...)
			}
			if batch {
				restore := pipeline.SetParallelMin(1)
				inc.UpsertBatch(flows)
				restore()
			} else {
				for i := len(flows) - 1; i >= 0; i-- { // reverse order on purpose
					inc.Upsert(flows[i])
				}
			}
			inc.Flush()
			r.S = s
			delta := sbjson.Diff(bare[name], s)
			if len(delta.Upsert) != 0 || len(delta.Delete) != 0 {
				t.Fatalf("%s: lflows differ between the bare and full snapshot", name)
			}
			before := inc.Stats().Recompiles
			delta.Apply(inc)
			got := pipeline.Render(inc, pipeline.RenderOptions{StableConjIDs: true})
			if got != want {
				t.Errorf("%s (batch %v): incremental rendering differs from full compile:\n%s", name, batch, lineDiff(want, got))
			}
			if n := inc.Stats().Recompiles - before; n == 0 || n >= len(s.Flows) {
				t.Errorf("%s: %d of %d lflows recompiled: invalidation should be selective", name, n, len(s.Flows))
			}
			if len(inc.Errors()) != 0 {
				t.Errorf("%s: %d errors after invalidation, first: %v", name, len(inc.Errors()), inc.Errors()[0])
			}
		}
	}
}

// lineDiff lists lines only in want (-) and only in got (+), at most 20.
func lineDiff(want, got string) string {
	count := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		count[l]--
	}
	var out []string
	for l, n := range count {
		if n > 0 {
			out = append(out, "- "+l)
		} else if n < 0 {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], "...")
	}
	return strings.Join(out, "\n")
}
