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
)

// The ND topology: an IPv6 switch with two VMs and a router port.
var (
	ndOnce sync.Once
	ndTopo *looptest.Topology
)

func ndTopology(t testing.TB) *looptest.Topology {
	t.Helper()
	ndOnce.Do(func() {
		ndTopo = looptest.Northd(t,
			[]string{"ls-add", "sw6"},
			[]string{"lsp-add", "sw6", "v1"},
			[]string{"lsp-set-addresses", "v1", "00:00:00:00:06:01 2001:db8::11"},
			[]string{"lsp-set-port-security", "v1", "00:00:00:00:06:01 2001:db8::11"},
			[]string{"lsp-add", "sw6", "v2"},
			[]string{"lsp-set-addresses", "v2", "00:00:00:00:06:02 2001:db8::12"},
			[]string{"lr-add", "r6"},
			[]string{"lrp-add", "r6", "r6-sw6", "00:00:00:00:06:ff", "2001:db8::1/64"},
			[]string{"lsp-add", "sw6", "sw6-r6"},
			[]string{"lsp-set-type", "sw6-r6", "router"},
			[]string{"lsp-set-addresses", "sw6-r6", "router"},
			[]string{"lsp-set-options", "sw6-r6", "router-port=r6-sw6"},
		)
	})
	if ndTopo == nil {
		t.Fatal("the ND topology could not be built (see the first test that tried)")
	}
	return ndTopo
}

// neighborSolicitation builds an NS from src/sip for target; with sll the
// source link-layer address option is included (not in DAD, sip ::).
func neighborSolicitation(t testing.TB, src net.HardwareAddr, sip, target string, sll bool) []byte {
	t.Helper()
	tg := netip.MustParseAddr(target).As16()
	group := net.IP{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, tg[13], tg[14], tg[15]}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, tg[13], tg[14], tg[15]},
		EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP(sip), DstIP: group}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP(target)}
	if sll {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: src}}
	}
	return serialize(t, eth, ip, icmp, ns)
}

// checkNA verifies an NA field by field, with its ICMPv6 checksum.
func checkNA(t *testing.T, out []byte, ethSrc, ethDst net.HardwareAddr, src, dst, target string, flags byte, tll net.HardwareAddr) {
	t.Helper()
	if len(out) != 14+40+32 {
		t.Fatalf("NA of %d bytes, want 86: %x", len(out), out)
	}
	if !bytes.Equal(out[0:6], ethDst) || !bytes.Equal(out[6:12], ethSrc) || binary.BigEndian.Uint16(out[12:14]) != 0x86dd {
		t.Errorf("Ethernet %s -> %s type %x, want %s -> %s", net.HardwareAddr(out[6:12]), net.HardwareAddr(out[0:6]), out[12:14], ethSrc, ethDst)
	}
	ip := out[14:54]
	if plen := binary.BigEndian.Uint16(ip[4:6]); plen != 32 || ip[6] != 58 || ip[7] != 255 {
		t.Errorf("IPv6 payload length %d next header %d hop limit %d, want 32, 58, 255", plen, ip[6], ip[7])
	}
	if got, want := net.IP(ip[8:24]), net.ParseIP(src); !got.Equal(want) {
		t.Errorf("IPv6 source %v, want %v", got, want)
	}
	if got, want := net.IP(ip[24:40]), net.ParseIP(dst); !got.Equal(want) {
		t.Errorf("IPv6 destination %v, want %v", got, want)
	}
	na := out[54:]
	if na[0] != 136 || na[1] != 0 || na[4] != flags || !bytes.Equal(na[5:8], []byte{0, 0, 0}) {
		t.Errorf("ICMPv6 type %d code %d flags %#x, want 136, 0, %#x", na[0], na[1], na[4], flags)
	}
	if got := net.IP(na[8:24]); !got.Equal(net.ParseIP(target)) {
		t.Errorf("target %v, want %s", got, target)
	}
	if na[24] != 2 || na[25] != 1 || !bytes.Equal(na[26:32], tll) {
		t.Errorf("option type %d length %d address %s, want the target link-layer address %s", na[24], na[25], net.HardwareAddr(na[26:32]), tll)
	}
	pseudo := append(append(append([]byte{}, ip[8:40]...), 0, 0, 0, 32, 0, 0, 0, 58), na...)
	if looptest.OnesSum(pseudo) != 0xffff {
		t.Errorf("ICMPv6 checksum %x does not verify", na[2:4])
	}
}

