// Package pipeline compiles OVN logical flows (the Southbound Logical_Flow
// table, as ovn-northd 23.03 writes it) into the tables the eBPF datapath
// executes.
//
// # The model
//
// A logical flow is (datapath, pipeline, table, priority, match, actions).
// The compiler turns each one into Rules over the datapath's physical key:
//
//	Logical_Flow ──lex/parse──▶ match AST + action AST (parsed once per distinct string)
//	     │                          │
//	     │            expand symbols (predicates, prerequisites, subfields, $sets, @groups, ^vars)
//	     ▼                          ▼
//	 Resolver (ports, groups,  normalise to an OR of ANDs of one-field clauses
//	 address sets, chassis)         │
//	                                ▼
//	                 lower: one Rule per disjunct, or a conjunction when two or
//	                 more clauses of a disjunct are multi-valued (sets)
//	                                ▼
//	                 Tables: rules per (Datapath, Pipeline, Table), sorted
//
// A Rule is a masked match over physical Fields (the key the datapath
// parses from the packet and its metadata) plus a program of typed Ops. The
// datapath runs, per table, the highest-priority rule whose match holds and
// executes its ops; when the ops end without next/output the packet is
// dropped (OVN semantics), and a table that exists but has no matching rule
// drops it too. A table that does not exist for a datapath behaves as
// "next": the compiler prunes tables whose only flow is `1 -> next;`, and
// the datapath must treat a missing table as a fall-through to the
// following one, as the pruned flow did.
//
// Conjunctions follow OVS semantics: rules with a non-empty Conj list carry
// no actions; a packet matches `conj_id == ID` in a table when, for every
// clause 1..n of ID, at least one member rule of that clause (at the same
// priority) matched. The rule matching conj_id carries the actions. Ids are
// unique within a table of a datapath (they are in fact unique per Compiler
// among live rules, but copies of one lflow on several datapaths share
// them). A disjunct gets a conjunction only when it has two or more
// multi-valued clauses whose cross product exceeds crossProductLimit rules:
// `outport == @pg (2,000 ports) && ip4.src == $as (10,000)` is 12,001 rules.
//
// Port security (check_in_port_sec/check_out_port_sec) runs two extra
// "pipelines" of lookup tables, PipelinePortSecIn and PipelinePortSecOut,
// filled from Port_Binding.port_security by PortSecurityFlows (see
// CheckPortSec).
//
// Every rule carries the uuid of its lflow (Rule.Lflow); port-security
// rules carry "port-security:<port>:<n>".
//
// Everything in this package is pure: no I/O, no global state but memo
// caches of constant data, deterministic output for a given input
// (whatever the number of CPUs a batch compile uses).
package pipeline

import "fmt"

// Field is a physical key field of the datapath. The canonical names (String)
// are shared with the C key struct (with '.' written '_').
type Field uint8

// Physical fields, per contract.md.
const (
	FieldDP Field = iota
	FieldInport
	FieldOutport
	FieldFlags
	FieldReg0
	FieldReg1
	FieldReg2
	FieldReg3
	FieldReg4
	FieldReg5
	FieldReg6
	FieldReg7
	FieldReg8
	FieldReg9
	FieldCtZoneDNAT
	FieldCtZoneSNAT
	FieldCtZone
	FieldCtState
	FieldCtMark
	FieldCtLabel
	FieldPktMark
	FieldConjID
	FieldEthSrc
	FieldEthDst
	FieldEthType
	FieldVlanTCI
	FieldIPProto
	FieldIPTos
	FieldIPTTL
	FieldIPFrag
	FieldIP4Src
	FieldIP4Dst
	FieldIP6Src
	FieldIP6Dst
	FieldIP6Label
	FieldArpOp
	FieldArpSpa
	FieldArpTpa
	FieldArpSha
	FieldArpTha
	FieldNdTarget
	FieldNdSll
	FieldNdTll
	FieldTpSrc
	FieldTpDst
	FieldTcpFlags
	FieldIcmpType
	FieldIcmpCode

	// NumFields is the number of physical fields (not a field).
	NumFields
)

