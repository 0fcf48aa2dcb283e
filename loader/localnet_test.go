package loader_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
	"github.com/ovnbpf/ovnbpf/maps"
)

// A switch bridged to a physical network by a localnet port (VLAN 100):
// a remote port is reached through the localnet device with the tag, never
// by a tunnel; packets from the physical network enter as the localnet port.
func TestPrivilegedLocalnet(t *testing.T) {
	h := looptest.New(t)
	h.InstallTopology(looptest.Northd(t,
		[]string{"ls-add", "swl"},
		[]string{"lsp-add", "swl", "ln"},
		[]string{"lsp-set-type", "ln", "localnet"},
		[]string{"lsp-set-addresses", "ln", "unknown"},
		[]string{"lsp-set-options", "ln", "network_name=physnet1"},
		[]string{"set", "logical_switch_port", "ln", "tag=100"},
		[]string{"lsp-add", "swl", "l1"},
		[]string{"lsp-set-addresses", "l1", "00:00:00:00:00:01 10.0.0.1"},
		[]string{"lsp-add", "swl", "l2"},
		[]string{"lsp-set-addresses", "l2", "00:00:00:00:00:02 10.0.0.2"},
	))
	h.Underlay()
	l1 := h.Vif("l1", "l1", 0)
	phys := h.Dev("eth1")
	dp, lnKey := h.Topo.Port(t, "ln")
	if err := h.St.SetPort(maps.Port{Datapath: dp, Key: lnKey, Type: maps.PortLocalnet, Ifindex: phys, VLAN: 100}); err != nil {
		t.Fatal(err)
	}
	if err := h.St.BindLocalnet(phys, 100, dp, lnKey); err != nil {
		t.Fatal(err)
	}
	if err := h.St.SetDatapath(dp, lnKey); err != nil {
		t.Fatal(err)
	}
	h.Remote("l2", looptest.RemoteEncap)
	h.Mcast("swl", "_MC_flood", []string{"l1", "ln"}, []netip.Addr{looptest.RemoteEncap})

	// to the remote port: out through eth1 with VLAN 100
	pkt := icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64)
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, l1, pkt)
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Kind != 1 || o[0].Ifindex != phys || o[0].Vlan != 100 {
		t.Fatalf("copies %+v, want one to eth1 with VLAN 100", o)
	}
	if !bytes.Equal(out, pkt) {
		t.Errorf("bridged frame changed: %x", out)
	}
	// flood: l1 is the sender, so only the localnet copy; no tunnel
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, l1, arpRequest(t, vm1MAC, "10.0.0.1", "10.0.0.9"))
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Kind != 1 || o[0].Ifindex != phys || o[0].Vlan != 100 {
		t.Errorf("flood copies %+v, want only the localnet copy", o)
	}
	// from the physical network, tagged 100: enters as ln, delivered to l1 untagged
	back := icmpPacket(t, vm2MAC, vm1MAC, "10.0.0.2", "10.0.0.1", 64)
	ret, out = h.Exec(h.D.Objs.OvnbpfVifIngress, phys, vlanTag(back, 100))
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != l1 || o[0].Vlan != 0 {
		t.Errorf("from the physical network: copies %+v, want one to l1", o)
	}
	if !bytes.Equal(out, back) {
		t.Errorf("delivered frame\n got %x\nwant %x", out, back)
	}
}
