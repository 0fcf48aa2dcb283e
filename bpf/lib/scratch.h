/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU working state of one packet: the running thread of the logical
 * pipeline, its pending continuations (clone, multicast), and the copies it
 * produced. The pipeline never touches the packet: actions change the key,
 * and the emit stage writes each copy's key back into the packet once. */
#ifndef OVNBPF_SCRATCH_H
#define OVNBPF_SCRATCH_H

#include "types.h"

/* Word views of byte arrays (key words, packet-field blocks): may_alias, so
 * that the compiler never reorders them against byte or field accesses. */
typedef __u64 __attribute__((__may_alias__)) ovnbpf_u64a;
typedef __u32 __attribute__((__may_alias__)) ovnbpf_u32a;
typedef __u16 __attribute__((__may_alias__)) ovnbpf_u16a;

enum ovnbpf_stage {
	OVNBPF_STAGE_TABLE = 0,   /* start classifying (pipeline, table) */
	OVNBPF_STAGE_PROBE,       /* probing subtable `probe` */
	OVNBPF_STAGE_EXEC,        /* executing op `pc` of the matched rule */
	OVNBPF_STAGE_OUTPUT,      /* ingress output: local, remote, patch, multicast */
	OVNBPF_STAGE_MCAST,       /* next local member of a multicast group */
	OVNBPF_STAGE_DELIVER,     /* egress output: to the port */
	OVNBPF_STAGE_DONE,
};

/* A thread of the pipeline. Its key must be first (see key_bytes). */
struct ovnbpf_thread {
	union {
		struct ovnbpf_key key;
		__u8 raw[256];  /* room so that bounded offsets never leave the thread */
	};
	__u8 stack[OVNBPF_STACK][16];
	__u32 op_start;
	__u16 n_ops;
	__u16 pc;
	__u32 lflow;
	__u8 stage;
	__u8 pipeline;
	__u8 table;
	__u8 depth;       /* stack depth */
	__u16 mc_idx;
	__u8 hops;        /* patch traversals */
	__u8 from_tunnel;
	__u8 port_sec;    /* the last check_*_port_sec failed: a drop now is port security's */
	__u8 na_flags;    /* this thread turned an NS into an NA (OVNBPF_NA_*): see ovnbpf_out */
};

struct ovnbpf_best {
	__u16 prio;
	__u8 found;
	__u8 pad;
	__u32 op_start;
	__u16 n_ops;
	__u16 pad2;
	__u32 lflow;
};

#define OVNBPF_CONJ_TRACK 8
struct ovnbpf_conj_track {
	__u32 id;
	__u16 prio;
	__u8 n_clauses;
	__u8 pad;
	__u32 seen;  /* clause bits */
};

/* Laid out by use: what every packet touches (the running thread, the
 * per-packet scalars, the flow key, the packet fields, the first copies)
 * first and together, in few cache lines; what only the pipeline and the
 * flow cache insert touch (continuations, classifier state, the entry
 * being built) after. */
struct ovnbpf_work {
	struct ovnbpf_thread cur;
	__u32 gen;
	__u32 cepoch;
	__u32 depoch;
	__u32 n_jobs;
	__u32 n_out;
	__u32 emit_idx;
	__u32 fkey_v4;
	__u32 uncacheable;  /* the pipeline read or wrote state outside its key */
	__u32 pkt_in_key;  /* the packet holds s->cur.key's fields, not s->pkt's */
	__u32 unchanged;   /* a flow cache hit whose copies hold the packet's own fields */
	__u32 tun_done;   /* the packet carries a Geneve header already */
	__u32 need_neigh;
	__u32 n_tun;      /* tunnel copies sit at the end of out[], devices at the start */
	__u32 probe;
	__u32 n_conj;
	__u32 conj_pass;   /* 1 while re-classifying with conj_id set */
	__u32 pkt_len;
	__u32 steps;
	__s32 verdict;     /* drop reason of the last thread that dropped */
	/* header offsets in the packet, from the parser */
	__u16 l3_off;
	__u16 l4_off;
	__u8 l4_proto;     /* parsed L4 (0: none written back) */
	__u8 is_ip4;
	__u8 is_ip6;
	__u8 is_arp;
	__u8 is_nd;
	__u8 pad[3];
	/* this CPU's last next hop (a copy of its ovnbpf_nexthops entry, valid
	 * as long as the entry): a stream to one chassis skips the hash lookup */
	struct ovnbpf_nexthop nh;
	__be32 nh_ip;
	__u32 nh_pad;
	__u8 nh_eth[16] __attribute__((aligned(8)));  /* its outer Ethernet header (14 bytes) */
	struct ovnbpf_flow_key4 fkey4 __attribute__((aligned(8)));  /* the pipeline's input for IPv4, as the flow cache keys it (fkey_v4) */
	/* this CPU's last IPv4 flow cache hit with a single copy (a one-entry
	 * exact-match cache, as OVS's EMC per thread): the next packet of the
	 * same flow on this CPU skips the hash lookup. Valid as the entry it
	 * was copied from: same generation and epochs (checked as for any
	 * entry), whose answer for the key is the pipeline's. */
	__u32 memo_ok;
	__u32 memo_miss;  /* hash of the last key that missed the memo (0: it hit) */
	struct ovnbpf_flow_key4 memo_key __attribute__((aligned(8)));
	/* the packet as it stands in the skb (what emit diffs against) */
	__u8 pkt[OVNBPF_PKT_BYTES + 8] __attribute__((aligned(8)));
	struct ovnbpf_out out[OVNBPF_MAX_OUT];
	struct ovnbpf_flow_key fkey;  /* the same for other packets */
	struct ovnbpf_thread jobs[OVNBPF_MAX_JOBS];
	struct ovnbpf_table tbl;       /* table being classified */
	struct ovnbpf_dir dir;         /* directory of datapath dir_dp */
	__u32 dir_dp;
	__u32 dir_loaded;
	struct ovnbpf_best best;
	struct ovnbpf_conj_track conj[OVNBPF_CONJ_TRACK];
	struct ovnbpf_flow fval;
	struct ovnbpf_flow memo;  /* its entry: header, packet fields, template, out[0] */
	/* ovnbpf_geneve_push's struct bpf_fib_lookup, kept off its stack: 6.1
	 * counts 512 bytes for a whole call chain (entry -> geneve_push ->
	 * csum_chunk). Bytes: bpf2go cannot render the struct's unnamed unions. */
	__u8 fib[64] __attribute__((aligned(8)));
};
#endif
