package loader_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
	"github.com/ovnbpf/ovnbpf/maps"
)

var (
	vm1MAC  = mac("00:00:00:00:00:01")
	vm2MAC  = mac("00:00:00:00:00:02")
	vm3MAC  = mac("00:00:00:00:00:03")
	vm4MAC  = mac("00:00:00:00:00:04")
	vm1cMAC = mac("00:00:00:00:00:11")
	r0sw0   = mac("00:00:00:00:ff:01")
	r0sw1   = mac("00:00:00:00:ff:02")
)

// standardTopology: sw0 (vm1, vm2 here; vm3 on a remote chassis; vm1c a
// container on vm1 with tag 42; vm1 with port security) - r0 - sw1 (vm4).
// Tunnel keys are fixed where the real-OVS Geneve capture depends on them:
// sw0 = 1, vm3 = 1, vm1 = 2.
// standardTopology is built by northd once per test binary (tests only read
// the compiled tables).
func standardTopology(t testing.TB) *looptest.Topology {
	t.Helper()
	standardOnce.Do(func() { standardTopo = looptest.Northd(t, standardCmds()...) })
	if standardTopo == nil {
		t.Fatal("the standard topology could not be built (see the first test that tried)")
	}
	return standardTopo
}

var (
	standardOnce sync.Once
	standardTopo *looptest.Topology
)

func standardCmds() [][]string {
	return [][]string{
		[]string{"ls-add", "sw0"},
		[]string{"set", "logical_switch", "sw0", "other_config:requested-tnl-key=1"},
		[]string{"lsp-add", "sw0", "vm3"},
		[]string{"lsp-set-addresses", "vm3", "00:00:00:00:00:03 10.0.0.3"},
		[]string{"set", "logical_switch_port", "vm3", "options:requested-tnl-key=1"},
		[]string{"lsp-add", "sw0", "vm1"},
		[]string{"lsp-set-addresses", "vm1", "00:00:00:00:00:01 10.0.0.1"},
		[]string{"set", "logical_switch_port", "vm1", "options:requested-tnl-key=2"},
		[]string{"lsp-set-port-security", "vm1", "00:00:00:00:00:01 10.0.0.1"},
		[]string{"lsp-add", "sw0", "vm2"},
		[]string{"lsp-set-addresses", "vm2", "00:00:00:00:00:02 10.0.0.2"},
		[]string{"lsp-add", "sw0", "vm1c", "vm1", "42"},
		[]string{"lsp-set-addresses", "vm1c", "00:00:00:00:00:11 10.0.0.11"},
		[]string{"lr-add", "r0"},
		[]string{"lrp-add", "r0", "r0-sw0", "00:00:00:00:ff:01", "10.0.0.254/24"},
		[]string{"lsp-add", "sw0", "sw0-r0"},
		[]string{"lsp-set-type", "sw0-r0", "router"},
		[]string{"lsp-set-addresses", "sw0-r0", "router"},
		[]string{"lsp-set-options", "sw0-r0", "router-port=r0-sw0"},
		[]string{"ls-add", "sw1"},
		[]string{"lsp-add", "sw1", "vm4"},
		[]string{"lsp-set-addresses", "vm4", "00:00:00:00:00:04 10.0.1.4"},
		[]string{"lrp-add", "r0", "r0-sw1", "00:00:00:00:ff:02", "10.0.1.254/24"},
		[]string{"lsp-add", "sw1", "sw1-r0"},
		[]string{"lsp-set-type", "sw1-r0", "router"},
		[]string{"lsp-set-addresses", "sw1-r0", "router"},
		[]string{"lsp-set-options", "sw1-r0", "router-port=r0-sw1"},
	}
}

// standard loads the datapath with the standard topology bound the way a
// chassis holding vm1, vm1c, vm2 and vm4 would bind it.
func standard(t testing.TB) *looptest.Harness {
	h := looptest.New(t)
	h.InstallTopology(standardTopology(t))
	bindStandard(t, h)
	return h
}

func bindStandard(t testing.TB, h *looptest.Harness) {
	h.Underlay()
	h.Vif("vm1", "vm1", 0)
	h.Vif("vm2", "vm2", 0)
	h.Vif("vm1c", "vm1", 42)
	h.Vif("vm4", "vm4", 0)
	h.Remote("vm3", looptest.RemoteEncap)
	h.Patch("sw0-r0", "r0-sw0")
	h.Patch("sw1-r0", "r0-sw1")
	for _, g := range []string{"_MC_flood", "_MC_flood_l2"} {
		h.Mcast("sw0", g, []string{"vm1", "vm2", "vm1c", "sw0-r0"}, []netip.Addr{looptest.RemoteEncap})
		h.Mcast("sw1", g, []string{"vm4", "sw1-r0"}, nil)
	}
	mustPortSecurity(t, h, "vm1", "00:00:00:00:00:01", "10.0.0.1/32")
}

