package loader_test

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

// Tables built from pipeline's IR directly (no northd): a conjunction and
// the installer's generations.
const irDP = 9

func exact(f pipeline.Field, v ...byte) pipeline.FieldMatch {
	m := make([]byte, len(v))
	for i := range m {
		m[i] = 0xff
	}
	return pipeline.FieldMatch{Field: f, Value: v, Mask: m}
}

func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func setOutport(p uint32) pipeline.Op {
	return pipeline.SetField{Field: pipeline.FieldOutport, Value: u32(p), Mask: u32(0xffffffff)}
}

// irHarness: ports 1 (in) and 2, 3 (out) on datapath irDP; egress table 0
// just outputs.
func irHarness(t *testing.T) *looptest.Harness {
	h := looptest.New(t)
	for i, n := range []string{"p1", "p2", "p3"} {
		idx := h.Dev(n)
		if err := h.St.SetPort(maps.Port{Datapath: irDP, Key: uint32(i + 1), Type: maps.PortVIF, Ifindex: idx}); err != nil {
			t.Fatal(err)
		}
		if err := h.St.BindVIF(idx, 0, irDP, uint32(i+1), 0); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func tcpPacket(t *testing.T, src string, dport uint16) []byte {
	eth := &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm2MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := ip4Header(layers.IPProtocolTCP)
	ip.SrcIP = parseIP4(src)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(dport), SYN: true, Window: 1000, DataOffset: 5}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, tcp, gopacket.Payload([]byte("x")))
}

func parseIP4(s string) []byte {
	var b [4]byte
	var i, v int
	for _, c := range s + "." {
		if c == '.' {
			b[i] = byte(v)
			i, v = i+1, 0
			continue
		}
		v = v*10 + int(c-'0')
	}
	return b[:]
}

func TestPrivilegedConjunction(t *testing.T) {
	h := irHarness(t)
	ipv4 := exact(pipeline.FieldEthType, 0x08, 0x00)
	tcp := exact(pipeline.FieldIPProto, 6)
	dp := exact(pipeline.FieldDP, u32(irDP)...)
	in := maps.TableID{Datapath: irDP, Pipeline: pipeline.Ingress, Table: 0}
	out := maps.TableID{Datapath: irDP, Pipeline: pipeline.Egress, Table: 0}
	conj := func(f pipeline.FieldMatch, clause uint8) pipeline.Rule {
		return pipeline.Rule{Lflow: "conj-member", Datapath: irDP, Priority: 100,
			Match: []pipeline.FieldMatch{dp, ipv4, tcp, f}, Conj: []pipeline.ConjRef{{ID: 5, Clause: clause, NClauses: 2}}}
	}
	rules := []pipeline.Rule{
		// ip4.src in {10.0.0.1, 10.0.0.5} && tcp.dst in {80, 443} -> port 2, as a conjunction
		conj(exact(pipeline.FieldIP4Src, 10, 0, 0, 1), 1),
		conj(exact(pipeline.FieldIP4Src, 10, 0, 0, 5), 1),
		conj(exact(pipeline.FieldTpDst, 0, 80), 2),
		conj(exact(pipeline.FieldTpDst, 1, 187), 2),
		{Lflow: "conj-action", Datapath: irDP, Priority: 100, Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldConjID, u32(5)...)},
			Actions: []pipeline.Op{setOutport(2), pipeline.Output{}}},
		// anything else -> port 3
		{Lflow: "default", Datapath: irDP, Priority: 0, Match: []pipeline.FieldMatch{dp}, Actions: []pipeline.Op{setOutport(3), pipeline.Output{}}},
	}
	rep, err := h.Inst.Apply(map[maps.TableID][]pipeline.Rule{
		in:  rules,
		out: {{Lflow: "egress", Datapath: irDP, Pipeline: pipeline.Egress, Match: []pipeline.FieldMatch{dp}, Actions: []pipeline.Op{pipeline.Output{}}}},
	})
	if err != nil || len(rep.Errors) > 0 {
		t.Fatalf("apply: %v %v", err, rep.Errors)
	}
	for _, tc := range []struct {
		src  string
		port uint16
		want string
	}{{"10.0.0.1", 80, "p2"}, {"10.0.0.5", 443, "p2"}, {"10.0.0.1", 22, "p3"}, {"10.0.0.9", 80, "p3"}} {
		ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["p1"], tcpPacket(t, tc.src, tc.port))
		expectRedirect(t, h, ret)
		if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs[tc.want] {
			t.Errorf("%s:%d went to %+v, want %s", tc.src, tc.port, o, tc.want)
		}
	}
	// the per-lflow counters name what ran
	hits, _, err := h.St.LflowStats(h.Inst.LflowIndex("conj-action"))
	if err != nil || hits != 2 {
		t.Errorf("conj-action hits %d (%v), want 2", hits, err)
	}
}

