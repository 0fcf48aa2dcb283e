package sbjson

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

func readCorpus(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("../../tests/corpus/testdata/" + name + ".sb.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[]`, "decoding snapshot"},
		{`{"Bogus": {"headings": [], "data": []}}`, `unknown table "Bogus"`},
		{`{"Datapath_Binding": {"headings": [], "data": []}}`, "no Logical_Flow table"},
		{`{"Logical_Flow": {"headings": [], "data": []}}`, "no Datapath_Binding table"},
		{`{"Logical_Flow": {"headings": ["a"], "data": [[1, 2]]}, "Datapath_Binding": {"headings": [], "data": []}}`, "row has 2 columns"},
		{`{"Logical_Flow": {"headings": ["a"], "data": [[["bogus", 1]]]}, "Datapath_Binding": {"headings": [], "data": []}}`, `unknown datum tag "bogus"`},
		{`{"Logical_Flow": {"headings": ["_uuid", "pipeline"], "data": [[["uuid", "u"], "sideways"]]}, "Datapath_Binding": {"headings": [], "data": []}}`, `lflow u: unknown pipeline "sideways"`},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestSnapshotResolver checks the resolver answers against a real snapshot.
func TestSnapshotResolver(t *testing.T) {
	s, err := Parse(readCorpus(t, "distributed-gateway-port"))
	if err != nil {
		t.Fatal(err)
	}
	s.Chassis = "ch1"
	dp, key, ok := s.Port("vm1")
	if !ok || dp == 0 || key == 0 {
		t.Fatalf("Port(vm1) = %d %d %v", dp, key, ok)
	}
	if n, _ := s.PortName(dp, key); n != "vm1" {
		t.Errorf("PortName = %q", n)
	}
	if k, ok := s.MulticastGroup(dp, "_MC_flood"); !ok || k != 32768 {
		t.Errorf("_MC_flood = %d %v", k, ok)
	}
	if !s.ChassisResident("cr-lr0-public") || s.ChassisResident("lr0-sw0") {
		t.Error("residency of cr-lr0-public (bound to ch1) / lr0-sw0 wrong")
	}
	routers := 0
	for k := range s.DPNames {
		if s.DatapathIsRouter(k) {
			routers++
		}
	}
	if routers != 1 || len(s.DPNames) != 3 {
		t.Errorf("%d datapaths, %d routers; want 3, 1", len(s.DPNames), routers)
	}
}

// TestDiffApply: a compiler moved from one snapshot to another with Diff and
// Apply holds what a fresh compile of the second holds.
func TestDiffApply(t *testing.T) {
	data := readCorpus(t, "acl-portgroups")
	before, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	// The second snapshot: an address set and a port group shrink, and one
	// lflow goes.
	var tables map[string]struct {
		Headings []string `json:"headings"`
		Data     [][]any  `json:"data"`
	}
	if err := json.Unmarshal(data, &tables); err != nil {
		t.Fatal(err)
	}
	as := tables["Address_Set"]
	for _, row := range as.Data {
		for i, h := range as.Headings {
			if h == "addresses" {
				row[i] = []any{"set", []any{"10.1.0.1"}}
			}
		}
	}
	tables["Address_Set"] = as
	lf := tables["Logical_Flow"]
	lf.Data = lf.Data[1:]
	tables["Logical_Flow"] = lf
	data2, _ := json.Marshal(tables)
	after, err := Parse(data2)
	if err != nil {
		t.Fatal(err)
	}
	r := &Switchable{S: before}
	c := pipeline.NewCompiler(r)
	c.UpsertBatch(before.Flows)
	c.Flush()
	r.S = after
	d := Diff(before, after)
	if len(d.Delete) != 1 || len(d.AddressSets) == 0 {
		t.Fatalf("diff: %d deleted, address sets %v", len(d.Delete), d.AddressSets)
	}
	d.Apply(c)
	fresh, _ := Compile(after)
	o := pipeline.RenderOptions{StableConjIDs: true}
	if got, want := pipeline.Render(c, o), pipeline.Render(fresh, o); got != want {
		t.Error("applying the diff gives other tables than a fresh compile")
	}
}

func TestReport(t *testing.T) {
	s, err := Parse(readCorpus(t, "dhcp"))
	if err != nil {
		t.Fatal(err)
	}
	// Break one lflow: it must be reported by uuid and reason, the rest compile.
	s.Flows[0].Actions = "frobnicate;"
	_, rep := Compile(s)
	if rep.Compiled != rep.Lflows-1 || len(rep.Unsupported["syntax error"]) != 1 || rep.Unsupported["syntax error"][0] != s.Flows[0].UUID {
		t.Errorf("report: %+v", rep)
	}
	if !strings.Contains(rep.String(), "syntax error (1): "+s.Flows[0].UUID) {
		t.Errorf("report text:\n%s", rep.String())
	}
}
