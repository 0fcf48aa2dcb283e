package pipeline

import (
	"strconv"
	"sync/atomic"
)

// The symbol table: every name the match and action languages know, mapped
// to physical bits of the datapath key (OVN's lib/logical-fields.c
// semantics, written from ovn-sb(5)).
//
//   - a field is a bit range of one physical field, or for xreg/xxreg a
//     concatenation of 32-bit registers (reg0 is the most significant word of
//     xxreg0, reg1 of xreg0...). Its prerequisite (a predicate expression) is
//     ANDed to every comparison that uses it, outside any negation;
//   - a predicate is an expression that stands for a boolean (ip4, tcp, nd);
//   - inport and outport are string fields: port names resolve to tunnel keys.

type symKind uint8

const (
	symField     symKind = iota
	symPredicate         // expands to an expression
	symString            // inport, outport
)

// symbol is one named field or predicate.
type symbol struct {
	name  string
	kind  symKind
	phys  Field // physical field; for register spans, the least significant register
	off   int   // bit offset in the physical field (or in the register span)
	width int
	span  int // > 1: a span of `span` 32-bit registers (xreg: 2, xxreg: 4)
	// prereq and expansion are match expressions in OVN syntax.
	prereq    string
	expansion string
	fmt       cFormat // how constants of this field print by default
	// ctWrite marks ct_mark/ct_label and their subfields: writable only inside
	// ct_commit.
	ctWrite bool
	// readOnly fields cannot be assigned (ct_state, ct.*, ip.frag, ...).
	readOnly bool

	pre  atomic.Pointer[symExpansion] // prereq in normal form, once computed
	pred atomic.Pointer[symExpansion] // expansion (predicates), once computed
}

var symtab = buildSymtab()