func mustPortSecurity(t testing.TB, h *looptest.Harness, port, m, prefix string) {
	dp, key := h.Topo.Port(t, port)
	if err := h.St.SetPortSecurity(dp, key, []maps.PortSecurityEntry{{MAC: mac(m), Prefixes: []netip.Prefix{netip.MustParsePrefix(prefix)}}}); err != nil {
		t.Fatal(err)
	}
}

func expectRedirect(t *testing.T, h *looptest.Harness, ret uint32) {
	t.Helper()
	if ret != looptest.ActRedirect {
		t.Fatalf("verdict %d, want redirect (%d); drops %v", ret, looptest.ActRedirect, h.Drops())
	}
}

func TestPrivilegedL2Local(t *testing.T) {
	h := standard(t)
	pkt := icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64)
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	if !bytes.Equal(out, pkt) {
		t.Errorf("switched packet changed:\n got %x\nwant %x", out, pkt)
	}
	o := h.Outputs()
	if len(o) != 1 || o[0].Kind != 1 || o[0].Ifindex != h.Devs["vm2"] || o[0].Vlan != 0 {
		t.Fatalf("copies %+v, want one to vm2 (ifindex %d)", o, h.Devs["vm2"])
	}
	if d := h.Drops(); len(d) != 0 {
		t.Errorf("drops counted: %v", d)
	}
}

// checkGeneve verifies a Geneve packet as OVS builds it, field by field, and
// returns the inner frame.
func checkGeneve(t *testing.T, h *looptest.Harness, b []byte, vni uint32, inport, outport uint32) []byte {
	t.Helper()
	return checkGeneveTo(t, h, b, vni, inport, outport, looptest.RemoteEncap, looptest.RemoteMAC)
}

// checkGeneveTo is checkGeneve for a packet to the chassis at chassis, whose
// next hop has MAC nextHop.
func checkGeneveTo(t *testing.T, h *looptest.Harness, b []byte, vni uint32, inport, outport uint32,
	chassis netip.Addr, nextHop net.HardwareAddr) []byte {
	t.Helper()
	ul, err := net.InterfaceByIndex(int(h.Devs["ul0"]))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 14+20+8+16+14 {
		t.Fatalf("tunnel packet of %d bytes", len(b))
	}
	if !bytes.Equal(b[0:6], nextHop) || !bytes.Equal(b[6:12], ul.HardwareAddr) || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		t.Errorf("outer Ethernet %x, want dst %s src %s type 0800", b[:14], nextHop, ul.HardwareAddr)
	}
	ip := b[14:34]
	if ip[0] != 0x45 || binary.BigEndian.Uint16(ip[2:]) != uint16(len(b)-14) || ip[6] != 0x40 || ip[8] != 64 || ip[9] != 17 {
		t.Errorf("outer IPv4 header %x: want ver/ihl 45, total length %d, DF, ttl 64, UDP", ip, len(b)-14)
	}
	if looptest.OnesSum(ip) != 0xffff {
		t.Errorf("outer IPv4 checksum wrong: %x", ip)
	}
	if !bytes.Equal(ip[12:16], looptest.LocalEncap.AsSlice()) || !bytes.Equal(ip[16:20], chassis.AsSlice()) {
		t.Errorf("outer addresses %v -> %v", net.IP(ip[12:16]), net.IP(ip[16:20]))
	}
	udp := b[34:42]
	if sp := binary.BigEndian.Uint16(udp[0:]); sp < 49152 {
		t.Errorf("UDP source port %d outside the ephemeral range", sp)
	}
	if binary.BigEndian.Uint16(udp[2:]) != 6081 || binary.BigEndian.Uint16(udp[4:]) != uint16(len(b)-34) {
		t.Errorf("UDP header %x: want port 6081, length %d", udp, len(b)-34)
	}
	// UDP checksum: pseudo header + UDP header + payload sums to all ones
	pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), udp[4:6]...)
	if binary.BigEndian.Uint16(udp[6:]) == 0 || looptest.OnesSum(append(pseudo, b[34:]...)) != 0xffff {
		t.Errorf("UDP checksum %x is not valid", udp[6:8])
	}
	g := b[42:58]
	want := []byte{0x02, 0x40, 0x65, 0x58, byte(vni >> 16), byte(vni >> 8), byte(vni), 0,
		0x01, 0x02, 0x80, 0x01, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(want[12:], inport<<16|outport)
	if !bytes.Equal(g, want) {
		t.Errorf("Geneve header and option\n got %x\nwant %x", g, want)
	}
	return b[58:]
}

