package pipeline

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortSecurity is the port security of one logical port bound to this
// chassis (Port_Binding.port_security: entries "MAC [IP[/plen] ...]").
type PortSecurity struct {
	Port     string
	Datapath uint32
	Entries  []string
}

// psEntry is one parsed port_security entry.
type psEntry struct {
	mac string
	ip4 []netip.Prefix
	ip6 []netip.Prefix
}

// PortSecurityFlows returns the logical flows (in the PipelinePortSecIn and
// PipelinePortSecOut pipelines) that implement check_in_port_sec and
// check_out_port_sec for one port, with ovn-controller's semantics: from
// the port only the listed MACs, and with them the listed IPs (plus DHCP
// discovery, ARP and ND for them); to the port only the listed MACs and IPs
// (plus broadcast and multicast). They compile with the Compiler like
// northd's flows (uuid "port-security:<port>:<n>"); a port with no entries
// has none (and passes). A malformed entry is an error naming it.
func PortSecurityFlows(ps PortSecurity) ([]LogicalFlow, error) {
	var entries []psEntry
	for _, e := range ps.Entries {
		pe, err := parsePortSecurity(e)
		if err != nil {
			return nil, fmt.Errorf("port %s: port security %q: %w", ps.Port, e, err)
		}
		entries = append(entries, pe)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	var flows []LogicalFlow
	in := "inport == " + quote(ps.Port)
	out := "outport == " + quote(ps.Port)
	const deny, allow, next = "flags[12] = 1;", "flags[12] = 0;", "next;"
	add := func(pl Pipeline, table uint8, prio uint16, match, actions string) {
		stage := map[Pipeline]string{PipelinePortSecIn: "in_port_sec", PipelinePortSecOut: "out_port_sec"}[pl]
		if table == 1 {
			stage += "_nd"
		}
		flows = append(flows, LogicalFlow{
			UUID: "port-security:" + ps.Port + ":" + strconv.Itoa(len(flows)), Datapaths: []uint32{ps.Datapath},
			Pipeline: pl, Table: table, Priority: prio, Match: match, Actions: actions, Stage: stage})
	}
	const nd = "icmp6 && icmp6.code == 0 && ip.ttl == 255 && icmp6.type == "
	// Defaults: deny everything, send ARP to the ND table where it is
	// denied unless allowed; NA denied, NS allowed (as ovn-controller).
	add(PipelinePortSecIn, 0, 80, in, deny)
	add(PipelinePortSecIn, 0, 95, in+" && arp", next)
	add(PipelinePortSecIn, 1, 80, in+" && arp", deny)
	add(PipelinePortSecIn, 1, 80, in+" && "+nd+"136", deny)
	add(PipelinePortSecIn, 1, 80, in+" && "+nd+"135", allow)
	add(PipelinePortSecOut, 0, 80, out, deny)
	for _, e := range entries {
		src := in + " && eth.src == " + e.mac
		dst := out + " && eth.dst == " + e.mac
		lla := linkLocal(e.mac)
		if len(e.ip4) == 0 && len(e.ip6) == 0 {
			add(PipelinePortSecIn, 0, 90, src, next)
			add(PipelinePortSecOut, 0, 85, dst, allow)
		}
		// IPv4 and ARP.
		if len(e.ip4) > 0 {
			add(PipelinePortSecIn, 0, 90, src+" && ip4.src == "+ipSet(e.ip4, false), allow)
			add(PipelinePortSecIn, 0, 90, src+" && ip4.src == 0.0.0.0 && ip4.dst == 255.255.255.255 && udp.src == 68 && udp.dst == 67", allow)
			add(PipelinePortSecIn, 1, 90, src+" && arp && arp.sha == "+e.mac+" && arp.spa == "+ipSet(e.ip4, false), allow)
		} else if len(e.ip6) == 0 {
			add(PipelinePortSecIn, 1, 90, src+" && arp && arp.sha == "+e.mac, allow)
		}
		// IPv6 and ND.
		if len(e.ip6) > 0 {
			add(PipelinePortSecIn, 0, 90, src+" && ip6.src == "+ipSetWith(e.ip6, lla), next)
			add(PipelinePortSecIn, 0, 90, src+" && ip6.src == :: && ip6.dst == ff02::/16 && icmp6 && icmp6.code == 0 && icmp6.type == {131, 143}", allow)
			add(PipelinePortSecIn, 0, 90, src+" && ip6.src == :: && ip6.dst == ff02::/16 && icmp6 && icmp6.code == 0 && icmp6.type == 135", next)
			add(PipelinePortSecIn, 1, 90, src+" && "+nd+"136 && nd.tll == {00:00:00:00:00:00, "+e.mac+"} && nd.target == "+ipSetWith(e.ip6, lla), allow)
		} else {
			add(PipelinePortSecIn, 1, 90, src+" && "+nd+"136 && nd.tll == {00:00:00:00:00:00, "+e.mac+"}", allow)
		}
		add(PipelinePortSecIn, 1, 90, src+" && "+nd+"135 && nd.sll == {00:00:00:00:00:00, "+e.mac+"}", allow)
		if len(e.ip4) > 0 || len(e.ip6) > 0 {
			add(PipelinePortSecOut, 0, 85, dst, allow)
			add(PipelinePortSecOut, 0, 90, dst+" && ip4", deny)
			add(PipelinePortSecOut, 0, 90, dst+" && ip6", deny)
		}
		if len(e.ip4) > 0 {
			add(PipelinePortSecOut, 0, 95, dst+" && ip4.dst == "+ipSet(e.ip4, true), allow)
		}
		if len(e.ip6) > 0 {
			add(PipelinePortSecOut, 0, 95, dst+" && ip6.dst == {"+strings.Trim(ipSetWith(e.ip6, lla), "{}")+", ff00::/8}", allow)
		}
	}
	return flows, nil
}

func parsePortSecurity(s string) (psEntry, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return psEntry{}, fmt.Errorf("empty entry")
	}
	if _, ok := parseMAC(strings.ToLower(f[0])); !ok {
		return psEntry{}, fmt.Errorf("no MAC address first")
	}
	e := psEntry{mac: strings.ToLower(f[0])}
	for _, a := range f[1:] {
		var p netip.Prefix
		var err error
		if strings.Contains(a, "/") {
			p, err = netip.ParsePrefix(a)
		} else {
			var ip netip.Addr
			if ip, err = netip.ParseAddr(a); err == nil {
				p = netip.PrefixFrom(ip, ip.BitLen())
			}
		}
		if err != nil || p.Addr().Zone() != "" {
			return psEntry{}, fmt.Errorf("invalid address %q", a)
		}
		if p.Addr().Is4() {
			e.ip4 = append(e.ip4, p)
		} else {
			e.ip6 = append(e.ip6, p)
		}
	}
	return e, nil
}

