package maps_test

import (
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

// A table handed the rules it was installed from is skipped unencoded; a
// changed table is written; and Resync compares with what the maps really
// hold, so an entry changed behind the installer's back is written again.
func TestPrivilegedInstallerSkipsUnchangedTables(t *testing.T) {
	testutil.Privileged(t)
	d := load(t, "skip")
	in, err := maps.NewInstaller(&d.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	second := maps.TableID{Datapath: 1, Pipeline: pipeline.Egress, Table: 2}
	tables := func(prio uint16) map[maps.TableID][]pipeline.Rule {
		t := table(prio, 7, true)
		t[second] = []pipeline.Rule{{Lflow: "lf-egress", Datapath: 1, Pipeline: pipeline.Egress, Table: 2, Priority: 5,
			Match: []pipeline.FieldMatch{exact(pipeline.FieldDP, 0, 0, 0, 1)}, Actions: []pipeline.Op{pipeline.Output{}}}}
		return t
	}
	apply := func(changes map[maps.TableID][]pipeline.Rule) *maps.ApplyReport {
		t.Helper()
		rep, err := in.Apply(changes)
		if err != nil || len(rep.Errors) > 0 {
			t.Fatalf("apply: %v %v", err, rep.Errors)
		}
		return rep
	}
	dump := func() *maps.Dump {
		t.Helper()
		dm, err := maps.DumpMaps(&d.Objs.DatapathMaps)
		if err != nil {
			t.Fatal(err)
		}
		return dm
	}
	if rep := apply(tables(70)); rep.Skipped != 0 || rep.Written == 0 {
		t.Fatalf("first apply: %+v", rep)
	}
	want := dump()
	if rep := apply(tables(70)); rep.Skipped != 2 || rep.Written != 0 || rep.Deleted != 0 {
		t.Fatalf("the same rules again: %+v, want both tables skipped, nothing written", rep)
	}
	if rep := apply(tables(71)); rep.Skipped != 1 || rep.Written != 1 {
		t.Fatalf("one priority changed: %+v, want one table skipped, one entry written", rep)
	}
	if rep := apply(tables(70)); rep.Skipped != 1 || rep.Written != 1 {
		t.Fatalf("changed back: %+v", rep)
	}
	if diff := want.Diff(dump()); len(diff) > 0 {
		t.Fatalf("same tables, other dump:\n%s", strings.Join(diff, "\n"))
	}

	// Someone deletes the egress table's entry behind the installer's back:
	// the digest still says "installed", Resync reads the truth back.
	var k maps.DatapathOvnbpfRuleKey
	var v maps.DatapathOvnbpfRule
	var victim *maps.DatapathOvnbpfRuleKey
	it := d.Objs.OvnbpfRules.Iterate()
	for it.Next(&k, &v) {
		if v.Cur.Prio == 5 {
			kk := k
			victim = &kk
		}
	}
	if victim == nil {
		t.Fatal("the egress entry is not in ovnbpf_rules")
	}
	if err := d.Objs.OvnbpfRules.Delete(victim); err != nil {
		t.Fatal(err)
	}
	if rep := apply(tables(70)); rep.Skipped != 2 {
		t.Fatalf("without a resync the installer trusts what it wrote: %+v", rep)
	}
	if err := in.Resync(); err != nil {
		t.Fatal(err)
	}
	if rep := apply(tables(70)); rep.Skipped != 0 || rep.Written != 1 {
		t.Fatalf("after a resync: %+v, want every table compared and the lost entry written", rep)
	}
	if diff := want.Diff(dump()); len(diff) > 0 {
		t.Fatalf("after the repair:\n%s", strings.Join(diff, "\n"))
	}
}