func TestPrivilegedInstallerGenerations(t *testing.T) {
	h := irHarness(t)
	dp := exact(pipeline.FieldDP, u32(irDP)...)
	in := maps.TableID{Datapath: irDP, Pipeline: pipeline.Ingress, Table: 0}
	egress := map[maps.TableID][]pipeline.Rule{{Datapath: irDP, Pipeline: pipeline.Egress}: {
		{Lflow: "egress", Datapath: irDP, Pipeline: pipeline.Egress, Match: []pipeline.FieldMatch{dp}, Actions: []pipeline.Op{pipeline.Output{}}}}}
	if _, err := h.Inst.Apply(egress); err != nil {
		t.Fatal(err)
	}
	byMAC := func(m []byte, port uint32, lflow string) pipeline.Rule {
		return pipeline.Rule{Lflow: lflow, Datapath: irDP, Priority: 50,
			Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldEthDst, m...)}, Actions: []pipeline.Op{setOutport(port), pipeline.Output{}}}
	}
	apply := func(rules ...pipeline.Rule) *maps.ApplyReport {
		t.Helper()
		rep, err := h.Inst.Apply(map[maps.TableID][]pipeline.Rule{in: rules})
		if err != nil || len(rep.Errors) > 0 {
			t.Fatalf("apply: %v %v", err, rep.Errors)
		}
		return rep
	}
	to := func(m []byte) string {
		t.Helper()
		ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["p1"], icmpPacket(t, vm1MAC, m, "10.0.0.1", "10.0.0.2", 64))
		if ret != looptest.ActRedirect {
			return "dropped"
		}
		for n, idx := range h.Devs {
			if o := h.Outputs(); len(o) == 1 && o[0].Ifindex == idx {
				return n
			}
		}
		return "?"
	}
	rep := apply(byMAC(vm2MAC, 2, "a"), byMAC(vm3MAC, 3, "b"))
	if rep.Written != 2 || to(vm2MAC) != "p2" || to(vm3MAC) != "p3" {
		t.Fatalf("first apply: %+v, vm2 -> %s, vm3 -> %s", rep, to(vm2MAC), to(vm3MAC))
	}
	g := rep.Generation
	// the same contents again: nothing written
	if rep := apply(byMAC(vm2MAC, 2, "a"), byMAC(vm3MAC, 3, "b")); rep.Written != 0 || rep.Generation != g+1 {
		t.Errorf("unchanged apply wrote %d entries (generation %d)", rep.Written, rep.Generation)
	}
	// one rule changes, one goes: two entries written, both visible at once
	rep = apply(byMAC(vm2MAC, 3, "a2"))
	if rep.Written != 2 || rep.Deleted != 1 {
		t.Errorf("diff apply: %+v, want 2 written, 1 deleted", rep)
	}
	if got := to(vm2MAC); got != "p3" {
		t.Errorf("vm2 -> %s after the change, want p3", got)
	}
	if got := to(vm3MAC); got != "dropped" {
		t.Errorf("vm3 -> %s after its rule went, want dropped", got)
	}
	if entries := countEntries(t, h); entries != 3 { // egress, vm2's, and vm3's until the next apply releases it
		t.Errorf("%d classifier entries, want 3 before release", entries)
	}
	apply(byMAC(vm2MAC, 3, "a2"))
	if entries := countEntries(t, h); entries != 2 {
		t.Errorf("%d classifier entries after release, want 2", entries)
	}
}

