package maps_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

// largeTable is a table of n rules large enough to be patched entry by
// entry: two mask shapes, duplicate matches (the higher priority, then the
// lower lflow uuid wins), conjunction members sharing matches, and actions
// that vary with ver[i] (a rule with ver[i] < 0 is left out).
func largeTable(ver []int) []pipeline.Rule {
	dp := exact(pipeline.FieldDP, 0, 0, 0, 1)
	var rules []pipeline.Rule
	for i, v := range ver {
		if v < 0 {
			continue
		}
		lf := fmt.Sprintf("lf-%04d", i)
		out := pipeline.SetField{Field: pipeline.FieldOutport, Value: []byte{0, 0, byte(v), byte(i)}, Mask: []byte{0xff, 0xff, 0xff, 0xff}}
		switch {
		case i%10 == 7: // a conjunction member: its match is shared with the next one's
			rules = append(rules, pipeline.Rule{Lflow: lf, Datapath: 1, Priority: 40,
				Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldIP4Dst, 10, 9, 0, byte(i/20))},
				Conj:  []pipeline.ConjRef{{ID: uint32(100 + v%3), Clause: byte(1 + i%2), NClauses: 2}}})
		case i%10 == 3: // the same match as rule i-1, from another lflow
			rules = append(rules, pipeline.Rule{Lflow: lf, Datapath: 1, Priority: uint16(50 + v%2),
				Match:   []pipeline.FieldMatch{dp, exact(pipeline.FieldEthDst, 0x0a, 0, 0, 0, byte((i-1)>>8), byte(i-1))},
				Actions: []pipeline.Op{out, pipeline.Next{Table: 4}}})
		case i%2 == 1:
			rules = append(rules, pipeline.Rule{Lflow: lf, Datapath: 1, Priority: 60,
				Match:   []pipeline.FieldMatch{dp, exact(pipeline.FieldInport, 0, 0, byte(i>>8), byte(i)), exact(pipeline.FieldEthSrc, 0x0a, 0, 0, 1, 0, byte(v))},
				Actions: []pipeline.Op{out, pipeline.Output{}}})
		default:
			rules = append(rules, pipeline.Rule{Lflow: lf, Datapath: 1, Priority: 50,
				Match:   []pipeline.FieldMatch{dp, exact(pipeline.FieldEthDst, 0x0a, 0, 0, 0, byte(i>>8), byte(i))},
				Actions: []pipeline.Op{out, pipeline.Next{Table: 4}}})
		}
	}
	return rules
}

// A large table changed a few rules at a time (actions, priorities,
// conjunctions, rules added and removed, a whole mask shape gone and back)
// holds what a fresh installer writes for the same rules, and each change
// writes only the entries it touches.
func TestPrivilegedInstallerPatchesLargeTables(t *testing.T) {
	testutil.Privileged(t)
	d := load(t, "keyed")
	in, err := maps.NewInstaller(&d.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	id := maps.TableID{Datapath: 1, Pipeline: pipeline.Ingress, Table: 3}
	ver := make([]int, 700)
	apply := func(in *maps.Installer, rules []pipeline.Rule) *maps.ApplyReport {
		t.Helper()
		rep, err := in.Apply(map[maps.TableID][]pipeline.Rule{id: rules})
		if err != nil || len(rep.Errors) > 0 {
			t.Fatalf("apply: %v %v", err, rep.Errors)
		}
		return rep
	}
	apply(in, largeTable(ver))
	fresh := load(t, "keyed-fresh")
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 12 {
		var what []string
		switch step {
		case 5: // every rule of one shape (inport+eth.src) goes
			for i := range ver {
				if i%2 == 1 && i%10 != 3 && i%10 != 7 {
					ver[i] = -1
				}
			}
			what = append(what, "odd rules removed")
		case 6:
			for i := range ver {
				if ver[i] < 0 {
					ver[i] = 1
				}
			}
			what = append(what, "odd rules back")
		default:
			for range 1 + rng.IntN(6) {
				i := rng.IntN(len(ver))
				switch rng.IntN(3) {
				case 0:
					ver[i] = -1
				default:
					ver[i] = (ver[i]+1)%5 + 1
				}
				what = append(what, fmt.Sprintf("%d=%d", i, ver[i]))
			}
		}
		rules := largeTable(ver)
		rep := apply(in, rules)
		// the same rules written by an installer that reads the maps back
		fin, err := maps.NewInstaller(&fresh.Objs.DatapathMaps)
		if err != nil {
			t.Fatal(err)
		}
		apply(fin, rules)
		got, err := maps.DumpMaps(&d.Objs.DatapathMaps)
		if err != nil {
			t.Fatal(err)
		}
		want, err := maps.DumpMaps(&fresh.Objs.DatapathMaps)
		if err != nil {
			t.Fatal(err)
		}
		if diff := want.Diff(got); len(diff) > 0 {
			t.Fatalf("step %d (%s): the patched table differs from a fresh install:\n%s", step, strings.Join(what, " "), strings.Join(diff, "\n"))
		}
		if rep.Patched != 1 || step != 5 && step != 6 && rep.Written+rep.Deleted > 4*len(what) {
			t.Errorf("step %d (%s): %+v: want the table patched, a few entries written", step, strings.Join(what, " "), rep)
		}
	}
}
