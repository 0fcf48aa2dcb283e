/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The single definition of every map key and value of the ovnbpf datapath.
 * Go types are generated from these (bpf2go -type); never copy them by hand. */
#ifndef OVNBPF_TYPES_H
#define OVNBPF_TYPES_H

#include <linux/types.h>

#define OVNBPF_KEY_BYTES 216       /* sizeof(struct ovnbpf_key) */
#define OVNBPF_KEY_WORDS 27        /* OVNBPF_KEY_BYTES / 8 */
#define OVNBPF_PKT_OFF 96          /* first packet field (eth_src) */
#define OVNBPF_PKT_BYTES 120       /* packet fields: eth_src .. icmp_code */
#define OVNBPF_MASK_WORDS 12       /* key words one subtable may match on */
#define OVNBPF_MAX_SUBTABLES 32    /* masks per (datapath, pipeline, table) */
#define OVNBPF_MAX_CONJ 4          /* conjunction memberships per rule slot */
#define OVNBPF_MAX_TABLES 32       /* logical table ids per pipeline */
#define OVNBPF_MCAST_PORTS 32      /* local members per multicast group */
#define OVNBPF_MCAST_CHASSIS 16    /* remote chassis per multicast group */
#define OVNBPF_PORTSEC_ENTRIES 4   /* "MAC [IP...]" entries per port */
#define OVNBPF_PORTSEC_IP4 4
#define OVNBPF_PORTSEC_IP6 2
#define OVNBPF_STACK 4             /* push/pop depth */
#define OVNBPF_MAX_JOBS 8          /* pending clone/multicast continuations */
#define OVNBPF_MAX_OUT 16          /* packet copies one input may produce */
#define OVNBPF_GENEVE_PORT 6081
#define OVNBPF_MCAST_MIN 32768     /* OVN multicast group keys start here */

/* The canonical key (contract.md): every field network byte order, named
 * as the contract names it. Metadata first, packet fields from
 * OVNBPF_PKT_OFF so that one copy of the tail carries a packet's headers. */
struct ovnbpf_key {
	__be32 dp;
	__be32 inport;
	__be32 outport;
	__be32 flags;
	__be32 reg0;
	__be32 reg1;
	__be32 reg2;
	__be32 reg3;
	__be32 reg4;
	__be32 reg5;
	__be32 reg6;
	__be32 reg7;
	__be32 reg8;
	__be32 reg9;
	__be16 ct_zone_dnat;
	__be16 ct_zone_snat;
	__be16 ct_zone;
	__be16 vlan_tci;
	__be32 ct_state;
	__be32 ct_mark;
	__u8 ct_label[16];
	__be32 pkt_mark;
	__be32 conj_id;
	/* packet fields (OVNBPF_PKT_OFF) */
	__u8 eth_src[6];
	__u8 eth_dst[6];
	__be16 eth_type;
	__be16 arp_op;
	__u8 ip_proto;
	__u8 ip_tos;
	__u8 ip_ttl;
	__u8 ip_frag;
	__be32 ip4_src;
	__be32 ip4_dst;
	__be32 arp_spa;
	__be32 arp_tpa;
	__u8 arp_sha[6];
	__u8 arp_tha[6];
	__u8 ip6_src[16];
	__u8 ip6_dst[16];
	__u8 nd_target[16];
	__be32 ip6_label;
	__u8 nd_sll[6];
	__u8 nd_tll[6];
	__be16 tp_src;
	__be16 tp_dst;
	__be16 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
};

/* Flag bits of key.flags (host order after ntohl), REFERENCE.md. */
#define OVNBPF_FLAG_LOOPBACK (1u << 0)
#define OVNBPF_FLAG_NESTED (1u << 5)