// northd's ND responders, executed in BPF: the switch answers an NS for a
// VM's address (nd_na: solicited, override), the router for its own
// (nd_na_router: router too); a DAD probe (source ::, no source link-layer
// option, so a shorter packet) is answered to all nodes, not solicited.
func TestPrivilegedNDResponder(t *testing.T) {
	h := looptest.New(t)
	h.InstallTopology(ndTopology(t))
	h.Underlay()
	v1, v2, rmac := mac("00:00:00:00:06:01"), mac("00:00:00:00:06:02"), mac("00:00:00:00:06:ff")
	h.Vif("v1", "v1", 0)
	h.Vif("v2", "v2", 0)
	h.Patch("sw6-r6", "r6-sw6")
	h.Mcast("sw6", "_MC_flood", []string{"v1", "v2", "sw6-r6"}, nil)
	h.Mcast("sw6", "_MC_flood_l2", []string{"v1", "v2", "sw6-r6"}, nil)
	mustPortSecurity(t, h, "v1", "00:00:00:00:06:01", "2001:db8::11/128")

	for _, tc := range []struct {
		name, sip, target, dst string
		sll                    bool
		ethSrc                 net.HardwareAddr
		flags                  byte
	}{
		{"switch answers for a VM", "2001:db8::11", "2001:db8::12", "2001:db8::11", true, v2, 0x60},
		{"router answers for itself", "2001:db8::11", "2001:db8::1", "2001:db8::11", true, rmac, 0xe0},
		{"duplicate address detection", "::", "2001:db8::12", "ff02::1", false, v2, 0x20},
	} {
		// not subtests: the harness' network namespace is this goroutine's thread's
		t.Logf("%s: NS from %s for %s", tc.name, tc.sip, tc.target)
		ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["v1"], neighborSolicitation(t, v1, tc.sip, tc.target, tc.sll))
		expectRedirect(t, h, ret)
		if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["v1"] {
			t.Fatalf("%s: copies %+v, want the NA back to v1 (ifindex %d)", tc.name, o, h.Devs["v1"])
		}
		checkNA(t, out, tc.ethSrc, v1, tc.target, tc.dst, tc.target, tc.flags, tc.ethSrc)
	}
}

// Port security lets a host without an address yet send what OVN lets it:
// MLD reports (and DAD) from :: to link-scope multicast; anything else from
// :: is a port security drop.
func TestPrivilegedPortSecurityUnspecifiedSource(t *testing.T) {
	h := looptest.New(t)
	h.InstallTopology(ndTopology(t))
	h.Underlay()
	v1 := mac("00:00:00:00:06:01")
	h.Vif("v1", "v1", 0)
	h.Vif("v2", "v2", 0)
	h.Patch("sw6-r6", "r6-sw6")
	for _, g := range []string{"_MC_flood", "_MC_flood_l2", "_MC_mrouter_flood", "_MC_static"} {
		if _, ok := h.Topo.Snap.MulticastGroup(h.Topo.DP["sw6"], g); ok {
			h.Mcast("sw6", g, []string{"v1", "v2", "sw6-r6"}, nil)
		}
	}
	mustPortSecurity(t, h, "v1", "00:00:00:00:06:01", "2001:db8::11/128")
	from := func(typ uint8, dst string) []byte {
		eth := &layers.Ethernet{SrcMAC: v1, DstMAC: mac("33:33:00:00:00:16"), EthernetType: layers.EthernetTypeIPv6}
		ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("::"), DstIP: net.ParseIP(dst)}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		return serialize(t, eth, ip, icmp, gopacket.Payload([]byte{0, 0, 0, 0}))
	}
	before := h.Drops()["port_sec"]
	h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["v1"], from(143, "ff02::16"))
	if got := h.Drops()["port_sec"]; got != before {
		t.Errorf("an MLDv2 report from :: was dropped by port security (drops %v)", h.Drops())
	}
	h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["v1"], from(128, "ff02::1"))
	if got := h.Drops()["port_sec"]; got != before+1 {
		t.Errorf("an echo request from :: passed port security (drops %v)", h.Drops())
	}
}
