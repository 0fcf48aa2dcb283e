/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the datapath, pinned by name under the loader's pin path. */
#ifndef OVNBPF_MAPS_H
#define OVNBPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "scratch.h"

#define OVNBPF_PIN __uint(pinning, LIBBPF_PIN_BY_NAME)

/* The generation packets start under; flipped by maps/ after an apply. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u32);
	OVNBPF_PIN;
} ovnbpf_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ovnbpf_flow_key);
	__type(value, struct ovnbpf_flow);
	OVNBPF_PIN;
} ovnbpf_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ovnbpf_flow_key4);
	__type(value, struct ovnbpf_flow);
	OVNBPF_PIN;
} ovnbpf_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __be32);
	__type(value, struct ovnbpf_nexthop);
	OVNBPF_PIN;
} ovnbpf_nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OVNBPF_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
	OVNBPF_PIN;
} ovnbpf_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ovnbpf_config);
	OVNBPF_PIN;
} ovnbpf_cfg SEC(".maps");

/* Hash maps replaced while packets read them are not preallocated: an
 * update swaps the element under RCU, so a reader sees old or new, whole. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_dir_key);
	__type(value, struct ovnbpf_dir);
	OVNBPF_PIN;
} ovnbpf_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ovnbpf_table);
	OVNBPF_PIN;
} ovnbpf_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ovnbpf_mask);
	OVNBPF_PIN;
} ovnbpf_masks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1048576);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_rule_key);
	__type(value, struct ovnbpf_rule);
	OVNBPF_PIN;
} ovnbpf_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_rule_key_w);
	__type(value, struct ovnbpf_rule);
	OVNBPF_PIN;
} ovnbpf_rules_w SEC(".maps");

/* The classifier's sizes follow the logical flow capacity (ovnbpf_lflows:
 * 131072) at 8 entries (ovnbpf_rules), 2 wide entries and 2 op slots per
 * lflow, and ovnbpf_ports a logical port per 2 lflows: the reference scale
 * (44k lflows) takes 120k entries and 124k op slots. ovnbpfd
 * --lflow-capacity scales them together (loader.Capacity). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 262144);
	__type(key, __u32);
	__type(value, struct ovnbpf_op);
	OVNBPF_PIN;
} ovnbpf_ops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_port_key);
	__type(value, struct ovnbpf_port);
	OVNBPF_PIN;
} ovnbpf_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ovnbpf_datapath);
	OVNBPF_PIN;
} ovnbpf_dps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_vif_key);
	__type(value, struct ovnbpf_vif);
	OVNBPF_PIN;
} ovnbpf_vifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_port_key);
	__type(value, struct ovnbpf_mcast_group);
	OVNBPF_PIN;
} ovnbpf_mcast SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_port_key);
	__type(value, struct ovnbpf_portsec_val);
	OVNBPF_PIN;
} ovnbpf_portsec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ovnbpf_fdb_key);
	__type(value, struct ovnbpf_fdb_val);
	OVNBPF_PIN;
} ovnbpf_fdb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ovnbpf_macbind_key);
	__type(value, struct ovnbpf_macbind_val);
	OVNBPF_PIN;
} ovnbpf_macbind SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OVNBPF_DROP__MAX);
	__type(key, __u32);
	__type(value, __u64);
	OVNBPF_PIN;
} ovnbpf_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, struct ovnbpf_lflow_stats);
	OVNBPF_PIN;
} ovnbpf_lflows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ovnbpf_lflow_name);
	OVNBPF_PIN;
} ovnbpf_lfnames SEC(".maps");

/* Per-packet working state: not pinned, private to one load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ovnbpf_work);
} ovnbpf_scratch SEC(".maps");

/* Stage programs reached by tail call. */
#define OVNBPF_TAIL_EMIT 0
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} ovnbpf_jmp SEC(".maps");

static __always_inline struct ovnbpf_work *scratch_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ovnbpf_scratch, &zero);
}

static __always_inline void count_drop(int reason)
{
	__u32 r = reason < 0 ? -reason : reason;
	__u64 *c;

	if (r >= OVNBPF_DROP__MAX)
		r = OVNBPF_DROP_NONE;
	c = bpf_map_lookup_elem(&ovnbpf_drops, &r);
	if (c)
		*c += 1;
}

static __always_inline void count_stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ovnbpf_stats, &idx);

	if (c)
		*c += 1;
}

static __always_inline __u32 gen_read(__u32 idx)
{
	__u32 *g = bpf_map_lookup_elem(&ovnbpf_gen, &idx);

	return g ? *g : 0;
}

/* learnt: the datapath changed state cached flows may depend on */
static __always_inline void learnt(void)
{
	__u32 idx = OVNBPF_GEN_DATAPATH;
	__u32 *g = bpf_map_lookup_elem(&ovnbpf_gen, &idx);

	if (g)
		__sync_fetch_and_add(g, 1);
}

static __always_inline void count_lflow(__u32 lflow, int unsupported)
{
	struct ovnbpf_lflow_stats *s = bpf_map_lookup_elem(&ovnbpf_lflows, &lflow);

	if (!s)
		return;
	if (unsupported)
		s->unsupported += 1;
	else
		s->hits += 1;
}
#endif
