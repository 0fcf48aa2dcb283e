package maps

import (
	"fmt"
	"unsafe"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// KeyBytes is the size of the datapath's canonical key (struct ovnbpf_key).
const KeyBytes = int(unsafe.Sizeof(DatapathOvnbpfKey{}))

// keyWords is the number of 64-bit words the datapath's classifier reads.
const keyWords = (KeyBytes + 7) / 8

// FieldLoc is where a contract field lives in the key.
type FieldLoc struct {
	Name   string // C member name (= contract name)
	Offset int
	Size   int
}

var k DatapathOvnbpfKey

// fieldLocs maps each pipeline field to its place in struct ovnbpf_key. The
// offsets come from the generated type; TestFieldTableMatchesBTF checks them
// against the object's BTF and the contract's widths.
var fieldLocs = [pipeline.NumFields]FieldLoc{
	pipeline.FieldDP:         {"dp", int(unsafe.Offsetof(k.Dp)), 4},
	pipeline.FieldInport:     {"inport", int(unsafe.Offsetof(k.Inport)), 4},
	pipeline.FieldOutport:    {"outport", int(unsafe.Offsetof(k.Outport)), 4},
	pipeline.FieldFlags:      {"flags", int(unsafe.Offsetof(k.Flags)), 4},
	pipeline.FieldReg0:       {"reg0", int(unsafe.Offsetof(k.Reg0)), 4},
	pipeline.FieldReg1:       {"reg1", int(unsafe.Offsetof(k.Reg1)), 4},
	pipeline.FieldReg2:       {"reg2", int(unsafe.Offsetof(k.Reg2)), 4},
	pipeline.FieldReg3:       {"reg3", int(unsafe.Offsetof(k.Reg3)), 4},
	pipeline.FieldReg4:       {"reg4", int(unsafe.Offsetof(k.Reg4)), 4},
	pipeline.FieldReg5:       {"reg5", int(unsafe.Offsetof(k.Reg5)), 4},
	pipeline.FieldReg6:       {"reg6", int(unsafe.Offsetof(k.Reg6)), 4},
	pipeline.FieldReg7:       {"reg7", int(unsafe.Offsetof(k.Reg7)), 4},
	pipeline.FieldReg8:       {"reg8", int(unsafe.Offsetof(k.Reg8)), 4},
	pipeline.FieldReg9:       {"reg9", int(unsafe.Offsetof(k.Reg9)), 4},
	pipeline.FieldCtZoneDNAT: {"ct_zone_dnat", int(unsafe.Offsetof(k.CtZoneDnat)), 2},
	pipeline.FieldCtZoneSNAT: {"ct_zone_snat", int(unsafe.Offsetof(k.CtZoneSnat)), 2},
	pipeline.FieldCtZone:     {"ct_zone", int(unsafe.Offsetof(k.CtZone)), 2},
	pipeline.FieldCtState:    {"ct_state", int(unsafe.Offsetof(k.CtState)), 4},
	pipeline.FieldCtMark:     {"ct_mark", int(unsafe.Offsetof(k.CtMark)), 4},
	pipeline.FieldCtLabel:    {"ct_label", int(unsafe.Offsetof(k.CtLabel)), 16},
	pipeline.FieldPktMark:    {"pkt_mark", int(unsafe.Offsetof(k.PktMark)), 4},
	pipeline.FieldConjID:     {"conj_id", int(unsafe.Offsetof(k.ConjId)), 4},
	pipeline.FieldEthSrc:     {"eth_src", int(unsafe.Offsetof(k.EthSrc)), 6},
	pipeline.FieldEthDst:     {"eth_dst", int(unsafe.Offsetof(k.EthDst)), 6},
	pipeline.FieldEthType:    {"eth_type", int(unsafe.Offsetof(k.EthType)), 2},
	pipeline.FieldVlanTCI:    {"vlan_tci", int(unsafe.Offsetof(k.VlanTci)), 2},
	pipeline.FieldIPProto:    {"ip_proto", int(unsafe.Offsetof(k.IpProto)), 1},
	pipeline.FieldIPTos:      {"ip_tos", int(unsafe.Offsetof(k.IpTos)), 1},
	pipeline.FieldIPTTL:      {"ip_ttl", int(unsafe.Offsetof(k.IpTtl)), 1},
	pipeline.FieldIPFrag:     {"ip_frag", int(unsafe.Offsetof(k.IpFrag)), 1},
	pipeline.FieldIP4Src:     {"ip4_src", int(unsafe.Offsetof(k.Ip4Src)), 4},
	pipeline.FieldIP4Dst:     {"ip4_dst", int(unsafe.Offsetof(k.Ip4Dst)), 4},
	pipeline.FieldIP6Src:     {"ip6_src", int(unsafe.Offsetof(k.Ip6Src)), 16},
	pipeline.FieldIP6Dst:     {"ip6_dst", int(unsafe.Offsetof(k.Ip6Dst)), 16},
	pipeline.FieldIP6Label:   {"ip6_label", int(unsafe.Offsetof(k.Ip6Label)), 4},
	pipeline.FieldArpOp:      {"arp_op", int(unsafe.Offsetof(k.ArpOp)), 2},
	pipeline.FieldArpSpa:     {"arp_spa", int(unsafe.Offsetof(k.ArpSpa)), 4},
	pipeline.FieldArpTpa:     {"arp_tpa", int(unsafe.Offsetof(k.ArpTpa)), 4},
	pipeline.FieldArpSha:     {"arp_sha", int(unsafe.Offsetof(k.ArpSha)), 6},
	pipeline.FieldArpTha:     {"arp_tha", int(unsafe.Offsetof(k.ArpTha)), 6},
	pipeline.FieldNdTarget:   {"nd_target", int(unsafe.Offsetof(k.NdTarget)), 16},
	pipeline.FieldNdSll:      {"nd_sll", int(unsafe.Offsetof(k.NdSll)), 6},
	pipeline.FieldNdTll:      {"nd_tll", int(unsafe.Offsetof(k.NdTll)), 6},
	pipeline.FieldTpSrc:      {"tp_src", int(unsafe.Offsetof(k.TpSrc)), 2},
	pipeline.FieldTpDst:      {"tp_dst", int(unsafe.Offsetof(k.TpDst)), 2},
	pipeline.FieldTcpFlags:   {"tcp_flags", int(unsafe.Offsetof(k.TcpFlags)), 2},
	pipeline.FieldIcmpType:   {"icmp_type", int(unsafe.Offsetof(k.IcmpType)), 1},
	pipeline.FieldIcmpCode:   {"icmp_code", int(unsafe.Offsetof(k.IcmpCode)), 1},
}

// Loc returns where field f lives in the key.
func Loc(f pipeline.Field) (FieldLoc, error) {
	if f >= pipeline.NumFields {
		return FieldLoc{}, fmt.Errorf("unknown field %d", f)
	}
	return fieldLocs[f], nil
}
