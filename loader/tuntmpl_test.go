package loader_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// A flow's tunnel copies after the first reuse its outer headers (the flow
// cache entry's template) and patch only lengths and checksums: every
// packet of a flow, whatever its length, leaves with the right outer IPv4
// and UDP checksums; so do packets of a flow whose inner checksum cannot
// vouch for the payload (a UDP checksum of 0), whether the flow's first
// packet had one or not.
func TestPrivilegedGeneveTemplateLengths(t *testing.T) {
	h := standard(t)
	dp := h.Topo.DP["sw0"]
	_, vm1 := h.Topo.Port(t, "vm1")
	_, vm2 := h.Topo.Port(t, "vm2")
	_, vm3 := h.Topo.Port(t, "vm3")
	ip4 := func(proto layers.IPProtocol) (*layers.Ethernet, *layers.IPv4) {
		return &layers.Ethernet{SrcMAC: vm1MAC, DstMAC: vm3MAC, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 3}}
	}
	ip6 := func(next layers.IPProtocol) (*layers.Ethernet, *layers.IPv6) {
		return &layers.Ethernet{SrcMAC: vm2MAC, DstMAC: vm3MAC, EthernetType: layers.EthernetTypeIPv6},
			&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::3")}
	}
	payload := func(n int) gopacket.Payload { return bytes.Repeat([]byte{0xa5}, n) }
	udp4 := func(n int, zeroSum bool) []byte {
		eth, ip := ip4(layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 5000, DstPort: 53}
		if err := u.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		b := serialize(t, eth, ip, u, payload(n))
		if zeroSum {
			b[14+20+6], b[14+20+7] = 0, 0
		}
		return b
	}
	cases := []struct {
		name   string
		inport uint32
		pkt    func(n int) []byte
	}{
		{"icmp4", vm1, func(n int) []byte {
			eth, ip := ip4(layers.IPProtocolICMPv4)
			return serialize(t, eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, payload(n))
		}},
		{"tcp4", vm1, func(n int) []byte {
			eth, ip := ip4(layers.IPProtocolTCP)
			tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, ACK: true, Ack: 1, Window: 512}
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			return serialize(t, eth, ip, tcp, payload(n))
		}},
		{"udp4", vm1, func(n int) []byte { return udp4(n, false) }},
		// the first packet has no checksum, the next ones have
		{"udp4 first unsummed", vm1, func(n int) []byte { return udp4(n, n == 10) }},
		// the first packet has a checksum, the next ones have none
		{"udp4 later unsummed", vm1, func(n int) []byte { return udp4(n, n != 10) }},
		{"tcp6", vm2, func(n int) []byte {
			eth, ip := ip6(layers.IPProtocolTCP)
			tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, ACK: true, Ack: 1, Window: 512}
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			return serialize(t, eth, ip, tcp, payload(n))
		}},
		{"udp6", vm2, func(n int) []byte {
			eth, ip := ip6(layers.IPProtocolUDP)
			u := &layers.UDP{SrcPort: 5000, DstPort: 53}
			if err := u.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			return serialize(t, eth, ip, u, payload(n))
		}},
	}
	dev := map[uint32]uint32{vm1: h.Devs["vm1"], vm2: h.Devs["vm2"]}
	for _, c := range cases {
		func() {
			var first uint16
			for i, n := range []int{10, 11, 300, 1, 1000} {
				pkt := c.pkt(n)
				hits, _, _, err := h.St.CacheStats()
				if err != nil {
					t.Fatal(err)
				}
				ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, dev[c.inport], pkt)
				if ret != looptest.ActRedirect {
					t.Fatalf("%s, %d-byte payload: verdict %d, drops %v", c.name, n, ret, h.Drops())
				}
				t.Logf("%s, %d-byte payload", c.name, n)
				if inner := checkGeneve(t, h, out, dp, c.inport, vm3); !bytes.Equal(inner, pkt) {
					t.Errorf("%s, %d-byte payload: inner frame\n got %x\nwant %x", c.name, n, inner, pkt)
				}
				after, _, _, _ := h.St.CacheStats()
				if i > 0 && after != hits+1 {
					t.Errorf("%s, %d-byte payload: not a flow cache hit", c.name, n)
				}
				// one flow: one source port
				if sport := binary.BigEndian.Uint16(out[34:]); i == 0 {
					first = sport
				} else if sport != first {
					t.Errorf("%s, %d-byte payload: UDP source port %d, the flow's first packet had %d", c.name, n, sport, first)
				}
			}
		}()
	}
}