// A restarted daemon reads back what is installed: the same tables write
// nothing, and a change reuses no id or op slot still in use.
func TestPrivilegedInstallerReconcile(t *testing.T) {
	h := irHarness(t)
	dp := exact(pipeline.FieldDP, u32(irDP)...)
	in := maps.TableID{Datapath: irDP, Pipeline: pipeline.Ingress, Table: 0}
	eg := maps.TableID{Datapath: irDP, Pipeline: pipeline.Egress}
	byMAC := func(m []byte, port uint32, lflow string) pipeline.Rule {
		return pipeline.Rule{Lflow: lflow, Datapath: irDP, Priority: 50,
			Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldEthDst, m...)}, Actions: []pipeline.Op{setOutport(port), pipeline.Output{}}}
	}
	egress := []pipeline.Rule{{Lflow: "egress", Datapath: irDP, Pipeline: pipeline.Egress, Match: []pipeline.FieldMatch{dp}, Actions: []pipeline.Op{pipeline.Output{}}}}
	tables := map[maps.TableID][]pipeline.Rule{in: {byMAC(vm2MAC, 2, "a"), byMAC(vm3MAC, 3, "b")}, eg: egress}
	if _, err := h.Inst.Apply(tables); err != nil {
		t.Fatal(err)
	}
	to := func(m []byte) uint32 {
		ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["p1"], udpPacket(t, vm1MAC, m, "10.0.0.1", "10.0.0.2", 1234))
		if ret != looptest.ActRedirect {
			return 0
		}
		return h.Outputs()[0].Ifindex
	}
	// the daemon restarts: a new installer on the same (pinned) maps
	again, err := maps.NewInstaller(&h.D.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	if again.LflowIndex("a") != h.Inst.LflowIndex("a") || again.LflowIndex("a") == 0 {
		t.Errorf("lflow index of a: %d after restart, %d before", again.LflowIndex("a"), h.Inst.LflowIndex("a"))
	}
	rep, err := again.Apply(tables)
	if err != nil || rep.Written != 0 {
		t.Fatalf("re-applying the installed tables wrote %d entries (%v)", rep.Written, err)
	}
	if to(vm2MAC) != h.Devs["p2"] || to(vm3MAC) != h.Devs["p3"] {
		t.Fatalf("forwarding changed across the restart")
	}
	// a change after the restart: new entries must not overwrite live ones
	tables[in] = append(tables[in], byMAC(vm4MAC, 2, "c"))
	tables[maps.TableID{Datapath: irDP, Pipeline: pipeline.Ingress, Table: 1}] = []pipeline.Rule{
		{Lflow: "d", Datapath: irDP, Priority: 1, Match: []pipeline.FieldMatch{dp, exact(pipeline.FieldIPProto, 6)}, Actions: []pipeline.Op{pipeline.Drop{}}}}
	rep, err = again.Apply(tables)
	if err != nil || rep.Written != 2 || len(rep.Errors) > 0 {
		t.Fatalf("apply after restart: %+v %v", rep, err)
	}
	if to(vm2MAC) != h.Devs["p2"] || to(vm3MAC) != h.Devs["p3"] || to(vm4MAC) != h.Devs["p2"] {
		t.Errorf("after the change: vm2 -> %d vm3 -> %d vm4 -> %d", to(vm2MAC), to(vm3MAC), to(vm4MAC))
	}
}

// countEntries counts the classifier entries of both rules maps.
func countEntries(t *testing.T, h *looptest.Harness) int {
	n := 0
	var nk maps.DatapathOvnbpfRuleKey
	var wk maps.DatapathOvnbpfRuleKeyW
	var v maps.DatapathOvnbpfRule
	it := h.D.Objs.OvnbpfRules.Iterate()
	for it.Next(&nk, &v) {
		n++
	}
	wit := h.D.Objs.OvnbpfRulesW.Iterate()
	for wit.Next(&wk, &v) {
		n++
	}
	if it.Err() != nil || wit.Err() != nil {
		t.Fatal(it.Err(), wit.Err())
	}
	return n
}