var fieldInfo = [NumFields]struct {
	name string
	bits uint16
}{
	FieldDP: {"dp", 32}, FieldInport: {"inport", 32}, FieldOutport: {"outport", 32}, FieldFlags: {"flags", 32},
	FieldReg0: {"reg0", 32}, FieldReg1: {"reg1", 32}, FieldReg2: {"reg2", 32}, FieldReg3: {"reg3", 32},
	FieldReg4: {"reg4", 32}, FieldReg5: {"reg5", 32}, FieldReg6: {"reg6", 32}, FieldReg7: {"reg7", 32},
	FieldReg8: {"reg8", 32}, FieldReg9: {"reg9", 32},
	FieldCtZoneDNAT: {"ct_zone_dnat", 16}, FieldCtZoneSNAT: {"ct_zone_snat", 16}, FieldCtZone: {"ct_zone", 16},
	FieldCtState: {"ct_state", 32}, FieldCtMark: {"ct_mark", 32}, FieldCtLabel: {"ct_label", 128},
	FieldPktMark: {"pkt_mark", 32}, FieldConjID: {"conj_id", 32},
	FieldEthSrc: {"eth_src", 48}, FieldEthDst: {"eth_dst", 48}, FieldEthType: {"eth_type", 16},
	FieldVlanTCI: {"vlan_tci", 16},
	FieldIPProto: {"ip_proto", 8}, FieldIPTos: {"ip_tos", 8}, FieldIPTTL: {"ip_ttl", 8}, FieldIPFrag: {"ip_frag", 8},
	FieldIP4Src: {"ip4_src", 32}, FieldIP4Dst: {"ip4_dst", 32},
	FieldIP6Src: {"ip6_src", 128}, FieldIP6Dst: {"ip6_dst", 128}, FieldIP6Label: {"ip6_label", 32},
	FieldArpOp: {"arp_op", 16}, FieldArpSpa: {"arp_spa", 32}, FieldArpTpa: {"arp_tpa", 32},
	FieldArpSha: {"arp_sha", 48}, FieldArpTha: {"arp_tha", 48},
	FieldNdTarget: {"nd_target", 128}, FieldNdSll: {"nd_sll", 48}, FieldNdTll: {"nd_tll", 48},
	FieldTpSrc: {"tp_src", 16}, FieldTpDst: {"tp_dst", 16}, FieldTcpFlags: {"tcp_flags", 16},
	FieldIcmpType: {"icmp_type", 8}, FieldIcmpCode: {"icmp_code", 8},
}