/* Why a packet was dropped: index of ovnbpf_drops. */
enum ovnbpf_drop_reason {
	OVNBPF_DROP_NONE = 0,
	OVNBPF_DROP_PARSE_ETH,
	OVNBPF_DROP_PARSE_VLAN,
	OVNBPF_DROP_PARSE_ARP,
	OVNBPF_DROP_PARSE_IP4,
	OVNBPF_DROP_PARSE_IP6,
	OVNBPF_DROP_PARSE_IP6_EXT,
	OVNBPF_DROP_PARSE_TCP,
	OVNBPF_DROP_PARSE_UDP,
	OVNBPF_DROP_PARSE_SCTP,
	OVNBPF_DROP_PARSE_ICMP,
	OVNBPF_DROP_PARSE_ICMP6,
	OVNBPF_DROP_PARSE_ND,
	OVNBPF_DROP_PARSE_GENEVE,
	OVNBPF_DROP_UNKNOWN_PORT,     /* no binding for the device/VLAN (fail-secure) */
	OVNBPF_DROP_NO_MATCH,         /* no rule matched in a table */
	OVNBPF_DROP_ACTION,           /* drop; or an action list that ended */
	OVNBPF_DROP_NO_ROUTE,         /* outport unknown, not local, no tunnel */
	OVNBPF_DROP_LOOP,             /* inport == outport without flags.loopback */
	OVNBPF_DROP_TTL,              /* ip.ttl-- on TTL <= 1 */
	OVNBPF_DROP_UNSUPPORTED,      /* an action the datapath cannot run yet (per lflow too) */
	OVNBPF_DROP_STEP_LIMIT,       /* pipeline ran too long (resubmit loop) */
	OVNBPF_DROP_TOO_MANY_COPIES,  /* more copies than OVNBPF_MAX_OUT or jobs */
	OVNBPF_DROP_STACK,            /* push/pop over- or underflow */
	OVNBPF_DROP_ENCAP,            /* building or sending a Geneve packet failed */
	OVNBPF_DROP_DECAP,            /* removing a Geneve header failed */
	OVNBPF_DROP_GENEVE_OPTION,    /* unknown critical option or no OVN option */
	OVNBPF_DROP_NO_NEIGH,         /* no route or neighbour for the remote chassis */
	OVNBPF_DROP_REWRITE,          /* writing the packet headers failed */
	OVNBPF_DROP_TABLE_END,        /* next past the last table */
	OVNBPF_DROP_NO_SCRATCH,
	OVNBPF_DROP_REDIRECT,         /* the kernel refused a copy (device gone) */
	OVNBPF_DROP_PORT_SEC,         /* the drop that follows a failed check_*_port_sec */
	OVNBPF_DROP_TUNNEL_IP4,       /* tunnel packet's outer IPv4: IHL, header checksum, total length */
	OVNBPF_DROP_TUNNEL_UDP,       /* tunnel packet's outer UDP length is not its IPv4 payload's */
	OVNBPF_DROP_TUNNEL_CSUM,      /* tunnel packet's outer UDP checksum is wrong */
	OVNBPF_DROP__MAX,
};

/* Operand of an op: bits [bit, bit+nbits) of the big-endian field of
 * size bytes at byte offset off of the key (bit 0 = least significant). */
struct ovnbpf_operand {
	__u16 off;
	__u8 size;
	__u8 pad;
	__u16 bit;
	__u16 nbits;
};

enum ovnbpf_opcode {
	OVNBPF_OP_NOP = 0,
	OVNBPF_OP_SET,          /* o0 field = (o0 & ~mask) | value */
	OVNBPF_OP_MOVE,         /* o0 bits = o1 bits */
	OVNBPF_OP_SWAP,         /* o0 bits <-> o1 bits */
	OVNBPF_OP_PUSH,         /* push o0 bits */
	OVNBPF_OP_POP,          /* pop into o0 bits */
	OVNBPF_OP_NEXT,         /* arg = pipeline << 8 | table */
	OVNBPF_OP_OUTPUT,
	OVNBPF_OP_DROP,
	OVNBPF_OP_CLONE,        /* arg = ops in the body, which ends with EXIT */
	OVNBPF_OP_EXIT,         /* end of a clone body */
	OVNBPF_OP_DEC_TTL,
	OVNBPF_OP_PORT_SEC,     /* flags = dir (0 in, 1 out); o0 = result bit */
	OVNBPF_OP_GET_MAC,      /* flags = kind (0 arp, 1 nd); o0 port, o1 ip */
	OVNBPF_OP_LOOKUP_MAC,   /* flags = kind | 2 (any MAC); o0 port, o1 ip, o2 mac, o3 result */
	OVNBPF_OP_PUT_MAC,      /* flags = kind; o0 port, o1 ip, o2 mac */
	OVNBPF_OP_GET_FDB,      /* o0 mac, o1 result port */
	OVNBPF_OP_LOOKUP_FDB,   /* o0 port, o1 mac, o2 result bit */
	OVNBPF_OP_PUT_FDB,      /* o0 port, o1 mac */
	OVNBPF_OP_SET_ZERO,     /* o0 bits = 0 (helpers with no state to find: chk_lb_hairpin...) */
	OVNBPF_OP_PKT_LARGER,   /* arg = length; o0 result bit */
	OVNBPF_OP_CT_CLEAR,
	OVNBPF_OP_UNSUPPORTED,  /* arg = kind (maps/ keeps the names) */
	OVNBPF_OP_ND_NA,        /* nd_na{}/nd_na_router{}: flags = NA flags (OVNBPF_NA_*); arg = ops in the body (ends with EXIT) */
	OVNBPF_OP__MAX,
};

