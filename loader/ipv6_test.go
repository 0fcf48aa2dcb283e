package loader_test

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

func icmp6Echo(t *testing.T, src, dst net.HardwareAddr, sip, dip string) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP(sip), DstIP: net.ParseIP(dip)}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
}

// IPv6 through northd's switch pipeline: a link-local echo is switched (port
// security lets vm1's EUI-64 address through, a foreign one not), and a
// neighbour solicitation to a solicited-node group is flooded.
func TestPrivilegedIPv6(t *testing.T) {
	h := standard(t)
	pkt := icmp6Echo(t, vm1MAC, vm2MAC, "fe80::200:ff:fe00:1", "fe80::200:ff:fe00:2")
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm2"] {
		t.Errorf("copies %+v, want one to vm2", o)
	}
	if !bytes.Equal(out, pkt) {
		t.Errorf("switched IPv6 frame changed")
	}
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], icmp6Echo(t, vm1MAC, vm2MAC, "fe80::99", "fe80::200:ff:fe00:2"))
	if ret != looptest.ActShot {
		t.Errorf("foreign IPv6 source from vm1: verdict %d, want drop", ret)
	}
	// neighbour solicitation for fe80::200:ff:fe00:2 from vm1
	eth := &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: mac("33:33:ff:00:00:02"), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP("fe80::200:ff:fe00:1"), DstIP: net.ParseIP("ff02::1:ff00:2")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("fe80::200:ff:fe00:2"),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: vm1MAC}}}
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], serialize(t, eth, ip, icmp, ns))
	expectRedirect(t, h, ret)
	w := h.Work()
	if got := net.IP(w.Cur.Key.NdTarget[:]); !got.Equal(net.ParseIP("fe80::200:ff:fe00:2")) || !bytes.Equal(w.Cur.Key.NdSll[:], vm1MAC) {
		t.Errorf("parsed nd.target %v nd.sll %x", got, w.Cur.Key.NdSll)
	}
	tunnels, vm2 := 0, false
	for _, o := range h.Outputs() {
		if o.Kind == 2 {
			tunnels++
		}
		if o.Kind == 1 && o.Ifindex == h.Devs["vm2"] {
			vm2 = true
		}
	}
	if !vm2 || tunnels != 1 {
		t.Errorf("solicitation copies %+v: want vm2 and one tunnel copy", h.Outputs())
	}
}
