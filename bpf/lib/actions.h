/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The op interpreter: one op per call, on the running thread's key. Ops
 * that need the packet itself (header writes) only change the key: the
 * emit stage writes the differences back once per copy. */
#ifndef OVNBPF_ACTIONS_H
#define OVNBPF_ACTIONS_H

#include "maps.h"
#include "bits.h"
#include "thread.h"
#include "portsec.h"

static __always_inline void bytes_from_u128(__u8 *dst, __u32 n, struct u128 v)
{
#pragma unroll
	for (int i = 15; i >= 0; i--) {
		if (i < n) {
			dst[i] = v.lo & 0xff;
			v.lo = (v.lo >> 8) | (v.hi << 56);
			v.hi >>= 8;
		}
	}
}

static __always_inline struct u128 u128_from_bytes(const __u8 *src, __u32 n)
{
	struct u128 v = {};

#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i >= n)
			break;
		v.hi = (v.hi << 8) | (v.lo >> 56);
		v.lo = (v.lo << 8) | src[i];
	}
	return v;
}

static __always_inline struct u128 u128_of(__u64 lo)
{
	struct u128 v = { .hi = 0, .lo = lo };
	return v;
}

static __always_inline void macbind_key(struct ovnbpf_macbind_key *mk, const struct ovnbpf_thread *t,
					const struct ovnbpf_op *op)
{
	__u32 kind = op->flags & 1;

	mk->dp = bpf_ntohl(t->key.dp);
	mk->port = (__u32)bits_get(t->raw, &op->o[0]).lo;
	mk->kind = kind;
	bytes_from_u128(mk->ip, kind ? 16 : 4, bits_get(t->raw, &op->o[1]));
}

/* ovnbpf_exec_op runs one op: a global function, verified once rather than
 * inside every path of the executor's loop body. */
