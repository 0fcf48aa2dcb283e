package loader_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
	"github.com/ovnbpf/ovnbpf/maps"
)

// The per-CPU memo of the last flow cache hit answers the same flow's next
// packets as the entry would (devices, tunnel copies with their template,
// routed rewrites), gives way to the map when flows alternate, and never
// outlives a change of state.
func TestPrivilegedFlowMemo(t *testing.T) {
	h := standard(t)
	_, vm1 := h.Topo.Port(t, "vm1")
	_, vm3 := h.Topo.Port(t, "vm3")
	hits := func() uint64 {
		n, _, _, err := h.St.CacheStats()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	toVM2 := icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64)
	toVM3 := icmpPacket(t, vm1MAC, vm3MAC, "10.0.0.1", "10.0.0.3", 64)
	routed := icmpPacket(t, vm1MAC, r0sw0, "10.0.0.1", "10.0.1.4", 64)
	check := func(what string, pkt []byte, i int) {
		t.Helper()
		before := hits()
		ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
		expectRedirect(t, h, ret)
		if i > 0 && hits() != before+1 {
			t.Errorf("%s, packet %d: not a flow cache hit", what, i)
		}
		o := h.Outputs()
		switch {
		case bytes.Equal(pkt, toVM2):
			if len(o) != 1 || o[0].Ifindex != h.Devs["vm2"] || !bytes.Equal(out, pkt) {
				t.Errorf("%s, packet %d: copies %+v, want the packet as it is to vm2", what, i, o)
			}
		case bytes.Equal(pkt, toVM3):
			if inner := checkGeneve(t, h, out, h.Topo.DP["sw0"], vm1, vm3); !bytes.Equal(inner, pkt) {
				t.Errorf("%s, packet %d: inner frame changed", what, i)
			}
		default:
			if len(o) != 1 || o[0].Ifindex != h.Devs["vm4"] || !bytes.Equal(out[0:6], vm4MAC) || !bytes.Equal(out[6:12], r0sw1) || out[22] != 63 {
				t.Errorf("%s, packet %d: copies %+v, frame %x: want it routed to vm4", what, i, o, out[:34])
			}
		}
	}
	// one flow after another, each several times (the memo answers from the
	// third packet on), then interleaved (the memo gives way each time)
	for _, pkt := range [][]byte{toVM2, toVM3, routed} {
		for i := 0; i < 4; i++ {
			check("in a row", pkt, i)
		}
	}
	for i := 0; i < 6; i++ {
		check("interleaved", [][]byte{toVM2, toVM3, routed}[i%3], i+1)
	}
	// vm2 moves to another device: the memo of its flow must not answer
	for i := 0; i < 3; i++ {
		check("before the move", toVM2, i+1)
	}
	dp, key := h.Topo.Port(t, "vm2")
	moved := h.Dev("vm2b")
	if err := h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortVIF, Ifindex: moved}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], toVM2)
		expectRedirect(t, h, ret)
		if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != moved {
			t.Errorf("after the move, packet %d: copies %+v, want ifindex %d", i, o, moved)
		}
	}
}

// A flow cache hit's tunnel copy takes this CPU's last next hop only when it
// is for the copy's own chassis and has not expired: streams to two chassis
// behind different next hops, in a row and interleaved, each leave with
// their own outer addresses; after the next hop changes in the kernel and
// the remembered answer expires, packets follow the new one.
func TestPrivilegedGeneveCachedNextHop(t *testing.T) {
	h := standard(t)
	dp := h.Topo.DP["sw0"]
	_, vm1 := h.Topo.Port(t, "vm1")
	_, vm2 := h.Topo.Port(t, "vm2")
	_, vm3 := h.Topo.Port(t, "vm3")
	// vm2 lives on a second remote chassis, behind another next hop
	other := netip.MustParseAddr("192.0.2.3")
	otherMAC := mac("02:00:00:00:00:03")
	h.IP("neigh", "add", other.String(), "lladdr", otherMAC.String(), "dev", "ul0", "nud", "permanent")
	h.Remote("vm2", other)
	toVM3 := icmpPacket(t, vm1MAC, vm3MAC, "10.0.0.1", "10.0.0.3", 64)
	toVM2 := icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64)
	send := func(what string, pkt []byte, outport uint32, chassis netip.Addr, nextHop net.HardwareAddr) {
		t.Helper()
		ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
		expectRedirect(t, h, ret)
		if inner := checkGeneveTo(t, h, out, dp, vm1, outport, chassis, nextHop); !bytes.Equal(inner, pkt) {
			t.Errorf("%s: inner frame changed", what)
		}
	}
	for i := 0; i < 3; i++ {
		send("vm3 in a row", toVM3, vm3, looptest.RemoteEncap, looptest.RemoteMAC)
	}
	for i := 0; i < 3; i++ {
		send("vm2 in a row", toVM2, vm2, other, otherMAC)
	}
	for i := 0; i < 6; i++ {
		if i%2 == 0 {
			send("interleaved, vm3", toVM3, vm3, looptest.RemoteEncap, looptest.RemoteMAC)
		} else {
			send("interleaved, vm2", toVM2, vm2, other, otherMAC)
		}
	}
	// the second chassis' next hop changes: once the remembered answer has
	// expired (10 jiffies, at most 100 ms), the stream follows the kernel
	moved := mac("02:00:00:00:00:33")
	h.IP("neigh", "replace", other.String(), "lladdr", moved.String(), "dev", "ul0", "nud", "permanent")
	time.Sleep(150 * time.Millisecond)
	for i := 0; i < 3; i++ {
		send("after the next hop moved", toVM2, vm2, other, moved)
	}
}