func buildSymtab() map[string]*symbol {
	t := make(map[string]*symbol, 200)
	field := func(name string, f Field, prereq string, fm cFormat) *symbol {
		s := &symbol{name: name, kind: symField, phys: f, width: f.Bits(), prereq: prereq, fmt: fm}
		t[name] = s
		return s
	}
	sub := func(name string, f Field, off, width int, prereq string) *symbol {
		s := &symbol{name: name, kind: symField, phys: f, off: off, width: width, prereq: prereq, fmt: fmtDecimal}
		t[name] = s
		return s
	}
	pred := func(name, expansion string) {
		t[name] = &symbol{name: name, kind: symPredicate, expansion: expansion}
	}
	t["inport"] = &symbol{name: "inport", kind: symString, phys: FieldInport, width: 32}
	t["outport"] = &symbol{name: "outport", kind: symString, phys: FieldOutport, width: 32}

	for i := 0; i < 10; i++ {
		field("reg"+strconv.Itoa(i), FieldReg0+Field(i), "", fmtDecimal)
	}
	// xreg i = reg(2i) (high) : reg(2i+1) (low); xxreg i = reg(4i)..reg(4i+3).
	for i := 0; i < 5; i++ {
		t["xreg"+strconv.Itoa(i)] = &symbol{name: "xreg" + strconv.Itoa(i), kind: symField,
			phys: FieldReg0 + Field(2*i+1), width: 64, span: 2, fmt: fmtHex}
	}
	for i := 0; i < 2; i++ {
		t["xxreg"+strconv.Itoa(i)] = &symbol{name: "xxreg" + strconv.Itoa(i), kind: symField,
			phys: FieldReg0 + Field(4*i+3), width: 128, span: 4, fmt: fmtHex}
	}

	field("flags", FieldFlags, "", fmtHex)
	for name, bit := range map[string]int{
		"loopback": 0, "force_snat_for_dnat": 2, "force_snat_for_lb": 3, "skip_snat_for_lb": 9,
		"use_snat_zone": 11, "localnet": 15, "tunnel_rx": 16, "icmp_snat": 17, "from_ctrl": 19,
	} {
		sub("flags."+name, FieldFlags, bit, 1, "")
	}

	for _, s := range []*symbol{
		field("ct_mark", FieldCtMark, "", fmtHex),
		sub("ct_mark.blocked", FieldCtMark, 0, 1, ""),
		sub("ct_mark.natted", FieldCtMark, 1, 1, ""),
		sub("ct_mark.skip_snat", FieldCtMark, 2, 1, ""),
		sub("ct_mark.force_snat", FieldCtMark, 3, 1, ""),
		sub("ct_mark.ecmp_reply_port", FieldCtMark, 16, 16, ""),
		field("ct_label", FieldCtLabel, "", fmtHex),
		sub("ct_label.blocked", FieldCtLabel, 0, 1, ""),
		sub("ct_label.natted", FieldCtLabel, 1, 1, ""),
		sub("ct_label.skip_snat", FieldCtLabel, 2, 1, ""),
		sub("ct_label.force_snat", FieldCtLabel, 3, 1, ""),
		sub("ct_label.ecmp_reply_eth", FieldCtLabel, 32, 48, ""),
		sub("ct_label.ecmp_reply_port", FieldCtLabel, 80, 16, ""),
		sub("ct_label.label", FieldCtLabel, 96, 32, ""),
	} {
		s.ctWrite = true
	}
	t["ct_label.ecmp_reply_eth"].fmt = fmtMAC

	field("ct_state", FieldCtState, "", fmtHex).readOnly = true
	for i, name := range []string{"new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"} {
		prereq := "ct.trk"
		if name == "trk" {
			prereq = ""
		}
		sub("ct."+name, FieldCtState, i, 1, prereq).readOnly = true
	}

	field("eth.src", FieldEthSrc, "", fmtMAC)
	field("eth.dst", FieldEthDst, "", fmtMAC)
	field("eth.type", FieldEthType, "", fmtHex)
	pred("eth.bcast", "eth.dst == ff:ff:ff:ff:ff:ff")
	sub("eth.mcast", FieldEthDst, 40, 1, "")
	pred("eth.mcastv6", "eth.dst[32..47] == 0x3333")

	field("vlan.tci", FieldVlanTCI, "", fmtHex)
	pred("vlan.present", "vlan.tci[12]")
	sub("vlan.pcp", FieldVlanTCI, 13, 3, "vlan.present")
	sub("vlan.vid", FieldVlanTCI, 0, 12, "vlan.present")

	pred("ip4", "eth.type == 0x800")
	pred("ip6", "eth.type == 0x86dd")
	pred("ip", "ip4 || ip6")
	field("ip.proto", FieldIPProto, "ip", fmtDecimal)
	sub("ip.dscp", FieldIPTos, 2, 6, "ip")
	sub("ip.ecn", FieldIPTos, 0, 2, "ip")
	field("ip.ttl", FieldIPTTL, "ip", fmtDecimal)
	field("ip.frag", FieldIPFrag, "ip", fmtDecimal).readOnly = true
	pred("ip.is_frag", "ip.frag[0]")
	pred("ip.later_frag", "ip.frag[1]")
	pred("ip.first_frag", "ip.is_frag && !ip.later_frag")

	field("ip4.src", FieldIP4Src, "ip4", fmtIPv4)
	field("ip4.dst", FieldIP4Dst, "ip4", fmtIPv4)
	pred("ip4.src_mcast", "ip4.src[28..31] == 0xe")
	pred("ip4.mcast", "eth.mcast && ip4.dst[28..31] == 0xe")
	pred("icmp4", "ip4 && ip.proto == 1")
	field("icmp4.type", FieldIcmpType, "icmp4", fmtDecimal)
	field("icmp4.code", FieldIcmpCode, "icmp4", fmtDecimal)
	pred("igmp", "ip4.mcast && ip.proto == 2")

	field("ip6.src", FieldIP6Src, "ip6", fmtIPv6)
	field("ip6.dst", FieldIP6Dst, "ip6", fmtIPv6)
	sub("ip6.label", FieldIP6Label, 0, 20, "ip6")
	pred("ip6.mcast_rsvd", "ip6.dst[116..127] == 0xff0 && ip6.dst[0..111] == 0x0")
	pred("ip6.mcast_all_nodes", "ip6.dst == ff01::1 || ip6.dst == ff02::1")
	pred("ip6.mcast_all_rtrs", "ip6.dst == ff01::2 || ip6.dst == ff02::2 || ip6.dst == ff05::2")
	pred("ip6.mcast_sol_node", "ip6.dst == ff02::1:ff00:0000/104")
	pred("ip6.mcast_flood", "eth.mcastv6 && (ip6.mcast_rsvd || ip6.mcast_all_nodes || ip6.mcast_all_rtrs || ip6.mcast_sol_node)")
	pred("ip6.mcast", "eth.mcastv6 && ip6.dst[120..127] == 0xff")
	pred("icmp6", "ip6 && ip.proto == 58")
	field("icmp6.type", FieldIcmpType, "icmp6", fmtDecimal)
	field("icmp6.code", FieldIcmpCode, "icmp6", fmtDecimal)
	pred("icmp", "icmp4 || icmp6")

	pred("arp", "eth.type == 0x806")
	field("arp.op", FieldArpOp, "arp", fmtDecimal)
	field("arp.spa", FieldArpSpa, "arp", fmtIPv4)
	field("arp.sha", FieldArpSha, "arp", fmtMAC)
	field("arp.tpa", FieldArpTpa, "arp", fmtIPv4)
	field("arp.tha", FieldArpTha, "arp", fmtMAC)
	pred("rarp", "eth.type == 0x8035")
	field("rarp.op", FieldArpOp, "rarp", fmtDecimal)
	field("rarp.spa", FieldArpSpa, "rarp", fmtIPv4)
	field("rarp.sha", FieldArpSha, "rarp", fmtMAC)
	field("rarp.tpa", FieldArpTpa, "rarp", fmtIPv4)
	field("rarp.tha", FieldArpTha, "rarp", fmtMAC)

	pred("nd", "icmp6.type == {135, 136} && icmp6.code == 0 && ip.ttl == 255")
	pred("nd_ns", "icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255")
	pred("nd_ns_mcast", "ip6.mcast && icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255")
	pred("nd_na", "icmp6.type == 136 && icmp6.code == 0 && ip.ttl == 255")
	pred("nd_rs", "icmp6.type == 133 && icmp6.code == 0 && ip.ttl == 255")
	pred("nd_ra", "icmp6.type == 134 && icmp6.code == 0 && ip.ttl == 255")
	field("nd.target", FieldNdTarget, "nd", fmtIPv6)
	field("nd.sll", FieldNdSll, "nd_ns", fmtMAC)
	field("nd.tll", FieldNdTll, "nd_na", fmtMAC)
	pred("mldv1", "eth.mcastv6 && ip6.src == fe80::/10 && icmp6.type == {130, 131, 132}")
	pred("mldv2", "eth.mcastv6 && ip6.dst == ff02::16 && icmp6.type == 143")

	pred("tcp", "ip.proto == 6")
	field("tcp.src", FieldTpSrc, "tcp", fmtDecimal)
	field("tcp.dst", FieldTpDst, "tcp", fmtDecimal)
	sub("tcp.flags", FieldTcpFlags, 0, 12, "tcp").fmt = fmtHex
	pred("udp", "ip.proto == 17")
	field("udp.src", FieldTpSrc, "udp", fmtDecimal)
	field("udp.dst", FieldTpDst, "udp", fmtDecimal)
	pred("sctp", "ip.proto == 132")
	field("sctp.src", FieldTpSrc, "sctp", fmtDecimal)
	field("sctp.dst", FieldTpDst, "sctp", fmtDecimal)

	field("pkt.mark", FieldPktMark, "", fmtHex)
	return t
}

// lookupSymbol returns the symbol called name, or nil.
func lookupSymbol(name string) *symbol { return symtab[name] }

// piece is a contiguous bit range of one physical field that a (sub)field
// reference covers: bits [lo, lo+n) of the logical value live in
// phys[off, off+n).
type piece struct {
	field  Field
	off, n int
	lo     int
}

// pieces splits bits [lo, lo+width) of symbol s into physical pieces, from
// the least significant. A plain field gives one piece; a register span
// gives one per register touched.
func (s *symbol) pieces(lo, width int, buf []piece) []piece {
	buf = buf[:0]
	if s.span <= 1 {
		return append(buf, piece{field: s.phys, off: s.off + lo, n: width, lo: 0})
	}
	// Register span: logical bit b lives in register (phys - b/32), bit b%32.
	for b := lo; b < lo+width; {
		reg := s.phys - Field(b/32)
		bit := b % 32
		n := 32 - bit
		if rem := lo + width - b; rem < n {
			n = rem
		}
		buf = append(buf, piece{field: reg, off: bit, n: n, lo: b - lo})
		b += n
	}
	return buf
}
