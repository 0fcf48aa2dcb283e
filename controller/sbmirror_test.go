package controller

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// A snapshot patched from the previous one through the journal holds what a
// conversion of the whole table holds, names exactly the rows that changed,
// and a journal that overflowed (or a snapshot older than the last) falls
// back to the conversion.
func TestMirrorSnapshotPatchesChangedRows(t *testing.T) {
	tables := map[string]tableConv{sbdb.LogicalFlowTable: typedTable[sbdb.LogicalFlow]()}
	m := newSBMirror()
	flow := func(i int, match string) *sbdb.LogicalFlow {
		return &sbdb.LogicalFlow{UUID: fmt.Sprintf("u%04d", i), Match: match}
	}
	for i := range 100 {
		m.OnAdd(sbdb.LogicalFlowTable, flow(i, "1"))
	}
	check := func(s *mirrorSnap) {
		t.Helper()
		got := typed[sbdb.LogicalFlow](s, sbdb.LogicalFlowTable)
		want := tables[sbdb.LogicalFlowTable].conv(m.rows[sbdb.LogicalFlowTable]).(map[string]*sbdb.LogicalFlow)
		if !maps.Equal(got, want) {
			t.Fatalf("snapshot holds %d flows, the mirror %d (or other rows)", len(got), len(want))
		}
	}
	s1 := m.snapshot(nil, tables)
	check(s1)
	if _, ok := s1.delta(nil, sbdb.LogicalFlowTable); ok {
		t.Fatal("a first snapshot has no delta")
	}

	m.OnUpdate(sbdb.LogicalFlowTable, nil, flow(7, "2"))
	m.OnDelete(sbdb.LogicalFlowTable, flow(3, "1"))
	m.OnAdd(sbdb.LogicalFlowTable, flow(200, "1"))
	m.OnUpdate(sbdb.LogicalFlowTable, nil, flow(7, "3")) // twice: named once
	s2 := m.snapshot(s1, tables)
	check(s2)
	changed, ok := s2.delta(s1, sbdb.LogicalFlowTable)
	if want := []string{"u0003", "u0007", "u0200"}; !ok || !slices.Equal(changed, want) {
		t.Fatalf("delta %v %v, want %v", changed, ok, want)
	}
	if typed[sbdb.LogicalFlow](s1, sbdb.LogicalFlowTable)["u0007"].Match != "1" {
		t.Fatal("patching modified the previous snapshot's map")
	}
	// Nothing changed: the same map, an empty delta.
	s3 := m.snapshot(s2, tables)
	if mapPointer(typed[sbdb.LogicalFlow](s3, sbdb.LogicalFlowTable)) != mapPointer(typed[sbdb.LogicalFlow](s2, sbdb.LogicalFlowTable)) {
		t.Fatal("an unchanged table was not shared")
	}
	if changed, ok := s3.delta(s2, sbdb.LogicalFlowTable); !ok || len(changed) != 0 {
		t.Fatalf("delta of an unchanged table: %v %v", changed, ok)
	}
	// Against an older snapshot than the one it was patched from: no delta.
	m.OnUpdate(sbdb.LogicalFlowTable, nil, flow(8, "2"))
	s4 := m.snapshot(s3, tables)
	check(s4)
	if _, ok := s4.delta(s1, sbdb.LogicalFlowTable); ok {
		t.Fatal("a delta against a snapshot two generations back")
	}
	// The journal trimmed by s4: a snapshot from s1 converts the table.
	m.OnUpdate(sbdb.LogicalFlowTable, nil, flow(9, "2"))
	s5 := m.snapshot(s1, tables)
	check(s5)
	if _, ok := s5.delta(s1, sbdb.LogicalFlowTable); ok {
		t.Fatal("patched from a snapshot the journal no longer covers")
	}
	// Overflow: more changes than the journal keeps.
	for i := range maxJournal + 10 {
		m.OnAdd(sbdb.LogicalFlowTable, flow(1000+i, "1"))
	}
	s6 := m.snapshot(s5, tables)
	check(s6)
	if _, ok := s6.delta(s5, sbdb.LogicalFlowTable); ok {
		t.Fatal("patched past an overflowed journal")
	}
	// And patching works again after it.
	m.OnDelete(sbdb.LogicalFlowTable, flow(1000, "1"))
	s7 := m.snapshot(s6, tables)
	check(s7)
	if changed, ok := s7.delta(s6, sbdb.LogicalFlowTable); !ok || !slices.Equal(changed, []string{"u1000"}) {
		t.Fatalf("delta after an overflow: %v %v", changed, ok)
	}
}

// A table keyed by another column (Port_Binding by logical port): a renamed
// row loses its old key, a deleted one its key, and the delta names both.
func TestMirrorSnapshotPatchesKeyedTable(t *testing.T) {
	tables := map[string]tableConv{sbdb.PortBindingTable: sbTables[sbdb.PortBindingTable]}
	m := newSBMirror()
	pb := func(u, name string) *sbdb.PortBinding { return &sbdb.PortBinding{UUID: u, LogicalPort: name} }
	for i := range 10 {
		m.OnAdd(sbdb.PortBindingTable, pb(fmt.Sprint("u", i), fmt.Sprint("p", i)))
	}
	s1 := m.snapshot(nil, tables)
	m.OnUpdate(sbdb.PortBindingTable, nil, pb("u1", "renamed"))
	m.OnUpdate(sbdb.PortBindingTable, nil, pb("u1", "renamed2"))
	m.OnDelete(sbdb.PortBindingTable, pb("u2", "p2"))
	m.OnAdd(sbdb.PortBindingTable, pb("u20", "p20"))
	s2 := m.snapshot(s1, tables)
	got := typed[sbdb.PortBinding](s2, sbdb.PortBindingTable)
	want := tables[sbdb.PortBindingTable].conv(m.rows[sbdb.PortBindingTable]).(map[string]*sbdb.PortBinding)
	if !maps.Equal(got, want) {
		t.Fatalf("patched %v, converted %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	changed, ok := s2.delta(s1, sbdb.PortBindingTable)
	if w := []string{"p1", "p2", "p20", "renamed2"}; !ok || !slices.Equal(changed, w) {
		t.Fatalf("delta %v %v, want %v", changed, ok, w)
	}
}
