package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// Lflows of one skeleton with literals that change what the lowering does:
// conflicting or repeated comparisons, constants too wide for their field,
// unknown ports, multicast groups, register spans; and shapes that must not
// get a template (sets, masks, template variables, nested literals, `1` and
// `0` as true and false, escaped strings).
var shapeMatches = []string{
	"arp.op == 1 && arp.op == 1", "arp.op == 1 && arp.op == 2",
	"eth.type == 0x806 && arp", "eth.type == 0x800 && arp",
	"ip.ttl == 3 && ip4", "ip.ttl == 300 && ip4",
	`outport == "p1" && ip4`, `outport == "nope" && ip4`, `outport == "none" && ip4`, `outport == "_MC_flood" && ip4`,
	"reg0[0..3] == 5", "reg0[0..3] == 20", "reg0[4..7] == 5",
	"xxreg0 == fe80::1 && ip6", "xxreg0 == :: && ip6", "xreg0[0..47] == 00:00:00:01:00:1d",
	"1", "0",
	"ip4.src == 10.0.0.1 && (tcp || udp)", "ip4.src == 10.0.0.2 && (tcp || udp)",
	"nd_ns && nd.target == fe80::1", "nd && nd.target == fe80::2", "nd && nd.target == fe80::3",
	`inport == "p1" && eth.src == {00:00:00:00:00:01, 00:00:00:00:00:02}`,
	"ip4.dst == 10.0.0.0/8", "ip4.dst == 10.0.0.1",
	"tcp.dst == 80 && tcp.dst == 80 && ip4", "tcp.dst == 80 && tcp.dst == 81 && ip4",
	"ct.est && ct_mark.blocked == 1", "ct.est && ct_mark.blocked == 0",
	"flags[1] == 0 && nd_ns && nd.target == fe80::1", "flags[1] == 1 && nd_ns && nd.target == fe80::4",
	`is_chassis_resident("cr-lrp1") && ip4.dst == 10.0.0.1`, `is_chassis_resident("lrp1") && ip4.dst == 10.0.0.1`,
	"ip4.dst == 10.0.0.1 && !ip.later_frag && !(tcp || udp)", "ip4.dst == 10.0.0.9 && !ip.later_frag && !(tcp || udp)",
	"eth.dst == ff:ff:ff:ff:ff:ff && eth.bcast", "eth.dst == 00:00:00:00:00:01 && eth.bcast",
	"icmp4.type == 8 && icmp4.code == 0 && ip4.dst == 10.0.0.1", "icmp4.type == 8 && icmp4.code == 256 && ip4.dst == 10.0.0.1",
	"vlan.vid == 10", "vlan.vid == 5000",
}

var shapeActions = []string{
	`outport = "p1"; output;`, `outport = "nope"; output;`, `outport = "_MC_flood"; output;`, `outport = "none"; output;`,
	"ip.ttl = 3; next;", "ip.ttl = 300; next;",
	"reg0[0..3] = 5; next;", "reg0[0..3] = 20; next;",
	"xreg0[0..47] = 00:00:00:01:00:1d; next;", "xxreg1 = fe80::1; next;",
	"eth.dst = eth.src; eth.src = 50:54:00:00:4b:1f; arp.op = 2; /* ARP reply */ arp.tha = arp.sha; " +
		"arp.sha = 50:54:00:00:4b:1f; arp.tpa = arp.spa; arp.spa = 10.0.75.41; outport = inport; flags.loopback = 1; output;",
	"eth.dst = eth.src; eth.src = 50:54:00:00:4b:20; arp.op = 2; arp.tha = arp.sha; " +
		"arp.sha = 50:54:00:00:4b:20; arp.tpa = arp.spa; arp.spa = 10.0.75.42; outport = inport; flags.loopback = 1; output;",
	"ct_mark.blocked = 1; next;", "reg0 = 1; ct_next;", "reg0 = 2; ct_next;", "reg0 = 0x100000000; ct_next;",
	"reg0 = ^vip; next;", "reg0 = ^nope; next;",
	"ct_commit { ct_mark.blocked = 1; }; next;", "ct_commit { ct_mark.blocked = 0; }; next;",
	"next(pipeline=egress, table=3);", "next(pipeline=egress, table=4);",
	`outport = "a\"b"; output;`, "drop;", "next;", "reg9[2] = lookup_arp(inport, arp.spa, arp.sha); next;",
	"eth.dst = 00:00:00:00:00:01; next;", "eth.dst = 00:00:00:00:00:02; next;",
}

