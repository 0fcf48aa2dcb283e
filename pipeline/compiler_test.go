package pipeline

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func render(c *Compiler) string { return Render(c, RenderOptions{}) }

func TestCompilerIncremental(t *testing.T) {
	r := newTestResolver()
	c := NewCompiler(r)
	acl := LogicalFlow{UUID: "a", Datapaths: []uint32{1}, Pipeline: Egress, Table: 4, Priority: 2000,
		Match: "outport == @pg1 && ip4.src == $as1", Actions: "next;", Stage: "ls_out_acl"}
	l2 := LogicalFlow{UUID: "b", Datapaths: []uint32{1}, Pipeline: Ingress, Table: 25, Priority: 50,
		Match: "eth.dst == 50:54:00:00:00:01", Actions: `outport = "p1"; output;`, Stage: "ls_in_l2_lkup"}
	shared := LogicalFlow{UUID: "c", Datapaths: []uint32{1}, Pipeline: Ingress, Table: 3, Priority: 100,
		Match: "ip4", Actions: "ct_next;", Stage: "ls_in_pre_stateful"}
	for _, f := range []LogicalFlow{acl, l2, shared} {
		if err := c.Upsert(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Flush(); len(got) != 3 {
		t.Fatalf("first flush: %d tables changed, want 3", len(got))
	}
	if got := c.Flush(); len(got) != 0 {
		t.Fatalf("second flush: %v changed, want none", got)
	}

	// An address set change recompiles only the ACL.
	before := c.Stats().Recompiles
	r.addrSets["as1"] = []string{"10.0.0.9"}
	c.InvalidateAddressSet("as1")
	changed := c.Flush()
	if n := c.Stats().Recompiles - before; n != 1 {
		t.Errorf("address set change recompiled %d lflows, want 1", n)
	}
	if len(changed) != 1 || changed[0] != (TableKey{1, Egress, 4}) {
		t.Errorf("changed tables %v, want the ACL table", changed)
	}
	if !strings.Contains(render(c), "ip4_src=10.0.0.9") || strings.Contains(render(c), "ip4_src=10.0.0.1") {
		t.Errorf("address set change not applied:\n%s", render(c))
	}

	// A port group named "<dp>_<name>" in the SB invalidates @name.
	before = c.Stats().Recompiles
	r.groups["1_pg1"] = []string{"p3"}
	c.InvalidatePortGroup("1_pg1")
	c.Flush()
	if n := c.Stats().Recompiles - before; n != 1 {
		t.Errorf("port group change recompiled %d lflows, want 1", n)
	}
	if !strings.Contains(render(c), "outport=0x3") {
		t.Errorf("port group change not applied:\n%s", render(c))
	}

	// A port key change recompiles the lflows that named the port.
	before = c.Stats().Recompiles
	r.ports["p1"] = [2]uint32{1, 7}
	c.InvalidatePort("p1")
	c.Flush()
	if n := c.Stats().Recompiles - before; n != 1 {
		t.Errorf("port change recompiled %d lflows, want 1", n)
	}
	if !strings.Contains(render(c), "set(outport=0x7)") {
		t.Errorf("port change not applied:\n%s", render(c))
	}

	// Widening a datapath group compiles only the new member, reusing the
	// parse and the lowering of an equal datapath.
	before = c.Stats().Lowerings
	shared.Datapaths = []uint32{1, 3, 4}
	c.Upsert(shared)
	if n := c.Stats().Lowerings - before; n != 0 {
		t.Errorf("datapath group change lowered %d times, want 0 (rules of dp 1 reused)", n)
	}
	if got := c.Flush(); len(got) != 2 {
		t.Errorf("datapath group change touched %v, want 2 new tables", got)
	}
	shared.Datapaths = []uint32{4}
	c.Upsert(shared)
	if got := c.Flush(); len(got) != 2 || c.Table(TableKey{1, Ingress, 3}) != nil {
		t.Errorf("narrowing the group: changed %v", got)
	}

	// Delete removes rules and reports the table.
	c.Delete("b")
	if got := c.Flush(); len(got) != 1 || c.Table(got[0]) != nil {
		t.Errorf("delete: changed %v", got)
	}
	if st := c.Stats(); st.Lflows != 2 || st.Compiled != 2 || st.Failed != 0 {
		t.Errorf("stats after delete: %+v", st)
	}
}

func TestCompilerErrorsAreCountedAndSkipped(t *testing.T) {
	c := NewCompiler(newTestResolver())
	good := LogicalFlow{UUID: "g", Datapaths: []uint32{1}, Table: 1, Priority: 1, Match: "reg0 == 1", Actions: "output;"}
	bad := LogicalFlow{UUID: "x", Datapaths: []uint32{1}, Table: 1, Priority: 2, Match: "reg0 === 1", Actions: "output;", Stage: "ls_in_x"}
	c.Upsert(good)
	err := c.Upsert(bad)
	if err == nil || err.UUID != "x" || err.Stage != "ls_in_x" || err.Part != "match" {
		t.Fatalf("bad lflow: %v", err)
	}
	if st := c.Stats(); st.Compiled != 1 || st.Failed != 1 || len(c.Errors()) != 1 {
		t.Errorf("stats %+v errors %v", st, c.Errors())
	}
	if rules := c.Table(TableKey{1, Ingress, 1}); len(rules) != 1 || rules[0].Lflow != "g" {
		t.Errorf("good lflow lost: %v", rules)
	}
	bad.Match = "reg0 == 2"
	if err := c.Upsert(bad); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Compiled != 2 || st.Failed != 0 || len(c.Errors()) != 0 {
		t.Errorf("after fix: stats %+v", st)
	}
}

func TestTablePruningAndMerging(t *testing.T) {
	c := NewCompiler(newTestResolver())
	c.Upsert(LogicalFlow{UUID: "n", Datapaths: []uint32{1}, Table: 7, Priority: 0, Match: "1", Actions: "next;"})
	if c.Table(TableKey{1, Ingress, 7}) != nil || len(c.Tables()) != 0 {
		t.Error("a table saying only `1, next;` must be pruned")
	}
	if _, ok := c.View(TableKey{1, Ingress, 7}); ok {
		t.Error("a pruned table must have no view")
	}
	// Two conjunctions whose members share a match merge their memberships.
	r := newTestResolver()
	c = NewCompiler(r)
	for _, u := range []string{"c1", "c2"} {
		c.Upsert(LogicalFlow{UUID: u, Datapaths: []uint32{1}, Table: 2, Priority: 10,
			Match: "inport == @pg1 && ip4.src == $big", Actions: "next;"})
	}
	rules := c.Table(TableKey{1, Ingress, 2})
	merged := 0
	for _, r := range rules {
		if len(r.Conj) == 2 {
			merged++
		}
	}
	if merged != 7 { // 2 ports + 5 addresses, each member of both
		t.Errorf("%d merged members, want 7:\n%s", merged, render(c))
	}
	// A view of a table that merges gives the merged rules too.
	v, ok := c.View(TableKey{1, Ingress, 2})
	if !ok || v.Len() != len(rules) {
		t.Fatalf("view of the merged table: ok %v, %d rules, want %d", ok, v.Len(), len(rules))
	}
	for i := range rules {
		if r, _ := v.Rule(i, nil); r.String() != rules[i].String() || len(r.Conj) != len(rules[i].Conj) {
			t.Errorf("view rule %d: %s (%d conj), want %s (%d conj)", i, r.String(), len(r.Conj), rules[i].String(), len(rules[i].Conj))
		}
	}
	ids := map[uint32]bool{}
	for _, r := range rules {
		for _, cr := range r.Conj {
			ids[cr.ID] = true
		}
	}
	if len(ids) != 2 {
		t.Errorf("conjunction ids %v, want 2 distinct", ids)
	}
	// Deleting frees the ids for reuse.
	c.Delete("c1")
	c.Delete("c2")
	c.Upsert(LogicalFlow{UUID: "c3", Datapaths: []uint32{1}, Table: 2, Priority: 10,
		Match: "inport == @pg1 && ip4.src == $big", Actions: "next;"})
	for _, r := range c.Table(TableKey{1, Ingress, 2}) {
		for _, cr := range r.Conj {
			if !ids[cr.ID] {
				t.Errorf("id %d not reused from %v", cr.ID, ids)
			}
		}
	}
}

func TestRuleInvariants(t *testing.T) {
	for name, s := range map[string]string{"a": "ip4.src == 10.0.0.0/8 && tcp.dst == {80, 443} && reg0[3]"} {
		c := NewCompiler(newTestResolver())
		c.Upsert(LogicalFlow{UUID: name, Datapaths: []uint32{1}, Table: 1, Priority: 1, Match: s, Actions: "output;"})
		for _, k := range c.Tables() {
			for _, r := range c.Table(k) {
				if !slices.IsSortedFunc(r.Match, func(a, b FieldMatch) int { return int(a.Field) - int(b.Field) }) {
					t.Errorf("match not sorted: %s", r.String())
				}
				for i, m := range r.Match {
					if len(m.Value) != m.Field.Bytes() || len(m.Mask) != m.Field.Bytes() {
						t.Errorf("bad lengths: %s", r.String())
					}
					for j := range m.Value {
						if m.Value[j]&^m.Mask[j] != 0 {
							t.Errorf("value outside mask: %s", r.String())
						}
					}
					if i > 0 && r.Match[i-1].Field == m.Field {
						t.Errorf("field twice: %s", r.String())
					}
				}
			}
		}
	}
}

// TestInvalidationIsPerDatapath: an lflow shared by several datapaths
// (a Logical_DP_Group) recompiles only for the datapath whose input changed.
func TestInvalidationIsPerDatapath(t *testing.T) {
	r := newTestResolver()
	r.ports["q1"] = [2]uint32{3, 1}
	r.groups["3_pg1"] = []string{"q1"}
	c := NewCompiler(r)
	c.Upsert(LogicalFlow{UUID: "acl", Datapaths: []uint32{1, 3}, Pipeline: Egress, Table: 4, Priority: 2000,
		Match: "outport == @pg1 && ip4", Actions: "next;"})
	c.Flush()
	before := c.Stats().Lowerings
	r.groups["1_pg1"] = []string{"p1", "p2", "p3"}
	c.InvalidatePortGroup("1_pg1")
	changed := c.Flush()
	if n := c.Stats().Lowerings - before; n != 1 {
		t.Errorf("%d lowerings, want 1 (datapath 1 only)", n)
	}
	if len(changed) != 1 || changed[0].Datapath != 1 {
		t.Errorf("changed tables %v, want datapath 1's", changed)
	}
	if got := len(c.Table(TableKey{1, Egress, 4})); got != 3 {
		t.Errorf("datapath 1 has %d rules, want 3", got)
	}
	if got := len(c.Table(TableKey{3, Egress, 4})); got != 1 {
		t.Errorf("datapath 3 has %d rules, want 1", got)
	}
}

// TestFailedLflowRetriesWhenInputAppears: an lflow that fails for want of
// an input (a template variable) compiles once the input is there.
func TestFailedLflowRetriesWhenInputAppears(t *testing.T) {
	r := newTestResolver()
	c := NewCompiler(r)
	f := LogicalFlow{UUID: "lb", Datapaths: []uint32{1}, Table: 6, Priority: 120,
		Match: "ip4.dst == ^newvip && tcp.dst == 80", Actions: "next;"}
	if err := c.Upsert(f); err == nil || err.Reason != "undefined template variable" {
		t.Fatalf("want an undefined template error, got %v", err)
	}
	r.templates["newvip"] = "192.0.2.80"
	c.InvalidateTemplateVar("newvip")
	if errs := c.Errors(); len(errs) != 0 {
		t.Fatalf("still failing: %v", errs)
	}
	if st := c.Stats(); st.Compiled != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(render(c), "ip4_dst=192.0.2.80") {
		t.Errorf("not compiled with the new value:\n%s", render(c))
	}
}

// TestConjunctionStaysLinear: a port group of 2,000 ports and an address set
// of 10,000 addresses give 2,000 + 10,000 + 1 rules, not 20 million.
func TestConjunctionStaysLinear(t *testing.T) {
	r := newTestResolver()
	var ports, addrs []string
	for i := 0; i < 2000; i++ {
		name := "lp" + strconv.Itoa(i)
		r.ports[name] = [2]uint32{1, uint32(100 + i)}
		ports = append(ports, name)
	}
	for i := 0; i < 10000; i++ {
		addrs = append(addrs, "10."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+".1")
	}
	r.groups["1_pgbig"] = ports
	r.addrSets["asbig"] = addrs
	c := NewCompiler(r)
	if err := c.Upsert(LogicalFlow{UUID: "acl", Datapaths: []uint32{1}, Pipeline: Egress, Table: 4, Priority: 1001,
		Match: "outport == @pgbig && ip4.src == $asbig && tcp.dst == 22", Actions: "next;"}); err != nil {
		t.Fatal(err)
	}
	rules := c.Table(TableKey{1, Egress, 4})
	if len(rules) != 12001 {
		t.Fatalf("%d rules, want 12001", len(rules))
	}
	clauses := map[uint8]int{}
	for _, r := range rules {
		for _, cr := range r.Conj {
			clauses[cr.Clause]++
		}
	}
	if clauses[1] != 2000 || clauses[2] != 10000 {
		t.Errorf("clause members %v, want 2000 and 10000", clauses)
	}
}

// TestUpsertBatchRepeatedUUID: a batch naming an lflow twice keeps the
// later row only, for new and already compiled lflows, in serial and
// parallel batches.
func TestUpsertBatchRepeatedUUID(t *testing.T) {
	a1 := LogicalFlow{UUID: "a", Datapaths: []uint32{1}, Pipeline: Ingress, Table: 3, Priority: 100,
		Match: "ip4", Actions: "next;"}
	a2 := a1
	a2.Datapaths = []uint32{3, 4} // same body, other datapaths
	a3 := a1
	a3.Match = "ip6" // other body
	b := LogicalFlow{UUID: "b", Datapaths: []uint32{1}, Pipeline: Ingress, Table: 3, Priority: 90,
		Match: "arp", Actions: "next;"}
	want := func(rows ...LogicalFlow) (string, Stats) {
		c := NewCompiler(newTestResolver())
		c.UpsertBatch(rows)
		return render(c), c.Stats()
	}
	for _, pmin := range []int{1 << 30, 1} {
		restore := func(old int) func() { parallelMin = pmin; return func() { parallelMin = old } }(parallelMin)
		for i, tc := range []struct{ batch, same []LogicalFlow }{
			{[]LogicalFlow{a1, b, a2}, []LogicalFlow{b, a2}},
			{[]LogicalFlow{a1, a3, b}, []LogicalFlow{a3, b}},
			{[]LogicalFlow{a1, a2, a3, a1}, []LogicalFlow{a1}},
		} {
			wantText, wantStats := want(tc.same...)
			c := NewCompiler(newTestResolver())
			c.UpsertBatch(tc.batch)
			if got := render(c); got != wantText {
				t.Errorf("parallelMin %d case %d: got\n%s\nwant\n%s", pmin, i, got, wantText)
			}
			if st := c.Stats(); st.Lflows != wantStats.Lflows || st.Rules != wantStats.Rules || st.Compiled != wantStats.Compiled {
				t.Errorf("parallelMin %d case %d: stats %+v, want %+v", pmin, i, st, wantStats)
			}
			// The same rows again, onto compiled state.
			c.UpsertBatch(tc.batch)
			if got := render(c); got != wantText {
				t.Errorf("parallelMin %d case %d, again: got\n%s\nwant\n%s", pmin, i, got, wantText)
			}
			if st := c.Stats(); st.Rules != wantStats.Rules || st.Lflows != wantStats.Lflows {
				t.Errorf("parallelMin %d case %d, again: stats %+v, want %+v", pmin, i, st, wantStats)
			}
		}
		restore()
	}
}

// TestTemplateBackendsFollowTheirVariable: a ct_lb whose backends are
// template variables compiles once they are defined and recompiles when
// they change.
func TestTemplateBackendsFollowTheirVariable(t *testing.T) {
	r := newTestResolver()
	c := NewCompiler(r)
	f := LogicalFlow{UUID: "lb", Datapaths: []uint32{1}, Table: 6, Priority: 120,
		Match: "ip4.dst == ^vip && tcp.dst == 80", Actions: "ct_lb_mark(backends=^lbb:^lbport);"}
	if err := c.Upsert(f); err == nil || err.Reason != "undefined template variable" {
		t.Fatalf("want an undefined template error, got %v", err)
	}
	r.templates["lbb"], r.templates["lbport"] = "192.0.2.99", "8080"
	c.InvalidateTemplateVar("lbb")
	if errs := c.Errors(); len(errs) != 0 {
		t.Fatalf("still failing: %v", errs)
	}
	if !strings.Contains(render(c), "backends=192.0.2.99:8080,") {
		t.Fatalf("not compiled with the backend:\n%s", render(c))
	}
	r.templates["lbport"] = "9090"
	c.InvalidateTemplateVar("lbport")
	if out := render(c); !strings.Contains(out, "backends=192.0.2.99:9090,") {
		t.Errorf("not recompiled with the new port:\n%s", out)
	}
}

// TestViewMergesConjunctions: two lflows whose conjunction members share a
// priority and a match in one table; View gives what Table gives (the
// first member absorbing the other's membership), in small and large
// batches.
func TestViewMergesConjunctions(t *testing.T) {
	flows := []LogicalFlow{
		{UUID: "a", Datapaths: []uint32{1}, Table: 3, Priority: 100,
			Match: "ip4.src == {192.0.2.1, 192.0.2.2, 192.0.2.4} && tcp.dst == {80, 443, 8080}", Actions: "next;"},
		{UUID: "b", Datapaths: []uint32{1}, Table: 3, Priority: 100,
			Match: "ip4.src == {192.0.2.1, 192.0.2.3, 192.0.2.4} && tcp.dst == {22, 23, 25}", Actions: "drop;"},
		{UUID: "c", Datapaths: []uint32{1}, Table: 3, Priority: 100,
			Match: "ip4.src == 192.0.2.1 && tcp", Actions: "drop;"},
	}
	for _, pmin := range []int{1 << 30, 1} {
		restore := func(old int) func() { parallelMin = pmin; return func() { parallelMin = old } }(parallelMin)
		c := NewCompiler(newTestResolver())
		c.UpsertBatch(flows)
		k := TableKey{Datapath: 1, Pipeline: Ingress, Table: 3}
		c.Flush()
		v, ok := c.View(k)
		rules := c.Table(k)
		if !ok || v.Len() != len(rules) {
			t.Fatalf("parallelMin %d: view %v with %d rules, table %d", pmin, ok, v.Len(), len(rules))
		}
		merged := false
		var buf []FieldMatch
		for i := range rules {
			var r Rule
			r, buf = v.Rule(i, buf)
			if r.String() != rules[i].String() || !slices.Equal(r.Conj, rules[i].Conj) {
				t.Errorf("parallelMin %d rule %d: view %s %v, table %s %v", pmin, i, r.String(), r.Conj, rules[i].String(), rules[i].Conj)
			}
			merged = merged || len(r.Conj) > 1
		}
		if !merged {
			t.Errorf("parallelMin %d: no merged membership in\n%s", pmin, render(c))
		}
		restore()
	}
}

// TestUserSetCounts: the dependency index keys sets by hash, so two inputs
// sharing a hash share a set; a compile that used both is in it twice and
// stays until it removed itself for both, in the list and the map forms.
func TestUserSetCounts(t *testing.T) {
	for _, others := range []int{0, userSetSmall + 4} {
		var u userSet
		states := make([]flowState, others+1)
		for i := 1; i <= others; i++ {
			u.add(flowDP{&states[i], 1})
		}
		x := flowDP{&states[0], 7}
		u.add(x)
		u.add(x)
		members := func() int {
			n := 0
			u.each(func(y flowDP) {
				if y == x {
					n++
				}
			})
			return n
		}
		u.del(x)
		if members() == 0 || u.len() != others+1 {
			t.Errorf("%d others: one removal of two took x out (len %d)", others, u.len())
		}
		u.del(x)
		if members() != 0 || u.len() != others {
			t.Errorf("%d others: x still in after two removals (len %d)", others, u.len())
		}
	}
}

// TestSortKeys holds the tables' key sort to slices.SortFunc's order on
// keys with many repeats, presorted and reversed runs, and at the depth
// limit.
func TestSortKeys(t *testing.T) {
	seed := uint64(1)
	rnd := func(n uint64) uint64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed % n
	}
	less := func(a, b ruleKey) int {
		if a.k0 != b.k0 {
			if a.k0 < b.k0 {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.k1, b.k1), cmp.Compare(a.k2, b.k2))
	}
	for _, n := range []int{0, 1, 2, 13, 100, 1000, 5000} {
		for _, kind := range []string{"random", "few", "sorted", "reversed"} {
			for _, depth := range []int{0, 3, 64} {
				keys := make([]ruleKey, n)
				for i := range keys {
					switch kind {
					case "random":
						keys[i] = ruleKey{k0: rnd(1 << 20), k1: rnd(1 << 40)}
					case "few":
						keys[i] = ruleKey{k0: rnd(3), k1: rnd(4), k2: rnd(3)}
					case "sorted":
						keys[i] = ruleKey{k0: uint64(i / 7), k1: uint64(i % 7)}
					case "reversed":
						keys[i] = ruleKey{k0: uint64(n - i/3), k1: rnd(2)}
					}
				}
				for i := range keys {
					keys[i].i = int32(i)
				}
				got := slices.Clone(keys)
				sortKeys(got, depth)
				for i := 1; i < len(got); i++ {
					if less(got[i-1], got[i]) > 0 {
						t.Fatalf("%d %s keys, depth %d: not sorted at %d", n, kind, depth, i)
					}
				}
				// The same keys, each once.
				full := func(a, b ruleKey) int { return cmp.Or(less(a, b), cmp.Compare(a.i, b.i)) }
				slices.SortFunc(got, full)
				want := slices.Clone(keys)
				slices.SortFunc(want, full)
				if !slices.Equal(got, want) {
					t.Errorf("%d %s keys, depth %d: keys lost or repeated", n, kind, depth)
				}
			}
		}
	}
}
