package difftrace

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// Packet is one test packet, described once: Microflow gives it to
// ovn-trace, Bytes to the datapath.
type Packet struct {
	Name   string // what kind of case it is (for reports)
	InPort string // logical port it enters from
	EthSrc net.HardwareAddr
	EthDst net.HardwareAddr
	VLAN   uint16 // a tag the logical port itself sends (0: none; not a container's own tag)
	// One of the following payloads.
	EthType uint16 // other: this Ethernet type and a few bytes
	ARP     *ARP
	IP      *IP
}

// ARP is an Ethernet/IPv4 ARP packet.
type ARP struct {
	Op       uint16
	SHA, THA net.HardwareAddr
	SPA, TPA netip.Addr
}

// IP is an IPv4 or IPv6 packet.
type IP struct {
	Src, Dst netip.Addr
	TTL      uint8
	Proto    string // tcp, udp, icmp (echo request), ns, na
	SrcPort  uint16
	DstPort  uint16
	TCPFlags uint16
	ICMPType uint8
	Target   netip.Addr       // ND
	LLA      net.HardwareAddr // ND source/target link-layer address option
}

// Microflow is the packet as an OVN expression for ovn-trace.
func (p *Packet) Microflow() string {
	f := []string{fmt.Sprintf("inport==%q", p.InPort), "eth.src==" + p.EthSrc.String(), "eth.dst==" + p.EthDst.String()}
	if p.VLAN != 0 {
		f = append(f, fmt.Sprintf("vlan.tci==0x%x", 0x1000|p.VLAN))
	}
	switch {
	case p.ARP != nil:
		a := p.ARP
		f = append(f, fmt.Sprintf("arp.op==%d", a.Op), "arp.sha=="+a.SHA.String(), "arp.spa=="+a.SPA.String(),
			"arp.tha=="+a.THA.String(), "arp.tpa=="+a.TPA.String())
	case p.IP != nil:
		ip := p.IP
		if ip.Src.Is4() {
			f = append(f, "ip4.src=="+ip.Src.String(), "ip4.dst=="+ip.Dst.String())
		} else {
			f = append(f, "ip6.src=="+ip.Src.String(), "ip6.dst=="+ip.Dst.String())
		}
		f = append(f, fmt.Sprintf("ip.ttl==%d", ip.TTL))
		switch ip.Proto {
		case "tcp":
			f = append(f, fmt.Sprintf("tcp.src==%d && tcp.dst==%d && tcp.flags==0x%x", ip.SrcPort, ip.DstPort, ip.TCPFlags))
		case "udp":
			f = append(f, fmt.Sprintf("udp.src==%d && udp.dst==%d", ip.SrcPort, ip.DstPort))
		case "icmp":
			if ip.Src.Is4() {
				f = append(f, fmt.Sprintf("icmp4.type==%d && icmp4.code==0", ip.ICMPType))
			} else {
				f = append(f, fmt.Sprintf("icmp6.type==%d && icmp6.code==0", ip.ICMPType))
			}
		case "ns":
			f = append(f, "icmp6.type==135 && icmp6.code==0", "nd.target=="+ip.Target.String(), "nd.sll=="+ip.LLA.String())
		case "na":
			f = append(f, "icmp6.type==136 && icmp6.code==0", "nd.target=="+ip.Target.String(), "nd.tll=="+ip.LLA.String())
		}
	default:
		f = append(f, fmt.Sprintf("eth.type==0x%04x", p.EthType))
	}
	return strings.Join(f, " && ")
}