/* Neighbor Advertisement flags (RFC 4861), as nd_na / nd_na_router set
 * them: OVN answers solicited, overriding; a router also sets R. */
enum ovnbpf_na_flag {
	OVNBPF_NA_ROUTER = 0x80,
	OVNBPF_NA_SOLICITED = 0x40,
	OVNBPF_NA_OVERRIDE = 0x20,
};

/* One op of an action program; programs live in ovnbpf_ops. */
struct ovnbpf_op {
	__u8 code;
	__u8 flags;
	__u16 arg;
	__u32 pad;
	struct ovnbpf_operand o[4];
	__u8 value[16];
	__u8 mask[16];
};

/* A datapath's directory: for each pipeline (0 ingress, 1 egress) and
 * table, its index in ovnbpf_tables (0: no such table, i.e. "next").
 * Keyed per generation parity, so a whole apply flips at once. */
struct ovnbpf_dir_key {
	__u32 dp;
	__u8 parity;    /* generation & 1 */
	__u8 pad[3];
};

struct ovnbpf_dir {
	__u32 table[2][OVNBPF_MAX_TABLES];
};

/* A table: its subtables (one per distinct mask) by descending max
 * priority. Immutable once a directory names it. */
/* pre_*: bits every rule of the subtable agrees on (prerequisites such as
 * eth.type or ip.proto), in one key word: a packet that differs there is
 * refused without a hash lookup. pre_mask 0: no such bits. */
struct ovnbpf_subtable_ref {
	__u32 id;
	__u16 max_prio;
	__u8 pre_word;
	__u8 pad;
	__u64 pre_mask;
	__u64 pre_value;
};

struct ovnbpf_table {
	__u32 n;
	__u32 pad;
	struct ovnbpf_subtable_ref sub[OVNBPF_MAX_SUBTABLES];
};

/* A subtable's mask: the key words it reads (index into the key as u64
 * words) and the mask of each. Immutable once written. */
struct ovnbpf_mask {
	__u8 n;
	__u8 idx[OVNBPF_MASK_WORDS];
	__u8 pad[3];
	__u64 mask[OVNBPF_MASK_WORDS];
};

/* Entries of subtables reading up to OVNBPF_NARROW_WORDS key words live in
 * ovnbpf_rules (a short key hashes faster), wider ones in ovnbpf_rules_w. */
#define OVNBPF_NARROW_WORDS 4

struct ovnbpf_rule_key {
	__u32 subtable;
	__u32 pad;
	__u64 w[OVNBPF_NARROW_WORDS];  /* masked key words, in mask order */
};

struct ovnbpf_rule_key_w {
	__u32 subtable;
	__u32 pad;
	__u64 w[OVNBPF_MASK_WORDS];
};

struct ovnbpf_conj_ref {
	__u32 id;
	__u16 prio;
	__u8 clause;     /* 0-based */
	__u8 n_clauses;
};

#define OVNBPF_SLOT_ACTION 1
#define OVNBPF_SLOT_CONJ 2

/* One version of a rule's contents. */
struct ovnbpf_rule_slot {
	__u16 prio;
	__u8 kind;       /* OVNBPF_SLOT_* bits; 0 = absent in this version */
	__u8 n_conj;
	__u32 op_start;  /* index in ovnbpf_ops */
	__u16 n_ops;
	__u16 pad;
	__u32 lflow;     /* index in ovnbpf_lflows (maps/ maps it to the uuid) */
	struct ovnbpf_conj_ref conj[OVNBPF_MAX_CONJ];
};