__noinline int ovnbpf_exec_op(struct ovnbpf_work *s, const struct ovnbpf_op *op)
{
	struct ovnbpf_thread *t;
	__u8 *raw;

	if (!s || !op)
		return -OVNBPF_DROP_UNSUPPORTED;
	t = &s->cur;
	raw = t->raw;
	switch (op->code) {
	case OVNBPF_OP_NOP:
		return 0;
	case OVNBPF_OP_SET: {
		__u32 off = op->o[0].off;

#pragma unroll
		for (int i = 0; i < 16; i++) {
			if (i >= op->o[0].size)
				break;
			raw[KEY_IDX(off + i)] = (raw[KEY_IDX(off + i)] & ~op->mask[i]) | op->value[i];
		}
		return 0;
	}
	case OVNBPF_OP_MOVE:
		bits_set(raw, &op->o[0], bits_get(raw, &op->o[1]));
		return 0;
	case OVNBPF_OP_SWAP: {
		struct u128 a = bits_get(raw, &op->o[0]);
		struct u128 b = bits_get(raw, &op->o[1]);

		bits_set(raw, &op->o[0], b);
		bits_set(raw, &op->o[1], a);
		return 0;
	}
	case OVNBPF_OP_PUSH: {
		struct u128 v;

		if (t->depth >= OVNBPF_STACK)
			return thread_end(s, -OVNBPF_DROP_STACK);
		v = bits_get(raw, &op->o[0]);
		bytes_from_u128(t->stack[t->depth & (OVNBPF_STACK - 1)], 16, v);
		t->depth++;
		return 0;
	}
	case OVNBPF_OP_POP:
		if (t->depth == 0)
			return thread_end(s, -OVNBPF_DROP_STACK);
		t->depth--;
		bits_set(raw, &op->o[0], u128_from_bytes(t->stack[t->depth & (OVNBPF_STACK - 1)], 16));
		return 0;
	case OVNBPF_OP_NEXT:
		t->pipeline = op->arg >> 8;
		t->table = op->arg & 0xff;
		t->stage = OVNBPF_STAGE_TABLE;
		return 0;
	case OVNBPF_OP_OUTPUT:
		t->stage = t->pipeline ? OVNBPF_STAGE_DELIVER : OVNBPF_STAGE_OUTPUT;
		return 0;
	case OVNBPF_OP_DROP:
		return thread_end(s, t->port_sec ? -OVNBPF_DROP_PORT_SEC : -OVNBPF_DROP_ACTION);
	case OVNBPF_OP_CLONE: {
		/* the continuation skips the body; the body runs first */
		__u16 body_pc = t->pc;

		t->pc = body_pc + op->arg;
		if (fork_thread(s) < 0)
			return thread_end(s, 0);
		t->pc = body_pc;
		return 0;
	}
	case OVNBPF_OP_ND_NA: {
		/* OVN's pinctrl answers an NS with an NA it builds from it (then
		 * runs the nested actions on the NA); here the body's thread becomes
		 * that NA in the key, and emit writes it into the packet. The
		 * original packet continues after the body only if ops follow. */
		__u16 body_pc = t->pc;
		struct ovnbpf_key *k = &t->key;
		__u8 na_flags = op->flags;
		__u8 mac[6];

		if (k->eth_type != bpf_htons(0x86dd) || k->ip_proto != 58 || k->icmp_type != 135)
			return thread_end(s, -OVNBPF_DROP_ACTION);
		if (body_pc + op->arg < t->n_ops) {
			t->pc = body_pc + op->arg;
			if (fork_thread(s) < 0)
				return thread_end(s, 0);
			t->pc = body_pc;
		}
		__builtin_memcpy(mac, k->eth_src, 6);
		__builtin_memcpy(k->eth_src, k->eth_dst, 6);
		__builtin_memcpy(k->eth_dst, mac, 6);
		if (ip6_is_zero(k->ip6_src)) {
			/* an answer to duplicate address detection goes to all nodes */
			__u8 all[16] = {0xff, 0x02, [15] = 1};

			__builtin_memcpy(k->ip6_dst, all, 16);
			na_flags &= ~OVNBPF_NA_SOLICITED;
		} else {
			__builtin_memcpy(k->ip6_dst, k->ip6_src, 16);
		}
		__builtin_memcpy(k->ip6_src, k->nd_target, 16);
		k->ip_ttl = 255;
		k->icmp_type = 136;
		k->icmp_code = 0;
		__builtin_memset(k->nd_sll, 0, 6);
		__builtin_memcpy(k->nd_tll, k->eth_src, 6);
		t->na_flags = na_flags | 1;  /* bit 0: "an NA", whatever the flags */
		s->uncacheable = 1;  /* the flow cache keeps no NA flags */
		return 0;
	}
	case OVNBPF_OP_EXIT:
		return thread_end(s, 0);
	case OVNBPF_OP_DEC_TTL:
		if (t->key.ip_ttl <= 1)
			return thread_end(s, -OVNBPF_DROP_TTL);
		t->key.ip_ttl--;
		return 0;
	case OVNBPF_OP_PORT_SEC:
		t->port_sec = port_sec_violation(&t->key, op->flags & 1);
		bits_set(raw, &op->o[0], u128_of(t->port_sec));
		return 0;
	case OVNBPF_OP_GET_MAC: {
		struct ovnbpf_macbind_key mk = {};
		struct ovnbpf_macbind_val *mb;

		macbind_key(&mk, t, op);
		mb = bpf_map_lookup_elem(&ovnbpf_macbind, &mk);
		if (mb)
			__builtin_memcpy(t->key.eth_dst, mb->mac, 6);
		else
			__builtin_memset(t->key.eth_dst, 0, 6);
		return 0;
	}
	case OVNBPF_OP_LOOKUP_MAC: {
		struct ovnbpf_macbind_key mk = {};
		struct ovnbpf_macbind_val *mb;
		__u64 hit = 0;

		macbind_key(&mk, t, op);
		mb = bpf_map_lookup_elem(&ovnbpf_macbind, &mk);
		if (mb) {
			if (op->flags & 2) {
				hit = 1;
			} else {
				__u8 mac[6];

				bytes_from_u128(mac, 6, bits_get(raw, &op->o[2]));
				hit = mac_eq(mac, mb->mac);
			}
		}
		bits_set(raw, &op->o[3], u128_of(hit));
		return 0;
	}
	case OVNBPF_OP_PUT_MAC: {
		struct ovnbpf_macbind_key mk = {};
		struct ovnbpf_macbind_val mb = {};
		struct ovnbpf_macbind_val *old;

		macbind_key(&mk, t, op);
		s->uncacheable = 1;
		old = bpf_map_lookup_elem(&ovnbpf_macbind, &mk);
		if (old && (old->flags & OVNBPF_MACBIND_PINNED))
			return 0;
		bytes_from_u128(mb.mac, 6, bits_get(raw, &op->o[2]));
		bpf_map_update_elem(&ovnbpf_macbind, &mk, &mb, BPF_ANY);
		learnt();
		return 0;
	}
	case OVNBPF_OP_GET_FDB: {
		struct ovnbpf_fdb_key fk = { .dp = bpf_ntohl(t->key.dp) };
		struct ovnbpf_fdb_val *f;

		bytes_from_u128(fk.mac, 6, bits_get(raw, &op->o[0]));
		f = bpf_map_lookup_elem(&ovnbpf_fdb, &fk);
		bits_set(raw, &op->o[1], u128_of(f ? f->port : 0));
		return 0;
	}
	case OVNBPF_OP_LOOKUP_FDB: {
		struct ovnbpf_fdb_key fk = { .dp = bpf_ntohl(t->key.dp) };
		struct ovnbpf_fdb_val *f;
		__u32 port = (__u32)bits_get(raw, &op->o[0]).lo;

		bytes_from_u128(fk.mac, 6, bits_get(raw, &op->o[1]));
		f = bpf_map_lookup_elem(&ovnbpf_fdb, &fk);
		bits_set(raw, &op->o[2], u128_of(f && f->port == port));
		return 0;
	}
	case OVNBPF_OP_PUT_FDB: {
		struct ovnbpf_fdb_key fk = { .dp = bpf_ntohl(t->key.dp) };
		struct ovnbpf_fdb_val f = {};

		f.port = (__u32)bits_get(raw, &op->o[0]).lo;
		bytes_from_u128(fk.mac, 6, bits_get(raw, &op->o[1]));
		bpf_map_update_elem(&ovnbpf_fdb, &fk, &f, BPF_ANY);
		s->uncacheable = 1;
		learnt();
		return 0;
	}
	case OVNBPF_OP_SET_ZERO:
		bits_set(raw, &op->o[0], u128_of(0));
		return 0;
	case OVNBPF_OP_PKT_LARGER:
		s->uncacheable = 1;  /* the length is not part of the cache key */
		bits_set(raw, &op->o[0], u128_of(s->pkt_len > op->arg));
		return 0;
	case OVNBPF_OP_CT_CLEAR:
		t->key.ct_state = 0;
		t->key.ct_mark = 0;
		__builtin_memset(t->key.ct_label, 0, 16);
		return 0;
	case OVNBPF_OP_UNSUPPORTED:
	default:
		count_lflow(t->lflow, 1);
		return thread_end(s, -OVNBPF_DROP_UNSUPPORTED);
	}
}

static __always_inline int exec_step(struct ovnbpf_work *s)
{
	struct ovnbpf_thread *t = &s->cur;
	struct ovnbpf_op *op;
	__u32 idx;

	if (t->pc >= t->n_ops)
		/* fell off the action list (`drop;` compiles to no ops) */
		return thread_end(s, t->port_sec ? -OVNBPF_DROP_PORT_SEC : -OVNBPF_DROP_ACTION);
	idx = t->op_start + t->pc;
	t->pc++;
	op = bpf_map_lookup_elem(&ovnbpf_ops, &idx);
	if (!op)
		return thread_end(s, -OVNBPF_DROP_UNSUPPORTED);
	return ovnbpf_exec_op(s, op);
}
#endif
