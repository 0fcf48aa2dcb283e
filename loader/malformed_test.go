package loader_test

import (
	"encoding/binary"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

func ip4Header(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
}

// truncated builds eth/ip with an L4 header cut to n bytes (IP lengths
// consistent with what is there, so the L4 parser is what fails).
func truncatedL4(t *testing.T, proto layers.IPProtocol, n int) []byte {
	eth := &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm2MAC, EthernetType: layers.EthernetTypeIPv4}
	// gopacket pads frames to Ethernet's 60-byte minimum: cut that off
	return serialize(t, eth, ip4Header(proto), gopacket.Payload(make([]byte, n)))[:14+20+n]
}

func truncatedL4v6(t *testing.T, next layers.IPProtocol, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm2MAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP("fe80::1"), DstIP: net.ParseIP("fe80::2")}
	return serialize(t, eth, ip, gopacket.Payload(payload))[:14+40+len(payload)]
}

func TestPrivilegedMalformedDroppedAndCounted(t *testing.T) {
	h := standard(t)
	eth := func(typ uint16, rest ...byte) []byte {
		b := append(append(append([]byte{}, vm2MAC...), vm1MAC...), byte(typ>>8), byte(typ))
		return append(b, rest...)
	}
	// options promised by IHL (60 bytes of header) that the frame lacks
	ip4Short := eth(0x0800, 0x4f, 0, 0, 24, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 1)
	ip4Long := truncatedL4(t, layers.IPProtocolUDP, 8)
	binary.BigEndian.PutUint16(ip4Long[16:], 200) // total length beyond the frame
	badIHL := truncatedL4(t, layers.IPProtocolUDP, 8)
	badIHL[14] = 0x43
	ndShort := truncatedL4v6(t, layers.IPProtocolICMPv6, []byte{135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80})
	ip6Long := truncatedL4v6(t, layers.IPProtocolUDP, nil)
	binary.BigEndian.PutUint16(ip6Long[18:], 100) // payload beyond the frame
	ext := truncatedL4v6(t, layers.IPProtocolIPv6HopByHop, []byte{6, 0})
	cases := []struct {
		name, reason string
		pkt          []byte
	}{
		{"vlan", "parse_vlan", eth(0x8100, 0x00)},
		{"arp", "parse_arp", eth(0x0806, 0, 1, 8, 0, 6, 4, 0, 1)},
		{"arp-not-ethernet-ipv4", "parse_arp", serialize(t, &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm2MAC, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: 6, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: vm1MAC, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})},
		{"ipv4-truncated", "parse_ip4", ip4Short},
		{"ipv4-length", "parse_ip4", ip4Long},
		{"ipv4-ihl", "parse_ip4", badIHL},
		{"ipv6-length", "parse_ip6", ip6Long},
		{"ipv6-extension", "parse_ip6_ext", ext},
		{"tcp", "parse_tcp", truncatedL4(t, layers.IPProtocolTCP, 10)},
		{"udp", "parse_udp", truncatedL4(t, layers.IPProtocolUDP, 4)},
		{"sctp", "parse_sctp", truncatedL4(t, layers.IPProtocolSCTP, 6)},
		{"icmp", "parse_icmp", truncatedL4(t, layers.IPProtocolICMPv4, 2)},
		{"icmpv6", "parse_icmp6", truncatedL4v6(t, layers.IPProtocolICMPv6, []byte{128, 0})},
		{"nd", "parse_nd", ndShort},
	}
	for _, tc := range cases {
		before := h.Drops()[tc.reason]
		ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], tc.pkt)
		if ret != looptest.ActShot {
			t.Errorf("%s: verdict %d, want drop", tc.name, ret)
		}
		if got := h.Drops()[tc.reason]; got != before+1 {
			t.Errorf("%s: %s counted %d times (drops %v)", tc.name, tc.reason, got-before, h.Drops())
		}
	}
	// Geneve header cut short, on the underlay
	ul, err := net.InterfaceByIndex(int(h.Devs["ul0"]))
	if err != nil {
		t.Fatal(err)
	}
	frame := ovsGeneveFrame(t, ul.HardwareAddr, nil)[:14+20+8+4]
	binary.BigEndian.PutUint16(frame[16:], 20+8+4)
	binary.BigEndian.PutUint16(frame[14+20+4:], 8+4)
	resum(frame)
	before := h.Drops()["parse_geneve"]
	if ret, _ := h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], frame); ret != looptest.ActShot || h.Drops()["parse_geneve"] != before+1 {
		t.Errorf("truncated Geneve: verdict %d drops %v", ret, h.Drops())
	}
	// BPF_PROG_TEST_RUN refuses frames shorter than Ethernet and IP headers
	// cut inside their fixed part, so parse_eth and those branches are not
	// exercised here (the length and IHL cases above are).
}

func TestPrivilegedUnboundDeviceForwardsNothing(t *testing.T) {
	h := standard(t)
	idx := h.Dev("stray")
	ret, _ := h.Exec(h.D.Objs.OvnbpfVifIngress, idx, icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64))
	if ret != looptest.ActShot || h.Drops()["unknown_port"] != 1 {
		t.Errorf("unbound device: verdict %d drops %v", ret, h.Drops())
	}
}

// bpftool prints the pinned maps with named fields (BTF).
func TestPrivilegedBpftoolDumpNamedFields(t *testing.T) {
	h := standard(t)
	for m, field := range map[string]string{"ovnbpf_ports": "chassis_ip", "ovnbpf_vifs": "ifindex", "ovnbpf_dirs": "table", "ovnbpf_tables": "max_prio"} {
		out, err := exec.Command("bpftool", "map", "dump", "pinned", h.D.PinDir+"/"+m).CombinedOutput()
		if err != nil {
			t.Fatalf("bpftool map dump %s: %v: %s", m, err, out)
		}
		if !strings.Contains(string(out), `"`+field+`"`) {
			t.Errorf("bpftool map dump pinned %s: no field %q in\n%s", m, field, firstLines(string(out), 20))
		}
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