func TestPrivilegedL2RemoteGeneve(t *testing.T) {
	h := standard(t)
	_, vm1 := h.Topo.Port(t, "vm1")
	_, vm3 := h.Topo.Port(t, "vm3")
	udp := func() []byte {
		eth := &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm3MAC, EthernetType: layers.EthernetTypeIPv4}
		ip := ip4Header(layers.IPProtocolUDP)
		ip.DstIP = net.IP{10, 0, 0, 3}
		u := &layers.UDP{SrcPort: 5000, DstPort: 53}
		if err := u.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return serialize(t, eth, ip, u, gopacket.Payload(bytes.Repeat([]byte("u"), 333)))
	}
	arpReply := serialize(t, &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm3MAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: vm1MAC, SourceProtAddress: []byte{10, 0, 0, 1},
			DstHwAddress: vm3MAC, DstProtAddress: []byte{10, 0, 0, 3}})
	tcp := tcpPacket(t, "10.0.0.1", 80)
	copy(tcp[0:6], vm3MAC)
	tcp[33] = 3 // to 10.0.0.3
	tcp = fixIPv4(t, tcp)
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"icmp", icmpPacket(t, vm1MAC, vm3MAC, "10.0.0.1", "10.0.0.3", 64)},
		{"tcp", tcp},
		{"udp", udp()},
		{"arp", arpReply}, // no inner checksum: the whole datagram is summed
	} {
		ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], tc.pkt)
		expectRedirect(t, h, ret)
		inner := checkGeneve(t, h, out, h.Topo.DP["sw0"], vm1, vm3)
		if !bytes.Equal(inner, tc.pkt) {
			t.Errorf("%s: inner frame\n got %x\nwant %x", tc.name, inner, tc.pkt)
		}
		if o := h.Outputs(); len(o) != 1 || o[0].Kind != 2 || o[0].ChassisIp != maps.BE32(looptest.RemoteEncap) {
			t.Errorf("%s: copies %+v, want one tunnel copy to %s", tc.name, o, looptest.RemoteEncap)
		}
	}
}

// fixIPv4 recomputes the IPv4 and TCP/UDP checksums of an edited frame.
func fixIPv4(t *testing.T, frame []byte) []byte {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	var ls []gopacket.SerializableLayer
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.TCP:
			if err := l.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		case *layers.UDP:
			if err := l.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		}
		if sl, ok := l.(gopacket.SerializableLayer); ok {
			ls = append(ls, sl)
		}
	}
	return serialize(t, ls...)
}

func TestPrivilegedFlood(t *testing.T) {
	h := standard(t)
	before := map[string]int{"vm1": h.TxPackets("vm1"), "vm2": h.TxPackets("vm2")}
	pkt := arpRequest(t, vm1MAC, "10.0.0.1", "10.0.0.99")
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	got := map[string]bool{}
	for _, o := range h.Outputs() {
		switch {
		case o.Kind == 1 && o.Ifindex == h.Devs["vm2"] && o.Vlan == 0:
			got["vm2"] = true
		case o.Kind == 1 && o.Ifindex == h.Devs["vm1"] && o.Vlan == 42:
			got["vm1c"] = true
		case o.Kind == 2 && o.ChassisIp == maps.BE32(looptest.RemoteEncap):
			got["tunnel"] = true
		default:
			t.Errorf("unexpected copy %+v", o)
		}
	}
	for _, want := range []string{"vm2", "vm1c", "tunnel"} {
		if !got[want] {
			t.Errorf("no copy to %s (copies %+v)", want, h.Outputs())
		}
	}
	if len(h.Outputs()) != 3 {
		t.Errorf("%d copies, want 3: the sender's own copy is dropped by the loopback check, the router does not forward ARP for 10.0.0.99", len(h.Outputs()))
	}
	// device copies were really sent; the tunnel copy is the verdict's packet
	for dev, n := range before {
		if after := h.TxPackets(dev); after != n+1 {
			t.Errorf("%s sent %d packets, want 1", dev, after-n)
		}
	}
	dp := h.Topo.DP["sw0"]
	flood, _ := h.Topo.Snap.MulticastGroup(dp, "_MC_flood")
	flood2, _ := h.Topo.Snap.MulticastGroup(dp, "_MC_flood_l2")
	_, vm1 := h.Topo.Port(t, "vm1")
	inner := out[58:]
	if !bytes.Equal(inner, pkt) {
		t.Errorf("tunnelled flood copy changed: %x", inner)
	}
	opt := binary.BigEndian.Uint32(out[54:58])
	if opt>>16 != vm1 || (opt&0xffff != flood && opt&0xffff != flood2) {
		t.Errorf("Geneve option %08x, want inport %d and a flood group (%d or %d)", opt, vm1, flood, flood2)
	}
}