/* Two versions: packets that started under generation g < since see prev,
 * the others cur. A change is written as {prev: old, cur: new, since: g+1}
 * before the generation flips: no packet ever sees half an apply. */
struct ovnbpf_rule {
	__u32 since;
	__u32 pad;
	struct ovnbpf_rule_slot prev;
	struct ovnbpf_rule_slot cur;
};

/* Logical port types, as seen from this chassis. */
enum ovnbpf_port_type {
	OVNBPF_PORT_NONE = 0,
	OVNBPF_PORT_VIF,        /* local device (vlan != 0: nested container on its parent) */
	OVNBPF_PORT_REMOTE,     /* bound on another chassis: tunnel */
	OVNBPF_PORT_PATCH,      /* enters peer_dp's ingress as peer_port */
	OVNBPF_PORT_LOCALNET,   /* physical network device, vlan tag if any */
	OVNBPF_PORT_LOCALPORT,  /* local device present on every chassis, never tunnelled */
	OVNBPF_PORT_REDIRECT,   /* chassisredirect resident here: output goes to peer_port of the same datapath */
};

struct ovnbpf_port_key {
	__u32 dp;
	__u32 port;
};

struct ovnbpf_port {
	__u8 type;          /* enum ovnbpf_port_type */
	__u8 pad;
	__u16 vlan;         /* nested container tag or localnet VLAN; 0 none */
	__u32 ifindex;      /* VIF / LOCALNET device */
	__u32 peer_dp;      /* PATCH */
	__u32 peer_port;    /* PATCH; REDIRECT: the distributed port */
	__be32 chassis_ip;  /* REMOTE: the chassis' Geneve endpoint */
};

/* Per-datapath facts. */
struct ovnbpf_datapath {
	__u32 localnet_port;  /* 0: none; else remote ports are reached through it */
	__u32 pad;
};

/* Ingress binding of a device (and VLAN tag for nested containers). */
struct ovnbpf_vif_key {
	__u32 ifindex;
	__u16 vlan;  /* 0: untagged */
	__u16 pad;
};

struct ovnbpf_vif {
	__u32 dp;
	__u32 port;
	__u16 ct_zone;
	__u16 flags;  /* OR-ed into key.flags (OVNBPF_FLAG_NESTED for a container) */
};

struct ovnbpf_mcast_group {
	__u16 n_ports;
	__u16 n_chassis;
	__u32 ports[OVNBPF_MCAST_PORTS];         /* local member port keys */
	__be32 chassis[OVNBPF_MCAST_CHASSIS];    /* remote chassis with members */
};

/* Port_Binding.port_security: "MAC [IP/plen...]" entries. */
struct ovnbpf_portsec_ip4 {
	__be32 addr;
	__be32 mask;
};

struct ovnbpf_portsec_ip6 {
	__u8 addr[16];
	__u8 plen;
	__u8 pad[3];
};

struct ovnbpf_portsec_entry {
	__u8 mac[6];
	__u8 n_ip4;
	__u8 n_ip6;
	struct ovnbpf_portsec_ip4 ip4[OVNBPF_PORTSEC_IP4];
	struct ovnbpf_portsec_ip6 ip6[OVNBPF_PORTSEC_IP6];
};

struct ovnbpf_portsec_val {
	__u32 n;
	__u32 pad;
	struct ovnbpf_portsec_entry e[OVNBPF_PORTSEC_ENTRIES];
};

struct ovnbpf_fdb_key {
	__u32 dp;
	__u8 mac[6];
	__u16 pad;
};

struct ovnbpf_fdb_val {
	__u32 port;
	__u32 pad;
};

struct ovnbpf_macbind_key {
	__u32 dp;
	__u32 port;
	__u8 kind;   /* 0 IPv4 (ip[0..3]), 1 IPv6 */
	__u8 pad[3];
	__u8 ip[16];
};

/* Flags of a MAC binding. The controller pins a Static_MAC_Binding with
 * override_dynamic_mac: OVN gives it precedence over what the datapath
 * learns (put_arp/put_nd), so a learnt MAC must not replace it. */