// shapeFlows returns lflows combining the strings above on switch and
// router datapaths, in several tables (255: ct_next is refused there).
func shapeFlows() []LogicalFlow {
	dps := [][]uint32{{1}, {2}, {1, 2}, {1, 3}, {2, 4}}
	tables := []uint8{5, 6, 255}
	var out []LogicalFlow
	n := 0
	add := func(m, a string) {
		out = append(out, LogicalFlow{UUID: fmt.Sprintf("f%04d", n), Datapaths: dps[n%len(dps)], Pipeline: Pipeline(n % 2),
			Table: tables[n%len(tables)], Priority: uint16(100 + n%3), Match: m, Actions: a})
		n++
	}
	for round := 0; round < 3; round++ {
		for i, m := range shapeMatches {
			add(m, shapeActions[(i+round)%len(shapeActions)])
		}
		for i, a := range shapeActions {
			add(shapeMatches[(i+round)%len(shapeMatches)], a)
			add("ip4", a)
		}
	}
	return out
}

// shapeCompile compiles flows in one batch on the parallel path, with
// templates on or off, and describes everything the result holds.
func shapeCompile(t *testing.T, flows []LogicalFlow, shapes bool) (string, int) {
	t.Helper()
	oldMin, oldShapes := parallelMin, useShapes
	parallelMin, useShapes = 1, shapes
	defer func() { parallelMin, useShapes = oldMin, oldShapes }()
	r := newTestResolver()
	r.ports["a\"b"] = [2]uint32{1, 9}
	c := NewCompiler(r)
	c.UpsertBatch(flows)
	var sb strings.Builder
	sb.WriteString(render(c))
	for _, e := range c.Errors() {
		fmt.Fprintf(&sb, "error %s | %s | %s\n", e.Error(), e.Reason, e.Construct)
	}
	uuids := make([]string, 0, len(c.flows))
	for u := range c.flows {
		uuids = append(uuids, u)
	}
	slices.Sort(uuids)
	for _, u := range uuids {
		st := c.flows[u]
		for _, o := range st.out {
			fmt.Fprintf(&sb, "deps %s dp %d: %v conj %v\n", u, o.dp, o.lo.deps, o.lo.conjIDs())
		}
		var errDeps []depKey
		if st.fail != nil {
			errDeps = st.fail.deps
		}
		fmt.Fprintf(&sb, "errdeps %s: %v\n", u, errDeps)
	}
	st := c.Stats()
	fmt.Fprintf(&sb, "stats %d %d %d %d\n", st.Lflows, st.Compiled, st.Failed, st.Rules)
	return sb.String(), c.shaped
}

// TestShapesEqualPlain: compiling through shape templates gives exactly
// what compiling each lflow on its own gives (rules, errors, dependencies).
func TestShapesEqualPlain(t *testing.T) {
	flows := shapeFlows()
	plain, _ := shapeCompile(t, flows, false)
	shaped, n := shapeCompile(t, flows, true)
	if n == 0 {
		t.Fatal("no lflow went through a template")
	}
	if plain != shaped {
		t.Errorf("templates change the result:\n%s", lineDiffInternal(plain, shaped))
	}
	// The same, with the lflows in another order (another lflow of each
	// shape builds the template).
	rev := slices.Clone(flows)
	slices.Reverse(rev)
	shapedRev, _ := shapeCompile(t, rev, true)
	plainRev, _ := shapeCompile(t, rev, false)
	if plainRev != shapedRev {
		t.Errorf("templates change the result (reversed batch):\n%s", lineDiffInternal(plainRev, shapedRev))
	}
	t.Logf("%d of %d lowerings through templates", n, len(flows))
}

