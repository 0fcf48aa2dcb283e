package loader_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
	"github.com/ovnbpf/ovnbpf/maps"
)

var (
	r0pub  = mac("00:00:00:00:ff:10")
	extMAC = mac("02:00:00:00:0e:01")
)

// gatewayTopology: sw0 (vm1) - r0 - pub, r0's port to pub a distributed
// gateway port (gateway chassis gw1), pub bridged to the physical network
// by the localnet port ln.
func gatewayTopology(t *testing.T) *looptest.Topology {
	return looptest.Northd(t,
		[]string{"ls-add", "sw0"},
		[]string{"lsp-add", "sw0", "vm1"},
		[]string{"lsp-set-addresses", "vm1", "00:00:00:00:00:01 10.0.0.1"},
		[]string{"lr-add", "r0"},
		[]string{"lrp-add", "r0", "r0-sw0", "00:00:00:00:ff:01", "10.0.0.254/24"},
		[]string{"lsp-add", "sw0", "sw0-r0"},
		[]string{"lsp-set-type", "sw0-r0", "router"},
		[]string{"lsp-set-addresses", "sw0-r0", "router"},
		[]string{"lsp-set-options", "sw0-r0", "router-port=r0-sw0"},
		[]string{"lrp-add", "r0", "r0-pub", r0pub.String(), "198.51.100.1/24"},
		[]string{"lrp-set-gateway-chassis", "r0-pub", "gw1", "10"},
		[]string{"ls-add", "pub"},
		[]string{"lsp-add", "pub", "pub-r0"},
		[]string{"lsp-set-type", "pub-r0", "router"},
		[]string{"lsp-set-addresses", "pub-r0", "router"},
		[]string{"lsp-set-options", "pub-r0", "router-port=r0-pub"},
		[]string{"lsp-add", "pub", "ln"},
		[]string{"lsp-set-type", "ln", "localnet"},
		[]string{"lsp-set-addresses", "ln", "unknown"},
		[]string{"lsp-set-options", "ln", "network_name=physnet1"},
	)
}

// Output to a chassisredirect port resident on this chassis (the active
// gateway) becomes output to its distributed port: the router's egress runs
// with r0-pub as outport and the packet leaves by its patch peer, pub, onto
// the physical network. This holds for a packet routed here and for one a
// remote chassis tunnelled to the gateway with outport = the cr port. When
// the cr port is on another chassis, the routed packet is tunnelled there.
func TestPrivilegedChassisRedirect(t *testing.T) {
	h := looptest.New(t)
	h.InstallTopology(gatewayTopology(t))
	h.Underlay()
	vm1 := h.Vif("vm1", "vm1", 0)
	h.Patch("sw0-r0", "r0-sw0")
	h.Patch("pub-r0", "r0-pub")
	phys := h.Dev("eth1")
	pub, ln := h.Topo.Port(t, "ln")
	for _, err := range []error{
		h.St.SetPort(maps.Port{Datapath: pub, Key: ln, Type: maps.PortLocalnet, Ifindex: phys}),
		h.St.BindLocalnet(phys, 0, pub, ln),
		h.St.SetDatapath(pub, ln),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"_MC_flood", "_MC_flood_l2", "_MC_unknown"} {
		h.Mcast("pub", g, []string{"ln"}, nil)
	}
	r0, crKey := h.Topo.Port(t, "cr-r0-pub")
	_, pubKey := h.Topo.Port(t, "r0-pub")
	_, sw0Key := h.Topo.Port(t, "r0-sw0")
	// the external host's MAC, as a MAC_Binding row gives it
	if err := h.St.SetMACBinding(r0, pubKey, netip.MustParseAddr("198.51.100.10"), extMAC, false); err != nil {
		t.Fatal(err)
	}
	redirect := maps.Port{Datapath: r0, Key: crKey, Type: maps.PortRedirect, PeerDatapath: r0, PeerKey: pubKey}
	if err := h.St.SetPort(redirect); err != nil {
		t.Fatal(err)
	}

	// the router's egress ran for r0-pub: its MAC is the source, the
	// external host's the destination, the TTL one less
	checkOut := func(what string, out []byte, ttl uint8) {
		t.Helper()
		o := h.Outputs()
		if len(o) != 1 || o[0].Kind != looptest.KindDevice || o[0].Ifindex != phys || o[0].Dp != pub || o[0].Outport != ln {
			t.Fatalf("%s: copies %+v, want one to eth1 as pub's ln (dp %d port %d)", what, o, pub, ln)
		}
		if !bytes.Equal(out[0:6], extMAC) || !bytes.Equal(out[6:12], r0pub) {
			t.Errorf("%s: Ethernet %s -> %s, want %s -> %s", what, net.HardwareAddr(out[6:12]), net.HardwareAddr(out[0:6]), r0pub, extMAC)
		}
		if out[14+8] != ttl {
			t.Errorf("%s: TTL %d, want %d", what, out[14+8], ttl)
		}
		if looptest.OnesSum(out[14:34]) != 0xffff {
			t.Errorf("%s: IPv4 header checksum not valid", what)
		}
	}

	// routed on the gateway chassis itself: r0's gw_redirect stage sets
	// outport = cr-r0-pub, the output stage redirects it to r0-pub
	pkt := icmpPacket(t, vm1MAC, r0sw0, "10.0.0.1", "198.51.100.10", 64)
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, vm1, pkt)
	expectRedirect(t, h, ret)
	checkOut("routed here", out, 63)

	// tunnelled to this gateway by the chassis that routed it: r0's
	// datapath, outport = the cr port, the inner packet already routed
	inner := icmpPacket(t, r0pub, extMAC, "10.0.0.1", "198.51.100.10", 63)
	ul, err := net.InterfaceByIndex(int(h.Devs["ul0"]))
	if err != nil {
		t.Fatal(err)
	}
	frame := ovsGeneveFrame(t, ul.HardwareAddr, inner)
	g := frame[14+20+8:]
	copy(g[4:7], []byte{byte(r0 >> 16), byte(r0 >> 8), byte(r0)})
	binary.BigEndian.PutUint32(g[12:16], sw0Key<<16|crKey)
	ret, out = h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], resum(frame))
	expectRedirect(t, h, ret)
	checkOut("from a tunnel", out, 63)
	if !bytes.Equal(out[14:], inner[14:]) {
		t.Errorf("from a tunnel: the inner IPv4 packet changed")
	}

	// another chassis is the active gateway: the routed packet goes there
	// by Geneve, r0's datapath, outport = the cr port
	if err := h.St.SetPort(maps.Port{Datapath: r0, Key: crKey, Type: maps.PortRemote, Chassis: looptest.RemoteEncap}); err != nil {
		t.Fatal(err)
	}
	ret, out = h.Exec(h.D.Objs.OvnbpfVifIngress, vm1, pkt)
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Kind != looptest.KindTunnel || o[0].Dp != r0 || o[0].Outport != crKey {
		t.Fatalf("gateway elsewhere: copies %+v, want one tunnel copy to dp %d outport %d", o, r0, crKey)
	}
	checkGeneve(t, h, out, r0, sw0Key, crKey)

	// the tunnelled packet on a chassis that is not (or no longer) the
	// gateway: never sent back into a tunnel
	before := h.Drops()["no_route"]
	if ret, _ = h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], frame); ret != looptest.ActShot || h.Drops()["no_route"] != before+1 {
		t.Errorf("cr port not resident, from a tunnel: verdict %d, drops %v, want dropped as no_route", ret, h.Drops())
	}
}