// String returns the canonical field name (contract.md).
func (f Field) String() string {
	if f < NumFields {
		return fieldInfo[f].name
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// Bits is the width of the field in bits.
func (f Field) Bits() int {
	if f < NumFields {
		return int(fieldInfo[f].bits)
	}
	return 0
}

// Bytes is the length of a Value or Mask of the field: Bits()/8 rounded up.
func (f Field) Bytes() int { return (f.Bits() + 7) / 8 }

// FieldByName returns the field with the canonical name.
func FieldByName(name string) (Field, bool) {
	for f := Field(0); f < NumFields; f++ {
		if fieldInfo[f].name == name {
			return f, true
		}
	}
	return 0, false
}

// Pipeline is a logical pipeline: ingress or egress.
type Pipeline uint8

// The two logical pipelines, and the two port-security lookups that
// CheckPortSec runs (see PortSecurityFlows).
const (
	Ingress Pipeline = iota
	Egress
	PipelinePortSecIn  // check_in_port_sec: table 0 (in_port_sec), table 1 (in_port_sec_nd)
	PipelinePortSecOut // check_out_port_sec: table 0
)

func (p Pipeline) String() string {
	switch p {
	case Egress:
		return "egress"
	case PipelinePortSecIn:
		return "port_sec_in"
	case PipelinePortSecOut:
		return "port_sec_out"
	}
	return "ingress"
}

// FieldMatch constrains one field: packet&Mask == Value. Value and Mask are
// big-endian and Field.Bytes() long; Value has no bit set outside Mask. A
// mask of all ones is an exact match.
type FieldMatch struct {
	Field Field
	Value []byte
	Mask  []byte
}

// Rule is one entry of a datapath table.
type Rule struct {
	Lflow    string // Logical_Flow uuid
	Datapath uint32 // Datapath_Binding tunnel key
	Pipeline Pipeline
	Table    uint8 // logical table id (Logical_Flow.table_id)
	Priority uint16
	Match    []FieldMatch // AND of field matches, sorted by Field, no field twice
	Conj     []ConjRef    // non-empty: conjunction clause member, no Actions
	Actions  []Op         // program of an ordinary rule or of a conj_id rule
}

// ConjRef says a rule is member Clause (1-based) of NClauses of conjunction ID
// (OVS conjunction(id, clause/n_clauses)).
type ConjRef struct {
	ID       uint32
	Clause   uint8
	NClauses uint8
}

// Bits names a bit range of a field: Field[Off .. Off+NBits-1], bit 0 being
// the least significant bit of the field's value.
//
// Register spans: when Field is a register (reg0..reg9), Off is 0 and NBits
// is 64 or 128, the operand is the xreg/xxreg made of NBits/32 consecutive
// registers starting at Field, Field being the most significant word:
// Bits{FieldReg4, 0, 128} is xxreg1 (reg4 = bits 96..127, reg7 = bits
// 0..31). Only operands of lookups (GetMAC, LookupMAC, PutMAC) and Push/Pop
// use spans; SetField, Move and Swap are always split per register.
type Bits struct {
	Field Field
	Off   uint16
	NBits uint16
}

func (b Bits) String() string {
	if int(b.Off) == 0 && int(b.NBits) == b.Field.Bits() {
		return b.Field.String()
	}
	if b.NBits == 1 {
		return fmt.Sprintf("%s[%d]", b.Field, b.Off)
	}
	return fmt.Sprintf("%s[%d..%d]", b.Field, b.Off, int(b.Off)+int(b.NBits)-1)
}

// Op is one typed action. The datapath encodes the ops it can execute and
// counts the rest as unsupported drops naming the rule's lflow.
type Op interface {
	// String renders the op canonically (used by the text rendering).
	String() string
	isOp()
}

// SetField loads a constant: Field = (Field &^ Mask) | Value.
type SetField struct {
	Field Field
	Value []byte // Field.Bytes() long
	Mask  []byte // Field.Bytes() long
}

// Move copies NBits from Src[SrcOff..] to Dst[DstOff..].
type Move struct {
	Src    Field
	SrcOff uint16
	Dst    Field
	DstOff uint16
	NBits  uint16
}

// Swap exchanges NBits between A[AOff..] and B[BOff..].
type Swap struct {
	A     Field
	AOff  uint16
	B     Field
	BOff  uint16
	NBits uint16
}

// Push saves a bit range on the per-packet stack; Pop restores into one.
type Push struct{ Bits }

// Pop restores a bit range from the per-packet stack.
type Pop struct{ Bits }

// Next resubmits to Table of Pipeline (`next;` is the current table + 1).
type Next struct {
	Pipeline Pipeline
	Table    uint8
}

// Output delivers to outport: from ingress to the datapath's output logic
// (local, tunnel, patch, multicast) which runs egress; from egress to the port.
type Output struct{}

// Drop stops processing of the packet.
type Drop struct{}

// Clone runs Actions on a copy of the packet, then continues with the original.
type Clone struct{ Actions []Op }

// DecTTL decrements ip.ttl (IPv4 TTL or IPv6 hop limit); a packet whose TTL
// was already 0 or 1 is dropped, as OVN does.
type DecTTL struct{}

// PortSecDir says which port-security check CheckPortSec makes.
type PortSecDir uint8

// Port security directions.
const (
	PortSecIn  PortSecDir = iota // check_in_port_sec: inport's port_security
	PortSecOut                   // check_out_port_sec: outport's port_security
)

// CheckPortSec stores in Dst (1 bit) whether the packet violates the port
// security of inport (In) or outport (Out): 1 = violation (drop it), as OVN.
//
// The datapath clears flags[12] (MLF_CHECK_PORT_SEC), runs table 0 of the
// PipelinePortSecIn (or PipelinePortSecOut) pipeline of the datapath, then copies flags[12]
// to Dst. Port-security tables are lookups, not stages: the matching rule's
// ops run (they set flags[12], or `next` to table 1); no matching rule, or
// no table, changes nothing (a port without port security passes).
type CheckPortSec struct {
	Dir PortSecDir
	Dst Bits
}

// MACKind selects the IPv4 (ARP) or IPv6 (ND) MAC binding table.
type MACKind uint8

// MAC binding kinds.
const (
	MACKindARP MACKind = iota
	MACKindND
)

func (k MACKind) String() string {
	if k == MACKindND {
		return "nd"
	}
	return "arp"
}

// GetMAC (get_arp/get_nd) sets eth.dst to the MAC bound to (Port, IP), or to
// 00:00:00:00:00:00 when none is known.
type GetMAC struct {
	Kind MACKind
	Port Field // outport, normally
	IP   Bits
}

// LookupMAC (lookup_arp/lookup_nd) stores in Dst whether (Port, IP) is bound
// to MAC. With a zero-width MAC (lookup_arp_ip/lookup_nd_ip) it stores
// whether any binding exists for (Port, IP).
type LookupMAC struct {
	Kind MACKind
	Port Field
	IP   Bits
	MAC  Bits // NBits == 0: any MAC
	Dst  Bits
}

// PutMAC (put_arp/put_nd) learns (Port, IP) -> MAC into the MAC binding table.
type PutMAC struct {
	Kind MACKind
	Port Field
	IP   Bits
	MAC  Bits
}

// GetFDB (get_fdb) sets Dst (outport) to the port that learnt MAC, or 0.
type GetFDB struct {
	MAC Bits
	Dst Bits
}

// LookupFDB (lookup_fdb) stores in Dst whether MAC was learnt on Port.
type LookupFDB struct {
	Port Field
	MAC  Bits
	Dst  Bits
}

// PutFDB (put_fdb) learns MAC on Port.
type PutFDB struct {
	Port Field
	MAC  Bits
}

// CTNext (ct_next) sends the packet through conntrack in Zone to get
// ct_state, then continues at Table of the current pipeline.
type CTNext struct {
	Zone  Field
	Table uint8
}

// CTCommit commits the connection in Zone; Actions (SetField/Move on ct_mark
// and ct_label only) set the entry's mark and label. Processing continues
// with the next op (the packet is not recirculated).
type CTCommit struct {
	Zone    Field
	Actions []Op
}

// NATKind is source or destination NAT.
type NATKind uint8

// NAT kinds.
const (
	NATDst NATKind = iota
	NATSrc
)

// CTNAT is ct_dnat, ct_snat, ct_dnat_in_czone and ct_snat_in_czone: without
// an IP it un-NATs an existing connection; with one it NATs new connections
// to IP (and port range). Then processing continues at Table.
type CTNAT struct {
	Kind       NATKind
	Zone       Field
	IP         []byte // nil, 4 or 16 bytes
	PortMin    uint16
	PortMax    uint16
	Random     bool
	Hash       bool
	Persist    bool
	Table      uint8
	CommonZone bool // the *_in_czone form (zone is the router's common SNAT zone)
}

// LBBackend is one load-balancer backend of CTLB.
type LBBackend struct {
	IP   []byte // 4 or 16 bytes
	Port uint16 // 0: keep the destination port
}

// CTLB (ct_lb, ct_lb_mark) is load balancing: for a new connection pick a
// backend by hash of HashFields (5-tuple when empty) and DNAT to it, recording
// the "natted" bit in ct_mark (Mark) or ct_label; an established connection
// follows its entry. No backends: only follow existing entries. Processing
// continues at Table.
type CTLB struct {
	Zone       Field
	Backends   []LBBackend
	HashFields []string
	Mark       bool // ct_lb_mark (natted bit in ct_mark) rather than ct_lb (ct_label)
	Table      uint8
	SkipSNAT   bool // ct_lb_mark(...; skip_snat): set ct_mark.skip_snat on commit
	ForceSNAT  bool // ct_lb_mark(...; force_snat): set ct_mark.force_snat on commit
}

// CTClear (ct_clear) forgets the packet's conntrack state.
type CTClear struct{}

// CTCommitNAT (ct_commit_nat) commits the packet's NAT to Zone's entry and
// continues at Table.
type CTCommitNAT struct {
	Zone  Field
	Table uint8
}

// CTSNATToVIP (ct_snat_to_vip) SNATs to the load balancer VIP the packet was
// DNATed from, then continues at Table.
type CTSNATToVIP struct {
	Zone  Field
	Table uint8
}

// HelperKind names the boolean helper lookups northd uses.
type HelperKind uint8

// Helper kinds (each stores 1 bit in Dst unless stated).
const (
	HelperChkLBHairpin      HelperKind = iota // R = chk_lb_hairpin()
	HelperChkLBHairpinReply                   // R = chk_lb_hairpin_reply()
	HelperChkECMPNHMAC                        // R = chk_ecmp_nh_mac()
	HelperChkECMPNH                           // R = chk_ecmp_nh()
	HelperChkLBAff                            // R = chk_lb_aff()
)

var helperNames = [...]string{"chk_lb_hairpin", "chk_lb_hairpin_reply", "chk_ecmp_nh_mac", "chk_ecmp_nh", "chk_lb_aff"}

func (k HelperKind) String() string {
	if int(k) < len(helperNames) {
		return helperNames[k]
	}
	return fmt.Sprintf("helper(%d)", uint8(k))
}

// Helper is one of the boolean lookups (HelperKind) into Dst.
type Helper struct {
	Kind HelperKind
	Dst  Bits
}

// CommitECMPNH (commit_ecmp_nh) remembers the ECMP next hop of a connection.
type CommitECMPNH struct {
	IPv6  bool
	Proto uint8 // IP protocol number
}

// CommitLBAff (commit_lb_aff) records a load balancer affinity session.
type CommitLBAff struct {
	VIP         []byte
	VIPPort     uint16
	Backend     []byte
	BackendPort uint16
	Proto       uint8
	Timeout     uint16
}

// CheckPktLarger (R = check_pkt_larger(L)) stores in Dst whether the packet
// is longer than Len bytes (L2 length, as OVS).
type CheckPktLarger struct {
	Len uint16
	Dst Bits
}

// Select (R = select(v1[:w1], ...)) stores one of Values in Dst, chosen by
// the packet's hash with the given weights.
type Select struct {
	Dst        Bits
	Values     []uint32
	Weights    []uint16
	HashFields []string
}

// FwdGroup (fwd_group) outputs to the first live port of Ports (liveness) or
// to one of them by hash.
type FwdGroup struct {
	Liveness bool
	Ports    []uint32 // port tunnel keys
}

// SetQueue sets the QoS queue id.
type SetQueue struct{ Queue uint16 }

// SetMeter rate-limits packets through this point (kbps, burst kb).
type SetMeter struct{ Rate, Burst uint32 }

// Log records the packet for an ACL (log(name=..., severity=..., verdict=...)).
type Log struct {
	Name     string
	Severity string
	Verdict  string
	Meter    string
}

// ControllerKind names what a Controller op asks user space to do.
type ControllerKind uint8

// Controller op kinds.
const (
	CtlARP               ControllerKind = iota // arp { }: turn an IPv4 packet into an ARP request
	CtlNDNS                                    // nd_ns { }
	CtlNDNA                                    // nd_na { }
	CtlNDNARouter                              // nd_na_router { }
	CtlICMP4                                   // icmp4 { }
	CtlICMP6                                   // icmp6 { }
	CtlICMP4Error                              // icmp4_error { }
	CtlICMP6Error                              // icmp6_error { }
	CtlTCPReset                                // tcp_reset { }
	CtlSCTPAbort                               // sctp_abort { }
	CtlReject                                  // reject { }
	CtlIGMP                                    // igmp;
	CtlBindVport                               // bind_vport(vport, inport)
	CtlHandleSvcCheck                          // handle_svc_check(inport)
	CtlHandleDHCPv6Reply                       // handle_dhcpv6_reply
	CtlHandleBFDMsg                            // handle_bfd_msg()
	CtlPutDHCPOpts                             // R = put_dhcp_opts(...)
	CtlPutDHCPv6Opts                           // R = put_dhcpv6_opts(...)
	CtlPutNDRAOpts                             // R = put_nd_ra_opts(...)
	CtlDNSLookup                               // R = dns_lookup()
	CtlTriggerEvent                            // trigger_event(...)
	CtlPutARP                                  // put_arp(...) as a packet-in (also PutMAC)
	CtlPutND                                   // put_nd(...) as a packet-in (also PutMAC)
	CtlSample                                  // sample(...)
)

var ctlNames = [...]string{"arp", "nd_ns", "nd_na", "nd_na_router", "icmp4", "icmp6", "icmp4_error",
	"icmp6_error", "tcp_reset", "sctp_abort", "reject", "igmp", "bind_vport", "handle_svc_check",
	"handle_dhcpv6_reply", "handle_bfd_msg", "put_dhcp_opts", "put_dhcpv6_opts", "put_nd_ra_opts",
	"dns_lookup", "trigger_event", "put_arp", "put_nd", "sample"}

func (k ControllerKind) String() string {
	if int(k) < len(ctlNames) {
		return ctlNames[k]
	}
	return fmt.Sprintf("controller(%d)", uint8(k))
}

// Pauses reports whether the kind pauses the pipeline: user space answers by
// reinjecting the packet, which resumes at the op after this one (Dst holds
// the result), rather than the packet being consumed.
func (k ControllerKind) Pauses() bool {
	switch k {
	case CtlPutDHCPOpts, CtlPutDHCPv6Opts, CtlPutNDRAOpts, CtlDNSLookup:
		return true
	}
	return false
}

// Option is one option of put_dhcp_opts, put_dhcpv6_opts or put_nd_ra_opts
// (name as in the DHCP_Options/DHCPv6_Options tables), its value(s) kept as
// OVN's canonical constant text (a list is "{a, b}").
type Option struct {
	Name  string
	Value string
}

// Arg is a name=value argument (trigger_event, sample, bind_vport...).
type Arg struct {
	Name  string
	Value string
}

// Controller sends the packet to user space (ovn-controller's pinctrl role).
// Nested ops run on the packet user space builds and reinjects (arp { },
// icmp4 { } ...). Pausing kinds store their result in Dst.
type Controller struct {
	Kind    ControllerKind
	Dst     Bits     // result bit for pausing kinds (NBits 0 otherwise)
	Options []Option // put_*_opts
	Args    []Arg    // other arguments, canonical text
	Ports   []uint32 // port keys named by the action (bind_vport, handle_svc_check)
	Meter   string
	Nested  []Op
}

// SetFragMTU writes icmp4.frag_mtu / icmp6.frag_mtu in an ICMP error being
// built (inside icmp4_error/icmp6_error).
type SetFragMTU struct {
	IPv6 bool
	MTU  uint32
}

// Unsupported stands for a construct that the datapath cannot run yet; a
// packet reaching it is dropped and counted against the rule's lflow.
type Unsupported struct{ Reason string }

func (SetField) isOp()       {}
func (Move) isOp()           {}
func (Swap) isOp()           {}
func (Push) isOp()           {}
func (Pop) isOp()            {}
func (Next) isOp()           {}
func (Output) isOp()         {}
func (Drop) isOp()           {}
func (Clone) isOp()          {}
func (DecTTL) isOp()         {}
func (CheckPortSec) isOp()   {}
func (GetMAC) isOp()         {}
func (LookupMAC) isOp()      {}
func (PutMAC) isOp()         {}
func (GetFDB) isOp()         {}
func (LookupFDB) isOp()      {}
func (PutFDB) isOp()         {}
func (CTNext) isOp()         {}
func (CTCommit) isOp()       {}
func (CTNAT) isOp()          {}
func (CTLB) isOp()           {}
func (CTClear) isOp()        {}
func (CTCommitNAT) isOp()    {}
func (CTSNATToVIP) isOp()    {}
func (Helper) isOp()         {}
func (CommitECMPNH) isOp()   {}
func (CommitLBAff) isOp()    {}
func (CheckPktLarger) isOp() {}
func (Select) isOp()         {}
func (FwdGroup) isOp()       {}
func (SetQueue) isOp()       {}
func (SetMeter) isOp()       {}
func (Log) isOp()            {}
func (Controller) isOp()     {}
func (SetFragMTU) isOp()     {}
func (Unsupported) isOp()    {}