func TestPrivilegedPortSecurityDropsSpoofedSource(t *testing.T) {
	h := standard(t)
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"spoofed MAC", icmpPacket(t, mac("00:00:00:00:00:99"), vm2MAC, "10.0.0.1", "10.0.0.2", 64)},
		{"spoofed IPv4", icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.77", "10.0.0.2", 64)},
	} {
		before := h.Drops()["port_sec"]
		ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], tc.pkt)
		if ret != looptest.ActShot {
			t.Errorf("%s: verdict %d, want drop", tc.name, ret)
		}
		if got := h.Drops()["port_sec"]; got != before+1 {
			t.Errorf("%s: counted %d times as a port security drop (drops %v)", tc.name, got-before, h.Drops())
		}
		if n := len(h.Outputs()); n != 0 {
			t.Errorf("%s: %d copies", tc.name, n)
		}
	}
	// the real source passes
	ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64))
	expectRedirect(t, h, ret)
}

func TestPrivilegedARPResponder(t *testing.T) {
	h := standard(t)
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], arpRequest(t, vm1MAC, "10.0.0.1", "10.0.0.2"))
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm1"] || o[0].Vlan != 0 {
		t.Fatalf("copies %+v, want the reply back to vm1", o)
	}
	p := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil {
		t.Fatalf("reply does not parse as ARP: %x", out)
	}
	if !bytes.Equal(eth.SrcMAC, vm2MAC) || !bytes.Equal(eth.DstMAC, vm1MAC) {
		t.Errorf("reply Ethernet %s -> %s, want %s -> %s", eth.SrcMAC, eth.DstMAC, vm2MAC, vm1MAC)
	}
	if arp.Operation != layers.ARPReply ||
		!bytes.Equal(arp.SourceHwAddress, vm2MAC) || !net.IP(arp.SourceProtAddress).Equal(net.ParseIP("10.0.0.2")) ||
		!bytes.Equal(arp.DstHwAddress, vm1MAC) || !net.IP(arp.DstProtAddress).Equal(net.ParseIP("10.0.0.1")) {
		t.Errorf("reply op %d sha %s spa %v tha %s tpa %v", arp.Operation,
			net.HardwareAddr(arp.SourceHwAddress), net.IP(arp.SourceProtAddress),
			net.HardwareAddr(arp.DstHwAddress), net.IP(arp.DstProtAddress))
	}
}

func TestPrivilegedRouted(t *testing.T) {
	h := standard(t)
	pkt := icmpPacket(t, vm1MAC, r0sw0, "10.0.0.1", "10.0.1.4", 64)
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], pkt)
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm4"] {
		t.Fatalf("copies %+v, want one to vm4 (ifindex %d)", o, h.Devs["vm4"])
	}
	if !bytes.Equal(out[0:6], vm4MAC) || !bytes.Equal(out[6:12], r0sw1) {
		t.Errorf("routed Ethernet %s -> %s, want %s -> %s", net.HardwareAddr(out[6:12]), net.HardwareAddr(out[0:6]), r0sw1, vm4MAC)
	}
	ip := out[14:34]
	if ip[8] != 63 {
		t.Errorf("TTL %d, want 63", ip[8])
	}
	if looptest.OnesSum(ip) != 0xffff {
		t.Errorf("IPv4 checksum not valid after the TTL change: %x", ip)
	}
	if !bytes.Equal(out[34:], pkt[34:]) || !bytes.Equal(ip[12:20], pkt[26:34]) {
		t.Errorf("routing changed more than MACs and TTL")
	}
	// A packet whose TTL runs out meets northd's "ip.ttl == {0, 1} ->
	// icmp4 { time exceeded }" flow: a controller action, dropped and
	// counted as unsupported until packet-in exists.
	before := h.Drops()["unsupported"]
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], icmpPacket(t, vm1MAC, r0sw0, "10.0.0.1", "10.0.1.4", 1))
	if ret != looptest.ActShot || h.Drops()["unsupported"] != before+1 {
		t.Errorf("TTL 1 through the router: verdict %d, drops %v (copies %+v)", ret, h.Drops(), h.Outputs())
	}
}