enum ovnbpf_macbind_flag {
	OVNBPF_MACBIND_PINNED = 1,
};

struct ovnbpf_macbind_val {
	__u8 mac[6];
	__u8 flags;  /* enum ovnbpf_macbind_flag */
	__u8 pad;
};

/* Chassis-wide settings (index 0 of ovnbpf_cfg). */
struct ovnbpf_config {
	__be32 encap_ip;           /* our Geneve endpoint */
	__u32 underlay_ifindex;    /* where tunnel packets leave */
	__u16 udp_csum;            /* 1: compute outer UDP checksums (as OVS with options:csum=true) */
	__u16 pad;
	__u32 pad2;
};

enum ovnbpf_out_kind {
	OVNBPF_OUT_DEVICE = 1,    /* redirect to ifindex (vlan pushed if set) */
	OVNBPF_OUT_TUNNEL,        /* Geneve to chassis_ip */
};

struct ovnbpf_out {
	__u8 kind;
	__u8 na_flags;  /* bit 0: the copy is a Neighbor Advertisement built from an NS; OVNBPF_NA_* its flags */
	__u16 vlan;
	__u32 ifindex;
	__be32 chassis_ip;
	__u32 dp;
	__u32 inport;
	__u32 outport;
	__u8 pkt[OVNBPF_PKT_BYTES + 8] __attribute__((aligned(8)));  /* the copy's packet fields (key tail); aligned: copied as 8-byte words */
};

/* The flow cache: the pipeline's complete input (initial key and where it
 * starts) -> the copies it produced, valid while nothing it depends on
 * changed (the generation, the control-plane epoch, the datapath's own
 * learning epoch). */
#define OVNBPF_CACHE_OUT OVNBPF_MAX_OUT

/* One cached copy: where it goes (its packet fields are the entry's). */
struct ovnbpf_flow_out {
	__u8 kind;
	__u8 pad;
	__u16 vlan;
	__u32 ifindex;
	__be32 chassis_ip;
	__u32 dp;
	__u32 inport;
	__u32 outport;
};

struct ovnbpf_flow_key {
	/* where the packet came from: a device (and its VLAN tag), or a
	 * tunnel's datapath and ports; the binding of a device is state the
	 * control epoch covers */
	__u32 ifindex;
	__u32 dp;
	__u32 inport;
	__u32 outport;
	__be16 vlan_tci;
	__u8 from_tunnel;
	__u8 pad;
	__u8 pkt[OVNBPF_PKT_BYTES];  /* every packet field the parser fills */
};

/* The same for an IPv4 packet, whose other packet fields are all zero: a
 * third of the bytes to hash. l2l3 = the key's eth_src .. ip4_dst, l4 =
 * tp_src .. icmp_code. */
#define OVNBPF_FLOW4_L2L3 28
#define OVNBPF_FLOW4_L4_OFF 112   /* in the packet fields: tp_src */
#define OVNBPF_FLOW4_L4 8

struct ovnbpf_flow_key4 {
	__u32 ifindex;
	__u32 dp;
	__u32 inport;
	__u32 outport;
	__be16 vlan_tci;
	__u8 from_tunnel;
	__u8 pad;
	__u8 l2l3[OVNBPF_FLOW4_L2L3];
	__u8 l4[OVNBPF_FLOW4_L4];
};

_Static_assert(__builtin_offsetof(struct ovnbpf_key, eth_src) == OVNBPF_PKT_OFF, "packet fields start");
_Static_assert(OVNBPF_PKT_OFF % 8 == 0 && __builtin_offsetof(struct ovnbpf_key, eth_dst) == OVNBPF_PKT_OFF + 6 &&
	       __builtin_offsetof(struct ovnbpf_key, ip6_src) % 8 == 0 && __builtin_offsetof(struct ovnbpf_key, ip6_dst) % 8 == 0,
	       "word compares of packet fields (rewrite.h)");
_Static_assert(sizeof(struct ovnbpf_key) == OVNBPF_KEY_BYTES, "key size");
_Static_assert(__builtin_offsetof(struct ovnbpf_key, ip4_dst) + 4 == OVNBPF_PKT_OFF + OVNBPF_FLOW4_L2L3, "flow4 l2l3");
_Static_assert(__builtin_offsetof(struct ovnbpf_key, tp_src) == OVNBPF_PKT_OFF + OVNBPF_FLOW4_L4_OFF, "flow4 l4");
_Static_assert(sizeof(struct ovnbpf_key) == OVNBPF_PKT_OFF + OVNBPF_FLOW4_L4_OFF + OVNBPF_FLOW4_L4, "flow4 l4 end");

