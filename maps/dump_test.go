package maps_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

func exact(f pipeline.Field, v ...byte) pipeline.FieldMatch {
	m := make([]byte, len(v))
	for i := range m {
		m[i] = 0xff
	}
	return pipeline.FieldMatch{Field: f, Value: v, Mask: m}
}

func TestDumpDiff(t *testing.T) {
	a := &maps.Dump{Sections: []maps.DumpSection{{Name: "ports", Lines: []string{"p1", "p2", "p2"}}, {Name: "vifs", Lines: []string{"v"}}}}
	b := &maps.Dump{Sections: []maps.DumpSection{{Name: "ports", Lines: []string{"p2", "p3"}}, {Name: "vifs", Lines: []string{"v"}}}}
	got := strings.Join(a.Diff(b), "|")
	if want := "ports: - p1|ports: - p2|ports: + p3"; got != want {
		t.Errorf("diff %q, want %q", got, want)
	}
	if d := a.Diff(a); len(d) != 0 {
		t.Errorf("a dump differs from itself: %q", d)
	}
	if !strings.Contains(a.Text(), "## ports (3)\np1\np2\np2\n") {
		t.Errorf("text:\n%s", a.Text())
	}
}

// table is dp 1's ingress table 0: a unicast rule, a rule whose priority
// changes, and a conjunction (ip4.src in {a, b} and tcp.dst in {22, 80}).
func table(prio uint16, conjID uint32, extra bool) map[maps.TableID][]pipeline.Rule {
	dp := exact(pipeline.FieldDP, 0, 0, 0, 1)
	rules := []pipeline.Rule{
		{Lflow: "lf-mac", Datapath: 1, Priority: 50, Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldEthDst, 0x0a, 0, 0, 0, 0, 1)},
			Actions: []pipeline.Op{pipeline.SetField{Field: pipeline.FieldOutport, Value: []byte{0, 0, 0, 2}, Mask: []byte{0xff, 0xff, 0xff, 0xff}}, pipeline.Next{Table: 1}}},
		{Lflow: "lf-prio", Datapath: 1, Priority: prio, Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldEthType, 0x08, 0x06)},
			Actions: []pipeline.Op{pipeline.Drop{}}},
		{Lflow: "lf-conj", Datapath: 1, Priority: 100, Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldConjID, byte(conjID>>24), byte(conjID>>16), byte(conjID>>8), byte(conjID))},
			Actions: []pipeline.Op{pipeline.Next{Table: 1}}},
	}
	for _, src := range [][]byte{{10, 0, 0, 1}, {10, 0, 0, 2}} {
		rules = append(rules, pipeline.Rule{Lflow: "lf-conj", Datapath: 1, Priority: 100,
			Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldIP4Src, src...)}, Conj: []pipeline.ConjRef{{ID: conjID, Clause: 1, NClauses: 2}}})
	}
	for _, port := range []byte{22, 80} {
		rules = append(rules, pipeline.Rule{Lflow: "lf-conj", Datapath: 1, Priority: 100,
			Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldTpDst, 0, port)}, Conj: []pipeline.ConjRef{{ID: conjID, Clause: 2, NClauses: 2}}})
	}
	if extra {
		rules = append(rules, pipeline.Rule{Lflow: "lf-extra", Datapath: 1, Priority: 10, Match: []pipeline.FieldMatch{dp},
			Actions: []pipeline.Op{pipeline.Output{}}})
	}
	return map[maps.TableID][]pipeline.Rule{{Datapath: 1, Pipeline: pipeline.Ingress, Table: 0}: rules}
}

func load(t *testing.T, name string) *loader.Datapath {
	t.Helper()
	pins := filepath.Join(loader.PinRoot, fmt.Sprintf("dumptest-%d-%s", os.Getpid(), name))
	os.RemoveAll(pins)
	d, err := loader.Load(pins, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		loader.Unpin(pins)
	})
	return d
}

// Two datapaths reach the same state through different histories (other
// slots, op offsets, lflow counter indices and conjunction ids): their dumps
// are equal. A different state dumps differently.
func TestPrivilegedDumpIsCanonical(t *testing.T) {
	testutil.Privileged(t)
	a, b := load(t, "a"), load(t, "b")
	ia, err := maps.NewInstaller(&a.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := maps.NewInstaller(&b.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	// a: straight to the state. b: a detour through other contents first.
	for _, step := range []struct {
		in      *maps.Installer
		changes map[maps.TableID][]pipeline.Rule
	}{
		{ia, table(70, 7, false)},
		{ib, table(90, 3, true)},
		{ib, table(80, 5, false)},
		{ib, table(70, 9, false)},
	} {
		if _, err := step.in.Apply(step.changes); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := maps.NewState(&a.Objs.DatapathMaps), maps.NewState(&b.Objs.DatapathMaps)
	ip := netip.MustParseAddr("192.0.2.9")
	for _, st := range []*maps.State{sb, sa} {
		if err := st.SetPort(maps.Port{Datapath: 1, Key: 2, Type: maps.PortRemote, Chassis: ip}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.SetPort(maps.Port{Datapath: 1, Key: 3, Type: maps.PortRemote, Chassis: ip}); err != nil {
		t.Fatal(err)
	}
	if err := sb.DeletePort(1, 3); err != nil {
		t.Fatal(err)
	}
	da, err := maps.DumpMaps(&a.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	db, err := maps.DumpMaps(&b.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	if d := da.Diff(db); len(d) != 0 {
		t.Fatalf("equal states dump differently:\n%s\n--- a:\n%s--- b:\n%s", strings.Join(d, "\n"), da.Text(), db.Text())
	}
	text := da.Text()
	for _, want := range []string{"## rules (7)", "match=eth_dst=0a0000000001 actions=set(outport[0+32],value=00000002/ffffffff);next(arg=1) lflow=lf-mac",
		"prio=70 match=eth_type=0806 actions=drop() lflow=lf-prio", "conjunction=c", "dp=1 port=2 type=remote chassis=192.0.2.9"} {
		if !strings.Contains(text, want) {
			t.Errorf("dump lacks %q:\n%s", want, text)
		}
	}
	// One priority apart is a difference, and says where.
	if _, err := ib.Apply(table(71, 9, false)); err != nil {
		t.Fatal(err)
	}
	db, err = maps.DumpMaps(&b.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	d := strings.Join(da.Diff(db), "\n")
	if !strings.Contains(d, "rules: - dp=1 ingress table=0 prio=70") || !strings.Contains(d, "rules: + dp=1 ingress table=0 prio=71") {
		t.Errorf("diff after a priority change:\n%s", d)
	}
}
