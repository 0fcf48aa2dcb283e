package corpus

import (
	"flag"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

var update = flag.Bool("update", false, "rewrite the golden files and snapshots under testdata/")

// TestCorpus builds each topology on a real OVN central, compiles the
// Southbound lflows northd wrote, requires zero unsupported lflows, and
// compares the canonical rendering with testdata/<name>.golden.
func TestCorpus(t *testing.T) {
	for _, topo := range Topologies {
		t.Run(topo.Name, func(t *testing.T) {
			c, err := central.Start(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			if err := Build(c, topo); err != nil {
				t.Fatal(err)
			}
			snap, err := Snapshot(c)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(filepath.Join("testdata", topo.Name+".sb.json"), snap, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := compileAndRender(t, snap)
			golden := filepath.Join("testdata", topo.Name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("rendering differs from %s (run with -update after checking):\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

// compileAndRender compiles a snapshot for Chassis, fails on any unsupported
// lflow, and renders it independently of uuids and key allocation.
func compileAndRender(t testing.TB, snap []byte) string {
	t.Helper()
	s, err := sbjson.Parse(snap)
	if err != nil {
		t.Fatal(err)
	}
	s.Chassis = Chassis
	comp, rep := sbjson.Compile(s)
	if rep.Lflows == 0 {
		t.Fatal("snapshot has no lflows")
	}
	if rep.Compiled != rep.Lflows {
		t.Errorf("%d of %d lflows unsupported:\n%s", rep.Lflows-rep.Compiled, rep.Lflows, strings.Join(rep.Errors, "\n"))
	}
	names := StableNames(s)
	return pipeline.Render(comp, pipeline.RenderOptions{
		LflowName: func(u string) string {
			if n, ok := names[u]; ok {
				return n
			}
			return u // port-security flows have stable names of their own
		},
		DatapathName:  func(dp uint32) string { return s.DPNames[dp] },
		PortName:      s.PortName,
		StableConjIDs: true,
	})
}

// StableNames names each lflow by its stage and a hash of its table,
// priority, match and actions: the same across runs, unlike the uuid.
func StableNames(s *sbjson.Snapshot) map[string]string {
	names := make(map[string]string, len(s.Flows))
	for _, f := range s.Flows {
		h := fnv.New32a()
		h.Write([]byte(f.Pipeline.String() + "\x00" + strconv.Itoa(int(f.Table)) + "\x00" +
			strconv.Itoa(int(f.Priority)) + "\x00" + f.Match + "\x00" + f.Actions))
		names[f.UUID] = f.Stage + "#" + strconv.FormatUint(uint64(h.Sum32()), 16)
	}
	return names
}

// lineDiff lists the lines only in want (-) and only in got (+), at most 40.
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
		switch {
		case n > 0:
			out = append(out, "- "+l)
		case n < 0:
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 40 {
		out = append(out[:40], "...")
	}
	return strings.Join(out, "\n")
}
