/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Threads of the logical pipeline: ending one (and resuming a pending
 * clone or multicast continuation), forking one, recording a packet copy. */
#ifndef OVNBPF_THREAD_H
#define OVNBPF_THREAD_H

#include <bpf/bpf_endian.h>
#include "maps.h"

/* thread_end finishes the running thread (reason < 0: a counted drop) and
 * resumes the most recent pending continuation, if any. */
static __always_inline int thread_end(struct ovnbpf_work *s, int reason)
{
	if (reason < 0) {
		count_drop(reason);
		s->verdict = reason;
	}
	if (s->n_jobs > 0 && s->n_jobs <= OVNBPF_MAX_JOBS) {
		__u32 j = (s->n_jobs - 1) & (OVNBPF_MAX_JOBS - 1);

		__builtin_memcpy(&s->cur, &s->jobs[j], sizeof(s->cur));
		s->n_jobs--;
		return 0;
	}
	s->cur.stage = OVNBPF_STAGE_DONE;
	return 0;
}

/* fork_thread saves a copy of the running thread to be resumed later. */
static __always_inline int fork_thread(struct ovnbpf_work *s)
{
	__u32 j = s->n_jobs;

	if (j >= OVNBPF_MAX_JOBS) {
		count_drop(-OVNBPF_DROP_TOO_MANY_COPIES);
		return -OVNBPF_DROP_TOO_MANY_COPIES;
	}
	__builtin_memcpy(&s->jobs[j & (OVNBPF_MAX_JOBS - 1)], &s->cur, sizeof(s->cur));
	s->n_jobs = j + 1;
	return 0;
}

static __always_inline int add_out(struct ovnbpf_work *s, __u8 kind, __u32 ifindex, __u16 vlan,
				   __be32 chassis_ip)
{
	struct ovnbpf_thread *t = &s->cur;
	struct ovnbpf_out *o;
	__u32 n = s->n_out;

	if (n >= OVNBPF_MAX_OUT) {
		count_drop(-OVNBPF_DROP_TOO_MANY_COPIES);
		return -OVNBPF_DROP_TOO_MANY_COPIES;
	}
	/* devices fill out[] from the start, tunnels from the end: emission
	 * sends device copies first, then the tunnel copies that share one
	 * encapsulation */
	if (kind == OVNBPF_OUT_TUNNEL) {
		o = &s->out[(OVNBPF_MAX_OUT - 1 - s->n_tun) & (OVNBPF_MAX_OUT - 1)];
		s->n_tun++;
	} else {
		o = &s->out[(n - s->n_tun) & (OVNBPF_MAX_OUT - 1)];
	}
	o->kind = kind;
	o->na_flags = t->na_flags;
	o->ifindex = ifindex;
	o->vlan = vlan;
	o->chassis_ip = chassis_ip;
	o->dp = bpf_ntohl(t->key.dp);
	o->inport = bpf_ntohl(t->key.inport);
	o->outport = bpf_ntohl(t->key.outport);
	__builtin_memcpy(o->pkt, &t->raw[OVNBPF_PKT_OFF], OVNBPF_PKT_BYTES);
	s->n_out = n + 1;
	return 0;
}

static __always_inline void clear_regs(struct ovnbpf_key *k)
{
	k->reg0 = k->reg1 = k->reg2 = k->reg3 = k->reg4 = 0;
	k->reg5 = k->reg6 = k->reg7 = k->reg8 = k->reg9 = 0;
}

/* egress_enter: OVN's local output: loopback check, registers cleared,
 * egress pipeline from table 0. */
static __always_inline int egress_enter(struct ovnbpf_work *s, int count_loop)
{
	struct ovnbpf_thread *t = &s->cur;

	if (t->key.inport == t->key.outport && !(bpf_ntohl(t->key.flags) & OVNBPF_FLAG_LOOPBACK))
		return thread_end(s, count_loop ? -OVNBPF_DROP_LOOP : 0);
	clear_regs(&t->key);
	t->port_sec = 0;
	t->pipeline = 1;
	t->table = 0;
	t->stage = OVNBPF_STAGE_TABLE;
	return 0;
}

/* patch_enter: the packet enters the peer datapath's ingress pipeline as
 * the peer port, with conntrack, zones, flags, outport and registers cleared. */
static __always_inline int patch_enter(struct ovnbpf_work *s, const struct ovnbpf_port *p)
{
	struct ovnbpf_thread *t = &s->cur;
	struct ovnbpf_key *k = &t->key;

	if (++t->hops > 8)
		return thread_end(s, -OVNBPF_DROP_LOOP);
	k->dp = bpf_htonl(p->peer_dp);
	k->inport = bpf_htonl(p->peer_port);
	k->outport = 0;
	k->flags = 0;
	clear_regs(k);
	k->ct_zone_dnat = k->ct_zone_snat = k->ct_zone = 0;
	k->ct_state = k->ct_mark = 0;
	__builtin_memset(k->ct_label, 0, sizeof(k->ct_label));
	k->conj_id = 0;
	t->port_sec = 0;
	t->pipeline = 0;
	t->table = 0;
	t->stage = OVNBPF_STAGE_TABLE;
	return 0;
}
#endif
