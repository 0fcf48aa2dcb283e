package loader_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/maps"
)

// The router learns a neighbour from an ARP reply sent to it (put_arp in
// lr_in_learn_neighbor): the MAC binding is written unless the
// controller pinned the entry (an overriding Static_MAC_Binding), which
// keeps OVN's precedence of such a binding over anything learnt.
func TestPrivilegedLearntMACBindingRespectsPinned(t *testing.T) {
	h := standard(t)
	dp, port := h.Topo.Port(t, "r0-sw0")
	ip := netip.MustParseAddr("10.0.0.2")
	key := maps.DatapathOvnbpfMacbindKey{Dp: dp, Port: port}
	copy(key.Ip[:], ip.AsSlice())
	static := mac("02:00:00:00:00:5a")
	reply := serialize(t,
		&layers.Ethernet{SrcMAC: vm2MAC, DstMAC: r0sw0, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
			ProtAddressSize: 4, Operation: layers.ARPReply, SourceHwAddress: vm2MAC,
			SourceProtAddress: ip.AsSlice(), DstHwAddress: r0sw0, DstProtAddress: net.IP{10, 0, 0, 254}})

	entry := func() (net.HardwareAddr, uint8) {
		t.Helper()
		var v maps.DatapathOvnbpfMacbindVal
		if err := h.D.Objs.OvnbpfMacbind.Lookup(&key, &v); err != nil {
			t.Fatalf("MAC binding of 10.0.0.2 on r0-sw0: %v", err)
		}
		return net.HardwareAddr(v.Mac[:]), v.Flags
	}
	for _, tc := range []struct {
		name     string
		preset   bool // an entry written before the request
		pinned   bool
		wantMAC  net.HardwareAddr
		wantFlag uint8
	}{
		{"nothing known: learnt", false, false, vm2MAC, 0},
		{"a dynamic binding: replaced", true, false, vm2MAC, 0},
		{"a pinned binding: kept", true, true, static, uint8(maps.DatapathOvnbpfMacbindFlagOVNBPF_MACBIND_PINNED)},
	} {
		h.ForgetLearned()
		if tc.preset {
			if err := h.St.SetMACBinding(dp, port, ip, static, tc.pinned); err != nil {
				t.Fatal(err)
			}
		}
		h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm2"], reply) // the router consumes it
		if got, flags := entry(); !bytes.Equal(got, tc.wantMAC) || flags != tc.wantFlag {
			t.Errorf("%s: MAC binding %s flags %d, want %s flags %d", tc.name, got, flags, tc.wantMAC, tc.wantFlag)
		}
	}
}
