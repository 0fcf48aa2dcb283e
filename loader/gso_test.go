package loader_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// A VIF's device gets GRO when its program is attached, so the segments a VM
// sends cross the datapath and the tunnel as one packet; the underlay
// device is left as it was.
func TestPrivilegedAttachEnablesGROOnVIF(t *testing.T) {
	h := looptest.New(t)
	testutil.Need(t, "ethtool")
	gro := func(dev string) bool {
		out := testutil.MustRun(t, "ip", "netns", "exec", h.NS, "ethtool", "-k", dev)
		return strings.Contains(out, "generic-receive-offload: on")
	}
	vif, ul := h.Dev("vif0"), h.Dev("ul9")
	if gro("vif0") || gro("ul9") {
		t.Fatal("a new veth already has GRO on: this test would prove nothing")
	}
	if err := h.D.Attach("vif0", int(vif), loader.HookVIF); err != nil {
		t.Fatal(err)
	}
	if err := h.D.Attach("ul9", int(ul), loader.HookUnderlay); err != nil {
		t.Fatal(err)
	}
	if !gro("vif0") {
		t.Error("GRO off on the VIF after attach")
	}
	if gro("ul9") {
		t.Error("GRO turned on on the underlay device")
	}
}

// A GSO packet (what GRO on a VIF makes) is one segment long for
// check_pkt_larger, headers included, as in OVS's kernel datapath; it is
// still switched as one packet.
func TestPrivilegedGSOSegmentLength(t *testing.T) {
	h := standard(t)
	eth := &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm2MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := ip4Header(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, ACK: true, Window: 1000, DataOffset: 5}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	const mss, segs = 1000, 3
	frame := serialize(t, eth, ip, tcp, gopacket.Payload(bytes.Repeat([]byte("g"), segs*mss)))
	for _, tc := range []struct {
		name          string
		gsoSize, segs uint32
		want          uint32
	}{
		{"plain", 0, 0, uint32(len(frame))},
		{"gso", mss, segs, 14 + 20 + 20 + mss},
	} {
		ret, out := h.ExecGSO(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], frame, tc.gsoSize, tc.segs)
		expectRedirect(t, h, ret)
		if !bytes.Equal(out, frame) {
			t.Errorf("%s: switched frame changed", tc.name)
		}
		if got := h.Work().PktLen; got != tc.want {
			t.Errorf("%s: length for check_pkt_larger %d, want %d", tc.name, got, tc.want)
		}
	}
}
