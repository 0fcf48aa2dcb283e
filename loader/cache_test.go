package loader_test

import (
	"testing"

	"github.com/ovnbpf/ovnbpf/maps"
)

// The flow cache answers a repeated packet exactly as the pipeline did, and
// forgets everything when the control plane changes anything.
func TestPrivilegedFlowCache(t *testing.T) {
	h := standard(t)
	pkt := icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64)
	stats := func() (uint64, uint64) {
		hits, misses, _, err := h.St.CacheStats()
		if err != nil {
			t.Fatal(err)
		}
		return hits, misses
	}
	ret, first := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	h0, m0 := stats()
	ret, second := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	h1, m1 := stats()
	if h1 != h0+1 || m1 != m0 {
		t.Errorf("second packet: hits %d->%d misses %d->%d, want one hit", h0, h1, m0, m1)
	}
	if string(first) != string(second) {
		t.Errorf("cached verdict differs:\n%x\n%x", first, second)
	}
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm2"] {
		t.Errorf("cached copies %+v", o)
	}
	// vm2 moves to another device: the next packet must follow it
	dp, key := h.Topo.Port(t, "vm2")
	moved := h.Dev("vm2b")
	if err := h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortVIF, Ifindex: moved}); err != nil {
		t.Fatal(err)
	}
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != moved {
		t.Errorf("after the port moved: copies %+v, want ifindex %d", o, moved)
	}
	if _, m2 := stats(); m2 != m1+1 {
		t.Errorf("the change did not invalidate the cache (misses %d -> %d)", m1, m2)
	}
	// a table change (new generation) invalidates it too
	if _, err := h.Inst.Apply(nil); err != nil {
		t.Fatal(err)
	}
	_, m3 := stats()
	h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	if _, m4 := stats(); m4 != m3+1 {
		t.Errorf("a new generation did not invalidate the cache")
	}
}