// Bytes is the frame the logical port sends (its container tag, if any, is
// added by the caller).
func (p *Packet) Bytes() ([]byte, error) {
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: p.EthSrc, DstMAC: p.EthDst}
	ls = append(ls, eth)
	var next *layers.EthernetType = &eth.EthernetType
	if p.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		d := &layers.Dot1Q{VLANIdentifier: p.VLAN}
		ls = append(ls, d)
		next = &d.Type
	}
	switch {
	case p.ARP != nil:
		a := p.ARP
		*next = layers.EthernetTypeARP
		ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
			ProtAddressSize: 4, Operation: a.Op, SourceHwAddress: a.SHA, SourceProtAddress: a.SPA.AsSlice(),
			DstHwAddress: a.THA, DstProtAddress: a.TPA.AsSlice()})
	case p.IP != nil:
		ip := p.IP
		var nl gopacket.NetworkLayer
		if ip.Src.Is4() {
			*next = layers.EthernetTypeIPv4
			v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: ip.TTL, Id: 1, SrcIP: ip.Src.AsSlice(), DstIP: ip.Dst.AsSlice()}
			switch ip.Proto {
			case "tcp":
				v4.Protocol = layers.IPProtocolTCP
			case "udp":
				v4.Protocol = layers.IPProtocolUDP
			default:
				v4.Protocol = layers.IPProtocolICMPv4
			}
			nl = v4
			ls = append(ls, v4)
		} else {
			*next = layers.EthernetTypeIPv6
			v6 := &layers.IPv6{Version: 6, HopLimit: ip.TTL, SrcIP: ip.Src.AsSlice(), DstIP: ip.Dst.AsSlice()}
			switch ip.Proto {
			case "tcp":
				v6.NextHeader = layers.IPProtocolTCP
			case "udp":
				v6.NextHeader = layers.IPProtocolUDP
			default:
				v6.NextHeader = layers.IPProtocolICMPv6
			}
			nl = v6
			ls = append(ls, v6)
		}
		switch ip.Proto {
		case "tcp":
			t := &layers.TCP{SrcPort: layers.TCPPort(ip.SrcPort), DstPort: layers.TCPPort(ip.DstPort), Seq: 1, Window: 512, DataOffset: 5}
			setTCPFlags(t, ip.TCPFlags)
			if err := t.SetNetworkLayerForChecksum(nl); err != nil {
				return nil, err
			}
			ls = append(ls, t, gopacket.Payload("difftrace-tcp"))
		case "udp":
			u := &layers.UDP{SrcPort: layers.UDPPort(ip.SrcPort), DstPort: layers.UDPPort(ip.DstPort)}
			if err := u.SetNetworkLayerForChecksum(nl); err != nil {
				return nil, err
			}
			ls = append(ls, u, gopacket.Payload("difftrace-udp"))
		case "icmp":
			if ip.Src.Is4() {
				ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(ip.ICMPType, 0), Id: 7, Seq: 1},
					gopacket.Payload("difftrace-icmp"))
			} else {
				c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ip.ICMPType, 0)}
				if err := c.SetNetworkLayerForChecksum(nl); err != nil {
					return nil, err
				}
				ls = append(ls, c, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, gopacket.Payload("difftrace-icmp6"))
			}
		case "ns", "na":
			typ := uint8(layers.ICMPv6TypeNeighborSolicitation)
			if ip.Proto == "na" {
				typ = layers.ICMPv6TypeNeighborAdvertisement
			}
			c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
			if err := c.SetNetworkLayerForChecksum(nl); err != nil {
				return nil, err
			}
			ls = append(ls, c)
			if ip.Proto == "ns" {
				ls = append(ls, &layers.ICMPv6NeighborSolicitation{TargetAddress: ip.Target.AsSlice(),
					Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: ip.LLA}}})
			} else {
				ls = append(ls, &layers.ICMPv6NeighborAdvertisement{TargetAddress: ip.Target.AsSlice(), Flags: 0x60,
					Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: ip.LLA}}})
			}
		}
	default:
		*next = layers.EthernetType(p.EthType)
		ls = append(ls, gopacket.Payload("difftrace-other-ethertype-payload"))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, fmt.Errorf("building %s: %w", p.Name, err)
	}
	return buf.Bytes(), nil
}

func setTCPFlags(t *layers.TCP, f uint16) {
	t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0, f&16 != 0, f&32 != 0
}