func lineDiffInternal(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestParseIPv4Fast: the lexer's dotted-quad fast path agrees with netip.
func TestParseIPv4Fast(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
		"1..2.3", "1.2.3.", ".1.2.3", "192.0.2.10", "1.2.3.04", "1.2.3.0", "999.1.1.1", "1.2.3.4a", "00.0.0.0"} {
		v, ok := parseIPv4Fast(s)
		a, err := netip.ParseAddr(s)
		want := err == nil && a.Is4()
		if ok && !want {
			t.Errorf("%q: fast path accepts what netip refuses", s)
		}
		if ok {
			b := a.As4()
			if [4]byte(v[12:]) != b || v != ([16]byte{12: b[0], 13: b[1], 14: b[2], 15: b[3]}) {
				t.Errorf("%q: fast path %v, netip %v", s, v, b)
			}
		}
		if !ok && want {
			t.Errorf("%q: fast path refuses a plain address", s)
		}
	}
}

// FuzzShapes: lflows built from two matches and two actions (the fuzzer
// varies their literals, so that they often share a skeleton) compile the
// same with shape templates and without.
func FuzzShapes(f *testing.F) {
	for i := 0; i+1 < len(shapeMatches); i += 2 {
		f.Add(shapeMatches[i], shapeActions[i%len(shapeActions)], shapeMatches[i+1], shapeActions[(i+1)%len(shapeActions)])
	}
	f.Fuzz(func(t *testing.T, m1, a1, m2, a2 string) {
		var flows []LogicalFlow
		for i, ma := range [][2]string{{m1, a1}, {m2, a2}, {m2, a1}, {m1, a2}, {m1, a1}} {
			flows = append(flows, LogicalFlow{UUID: fmt.Sprintf("f%d", i), Datapaths: [][]uint32{{1}, {2}, {1, 2}}[i%3],
				Pipeline: Pipeline(i % 2), Table: uint8(4 + i%2), Priority: 100, Match: ma[0], Actions: ma[1]})
		}
		plain, _ := shapeCompile(t, flows, false)
		shaped, _ := shapeCompile(t, flows, true)
		if plain != shaped {
			t.Fatalf("templates change the result of %q/%q and %q/%q:\n%s", m1, a1, m2, a2, lineDiffInternal(plain, shaped))
		}
	})
}

// slotCases are strings whose literals, lexed alone, could end or start
// elsewhere than in the whole string, besides the shapes above.
var slotCases = []string{
	"x..1", "x..f::1", "x.. 1", "x ..1::1", "x ..f::1", "a :1::1", "a :::1", "a :1", "a ::1", "a:1", "a:f::1", "10.0.0.1:80", "10.0.0.2:8080", "ip6.dst==1::2", "ip6.dst==f::2",
	"tcp.dst==80", "tcp.dst==  81", "tcp.dst == 0x50", `outport=="p1"`, `outport==""`, `"a\"b"`, `"ab"`,
	"reg0 == 1 /* c */ && reg1 == 2", "reg0 == 1 /* d */ && reg1 == 2", "0..5", "1..6", "1 ..6", "$as1", "$as2",
	"ip4.dst == 10.0.0.1", "ip4.dst == 10.0.0.300", "ip4.dst == 10.0.0.1..2", "ip4.dst == 010.0.0.1", "ip4.dst == 1.2.3.4a",
	"@pg1", "1<->2", "1<-2", "1--2", "1- -2", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:01x", `"x"1`, `"x"2`, "1", "a",
}

// TestSlotsOf: a string slotsOf matches against a template has the
// template's skeleton when lexed whole, and the same literals.
func TestSlotsOf(t *testing.T) {
	all := slices.Concat(shapeMatches, shapeActions, slotCases)
	for _, a := range all {
		for _, b := range all {
			checkSlotsOf(t, a, b)
		}
	}
}

func FuzzSlotsOf(f *testing.F) {
	for i, s := range slotCases {
		f.Add(s, slotCases[(i+1)%len(slotCases)])
	}
	f.Fuzz(func(t *testing.T, a, b string) { checkSlotsOf(t, a, b) })
}

func checkSlotsOf(t *testing.T, a, b string) {
	var ta, got, whole skel
	if !ta.lex(a) || !ta.direct() || !got.slotsOf(b, &ta) {
		return
	}
	if !whole.lex(b) || !whole.same(&ta) || len(got.slots) != len(whole.slots) {
		t.Fatalf("slotsOf(%q, template %q) matched, the whole lex differs", b, a)
	}
	for j := range whole.slots {
		if got.constOf(j) != whole.constOf(j) {
			t.Fatalf("slotsOf(%q, template %q): literal %d is %+v, the whole lex gives %+v", b, a, j, got.constOf(j), whole.constOf(j))
		}
	}
}