/* The outer headers of a flow's single tunnel copy, as its first cached
 * packet got them: the next packets copy them and patch only the lengths
 * and checksums. Everything in them is fixed by the entry (the copy's
 * packet fields, chassis and ports) and the config (its epoch). */
#define OVNBPF_TUN_HDR_LEN 44  /* outer IPv4, UDP, Geneve, OVN option */

enum ovnbpf_tun_csum {
	OVNBPF_TUN_CSUM_OFF = 0,    /* no outer UDP checksum (config) */
	OVNBPF_TUN_CSUM_LCO,        /* udp_sum + both UDP lengths (inner ICMPv4, or IPv6 without extension headers) */
	OVNBPF_TUN_CSUM_LCO_LEN4,   /* the same minus the inner IPv4 TCP/UDP length (its pseudo-header) */
	OVNBPF_TUN_CSUM_FULL,       /* the inner checksum cannot vouch for the payload: sum it all */
};

struct ovnbpf_tun_tmpl {
	__u8 valid;
	__u8 csum;        /* enum ovnbpf_tun_csum */
	__u16 ip_sum;     /* folded sum of hdr's IPv4 header (tot_len and check 0) */
	__u16 udp_sum;    /* folded outer UDP checksum sum without the lengths (LCO kinds) */
	__u16 pad;
	__u8 hdr[OVNBPF_TUN_HDR_LEN] __attribute__((aligned(8)));  /* lengths and checksums 0 */
};

struct ovnbpf_flow {
	__u32 gen;
	__u32 cepoch;
	__u32 depoch;
	__u8 n_out;
	__u8 n_tun;
	__u8 strip_vlan;  /* a nested container's tag comes off first */
	__u8 unchanged;   /* the copies' packet fields are the input's: nothing to rewrite */
	__u8 pkt[OVNBPF_PKT_BYTES + 8] __attribute__((aligned(8)));  /* every copy's packet fields (cached only when all agree) */
	struct ovnbpf_tun_tmpl tun;      /* a single tunnel copy's outer headers (filled by its first hit) */
	struct ovnbpf_flow_out out[OVNBPF_CACHE_OUT];  /* devices first, then tunnels */
};

/* Indexes of ovnbpf_gen. */
enum ovnbpf_gen_idx {
	OVNBPF_GEN_TABLES = 0,    /* classifier generation (maps/ Installer) */
	OVNBPF_GEN_CONTROL = 1,   /* bumped by every other control-plane write */
	OVNBPF_GEN_DATAPATH = 2,  /* bumped by the datapath's own learning (put_fdb, put_arp) */
};

/* Indexes of ovnbpf_stats. */
enum ovnbpf_stat {
	OVNBPF_STAT_CACHE_HIT = 0,
	OVNBPF_STAT_CACHE_MISS,
	OVNBPF_STAT_CACHE_INSERT,
	OVNBPF_STAT__MAX,
};

/* The next hop of a remote chassis as bpf_fib_lookup last answered it,
 * reused for OVNBPF_NEXTHOP_JIFFIES (10-100 ms at HZ 1000-100; the kernel's
 * FIB and neighbour table stay the authority: entries are short-lived,
 * never kept). Jiffies: the verifier inlines bpf_jiffies64 as one load,
 * where a clock helper costs a call and a conversion. */
#define OVNBPF_NEXTHOP_JIFFIES 10

struct ovnbpf_nexthop {
	__u8 smac[6];
	__u8 dmac[6];
	__u32 ifindex;
	__u64 expires;  /* bpf_jiffies64() */
};

/* The Logical_Flow uuid of a counter index (written by maps/, read back
 * when a restarted daemon reconciles what is installed). */
struct ovnbpf_lflow_name {
	char uuid[40];
};

/* Per-lflow counters (per CPU). */
struct ovnbpf_lflow_stats {
	__u64 hits;
	__u64 unsupported;
};
#endif