// Fields decodes a frame into the header fields ovn-trace names (eth.src,
// ip4.dst, ip.ttl, arp.op, ...), values in Canon form, plus "payload" (the
// bytes after the last header decoded) and "vlan.vid" when tagged. It also
// reports whether the IPv4 header and L4 checksums are valid.
func Fields(frame []byte) (map[string]string, error) {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	// A payload gopacket cannot decode (an unknown Ethernet type, UDP to
	// port 53 that is not DNS) is compared as bytes: the last decoded
	// layer's payload.
	f := map[string]string{}
	var nl gopacket.NetworkLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			f["eth.src"], f["eth.dst"] = l.SrcMAC.String(), l.DstMAC.String()
			f["eth.type"] = fmt.Sprint(uint16(l.EthernetType))
		case *layers.Dot1Q:
			f["vlan.vid"] = fmt.Sprint(l.VLANIdentifier)
			f["eth.type"] = fmt.Sprint(uint16(l.Type))
		case *layers.ARP:
			f["arp.op"] = fmt.Sprint(l.Operation)
			f["arp.sha"], f["arp.tha"] = net.HardwareAddr(l.SourceHwAddress).String(), net.HardwareAddr(l.DstHwAddress).String()
			f["arp.spa"], f["arp.tpa"] = net.IP(l.SourceProtAddress).String(), net.IP(l.DstProtAddress).String()
		case *layers.IPv4:
			nl = l
			f["ip4.src"], f["ip4.dst"] = l.SrcIP.String(), l.DstIP.String()
			f["ip.ttl"], f["ip.proto"], f["ip.tos"] = fmt.Sprint(l.TTL), fmt.Sprint(uint8(l.Protocol)), fmt.Sprint(l.TOS)
			if l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0 {
				f["ip.frag"] = "1"
			}
			if looptest.OnesSum(l.Contents) != 0xffff {
				f["checksum"] = "bad ipv4 header checksum"
			}
		case *layers.IPv6:
			nl = l
			f["ip6.src"], f["ip6.dst"] = l.SrcIP.String(), l.DstIP.String()
			f["ip.ttl"], f["ip.proto"], f["ip6.label"] = fmt.Sprint(l.HopLimit), fmt.Sprint(uint8(l.NextHeader)), fmt.Sprint(l.FlowLabel)
		case *layers.TCP:
			f["tcp.src"], f["tcp.dst"] = fmt.Sprint(uint16(l.SrcPort)), fmt.Sprint(uint16(l.DstPort))
			if !l4ChecksumOK(l, nl) {
				f["checksum"] = "bad tcp checksum"
			}
		case *layers.UDP:
			f["udp.src"], f["udp.dst"] = fmt.Sprint(uint16(l.SrcPort)), fmt.Sprint(uint16(l.DstPort))
			if !l4ChecksumOK(l, nl) {
				f["checksum"] = "bad udp checksum"
			}
		case *layers.ICMPv4:
			f["icmp4.type"], f["icmp4.code"] = fmt.Sprint(l.TypeCode.Type()), fmt.Sprint(l.TypeCode.Code())
			if looptest.OnesSum(append(append([]byte{}, l.Contents...), l.Payload...)) != 0xffff {
				f["checksum"] = "bad icmp4 checksum"
			}
		case *layers.ICMPv6:
			f["icmp6.type"], f["icmp6.code"] = fmt.Sprint(l.TypeCode.Type()), fmt.Sprint(l.TypeCode.Code())
			if !l4ChecksumOK(l, nl) {
				f["checksum"] = "bad icmp6 checksum"
			}
		case *layers.ICMPv6NeighborSolicitation:
			f["nd.target"] = l.TargetAddress.String()
			for _, o := range l.Options {
				if o.Type == layers.ICMPv6OptSourceAddress {
					f["nd.sll"] = net.HardwareAddr(o.Data).String()
				}
			}
		case *layers.ICMPv6NeighborAdvertisement:
			f["nd.target"] = l.TargetAddress.String()
			for _, o := range l.Options {
				if o.Type == layers.ICMPv6OptTargetAddress {
					f["nd.tll"] = net.HardwareAddr(o.Data).String()
				}
			}
		}
	}
	var last gopacket.Layer
	for _, l := range p.Layers() {
		switch l.(type) {
		case gopacket.ErrorLayer, *gopacket.DecodeFailure:
			continue
		}
		last = l
	}
	if last == nil {
		return nil, fmt.Errorf("frame %x does not decode as Ethernet", frame)
	}
	f["payload"] = fmt.Sprintf("%x", last.LayerPayload())
	return f, nil
}

// l4ChecksumOK re-serializes an L4 layer with a computed checksum and
// compares it with the checksum it carries.
func l4ChecksumOK(l gopacket.Layer, nl gopacket.NetworkLayer) bool {
	if nl == nil {
		return true
	}
	var got []byte
	var sl gopacket.SerializableLayer
	switch l := l.(type) {
	case *layers.TCP:
		c := *l
		got = l.Contents[16:18]
		_ = c.SetNetworkLayerForChecksum(nl)
		sl = &c
	case *layers.UDP:
		c := *l
		got = l.Contents[6:8]
		if got[0] == 0 && got[1] == 0 {
			return true
		}
		_ = c.SetNetworkLayerForChecksum(nl)
		sl = &c
	case *layers.ICMPv6:
		c := *l
		got = l.Contents[2:4]
		_ = c.SetNetworkLayerForChecksum(nl)
		sl = &c
	default:
		return true
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, sl, gopacket.Payload(l.LayerPayload())); err != nil {
		return false
	}
	b := buf.Bytes()
	var off int
	switch sl.(type) {
	case *layers.TCP:
		off = 16
	case *layers.UDP:
		off = 6
	default:
		off = 2
	}
	return b[off] == got[0] && b[off+1] == got[1]
}

// Expected applies what ovn-trace says happened to a copy (fields written,
// TTL decrements) to the input's fields. Fields that are not packet headers
// (registers, flags, inport/outport) are left out. It returns the fields
// ovn-trace wrote that the harness cannot check (none expected).
func Expected(in map[string]string, d Delivery) (map[string]string, []string) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	if d.DecTTL > 0 {
		var ttl int
		fmt.Sscan(in["ip.ttl"], &ttl)
		out["ip.ttl"] = fmt.Sprint(ttl - d.DecTTL)
	}
	var unchecked []string
	for k, v := range d.Set {
		if metadataField(k) {
			continue
		}
		if _, ok := in[k]; !ok {
			unchecked = append(unchecked, k)
			continue
		}
		out[k] = v
	}
	sort.Strings(unchecked)
	return out, unchecked
}

func metadataField(k string) bool {
	for _, p := range []string{"inport", "outport", "flags.", "reg", "xreg", "xxreg", "ct_", "ct.", "pkt.mark"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// DiffFields lists the fields whose values differ, "name: got X want Y".
func DiffFields(got, want map[string]string) []string {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var d []string
	for k := range keys {
		if got[k] != want[k] {
			d = append(d, fmt.Sprintf("%s: got %q want %q", k, got[k], want[k]))
		}
	}
	sort.Strings(d)
	return d
}