// psAddr is how ovn-controller matches a port-security address: the host
// address when it has host bits (or is a full-length prefix), else the
// whole subnet.
func psAddr(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() || p.Masked().Addr() != p.Addr() {
		return p.Addr().String()
	}
	return p.String()
}

// ipSet renders IPv4 port-security addresses as a set; with bcast it adds
// the subnets' broadcast addresses, 255.255.255.255 and 224.0.0.0/4.
func ipSet(ps []netip.Prefix, bcast bool) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, psAddr(p))
		if bcast && p.Bits() != 32 {
			b := p.Masked().Addr().As4()
			host := uint32(1)<<(32-p.Bits()) - 1
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
			parts = append(parts, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String())
		}
	}
	if bcast {
		parts = append(parts, "255.255.255.255", "224.0.0.0/4")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func ipSetWith(ps []netip.Prefix, extra string) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, psAddr(p))
	}
	return "{" + strings.Join(append(parts, extra), ", ") + "}"
}

// linkLocal is the EUI-64 IPv6 link-local address of a MAC.
func linkLocal(mac string) string {
	v, _ := parseMAC(mac)
	m := v[10:16]
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10] = m[0]^0x02, m[1], m[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = m[3], m[4], m[5]
	return netip.AddrFrom16(a).String()
}
