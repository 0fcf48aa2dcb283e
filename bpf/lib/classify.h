/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Tuple-space search: a table is a list of subtables (one per mask) sorted
 * by their highest priority; one hash probe per subtable; the search stops
 * once no later subtable can beat the best rule found. Conjunctions are
 * evaluated as OVS does: member rules mark clauses, a complete conjunction
 * above the best ordinary rule sets conj_id and the table is searched again. */
#ifndef OVNBPF_CLASSIFY_H
#define OVNBPF_CLASSIFY_H

#include "maps.h"
#include "thread.h"

static __always_inline int table_start(struct ovnbpf_work *s)
{
	struct ovnbpf_thread *t = &s->cur;
	__u32 dp = bpf_ntohl(t->key.dp);
	struct ovnbpf_table *tb;
	__u32 idx = 0;

	if (!s->dir_loaded || s->dir_dp != dp) {
		struct ovnbpf_dir_key dk = { .dp = dp, .parity = s->gen & 1 };
		struct ovnbpf_dir *d = bpf_map_lookup_elem(&ovnbpf_dirs, &dk);

		if (d)
			__builtin_memcpy(&s->dir, d, sizeof(s->dir));
		else
			__builtin_memset(&s->dir, 0, sizeof(s->dir));
		s->dir_dp = dp;
		s->dir_loaded = 1;
	}
	/* the compiler prunes tables that only say "next": skip to the next one */
	for (int i = 0; i < OVNBPF_MAX_TABLES; i++) {
		__u32 slot = t->table;

		if (slot >= OVNBPF_MAX_TABLES)
			break;
		slot += (t->pipeline & 1) * OVNBPF_MAX_TABLES;
		asm volatile("%0 &= %1" : "+r"(slot) : "i"(2 * OVNBPF_MAX_TABLES - 1));  /* a bound the verifier sees */
		idx = ((const __u32 *)s->dir.table)[slot];
		if (idx)
			break;
		t->table++;
	}
	if (t->table >= OVNBPF_MAX_TABLES || !idx)
		return thread_end(s, -OVNBPF_DROP_TABLE_END);
	tb = bpf_map_lookup_elem(&ovnbpf_tables, &idx);
	if (!tb)
		return thread_end(s, -OVNBPF_DROP_TABLE_END);
	__builtin_memcpy(&s->tbl, tb, sizeof(s->tbl));
	s->probe = 0;
	s->n_conj = 0;
	s->conj_pass = 0;
	__builtin_memset(&s->best, 0, sizeof(s->best));
	t->stage = OVNBPF_STAGE_PROBE;
	return 0;
}

static __always_inline void conj_mark(struct ovnbpf_work *s, const struct ovnbpf_conj_ref *c)
{
	__u32 n = s->n_conj, slot;

#pragma unroll
	for (int i = 0; i < OVNBPF_CONJ_TRACK; i++) {
		if (i >= n)
			break;
		if (s->conj[i].id == c->id && s->conj[i].prio == c->prio) {
			s->conj[i].seen |= 1u << (c->clause & 31);
			return;
		}
	}
	if (n >= OVNBPF_CONJ_TRACK)
		return;
	slot = n;
	asm volatile("" : "+r"(slot));  /* keep the mask below visible to the verifier */
	slot &= OVNBPF_CONJ_TRACK - 1;
	s->conj[slot].id = c->id;
	s->conj[slot].prio = c->prio;
	s->conj[slot].n_clauses = c->n_clauses;
	s->conj[slot].seen = 1u << (c->clause & 31);
	s->n_conj = n + 1;
}

static __always_inline int table_finish(struct ovnbpf_work *s)
{
	struct ovnbpf_thread *t = &s->cur;

	if (!s->conj_pass) {
		__u32 best_id = 0;
		__u16 best_prio = 0;
		__u32 n = s->n_conj;

		for (int i = 0; i < OVNBPF_CONJ_TRACK; i++) {
			__u32 full;

			if (i >= n)
				break;
			full = s->conj[i].n_clauses >= 32 ? ~0u : (1u << s->conj[i].n_clauses) - 1;
			if (s->conj[i].seen != full)
				continue;
			if (s->best.found && s->conj[i].prio <= s->best.prio)
				continue;
			if (!best_id || s->conj[i].prio > best_prio) {
				best_id = s->conj[i].id;
				best_prio = s->conj[i].prio;
			}
		}
		if (best_id) {
			t->key.conj_id = bpf_htonl(best_id);
			s->conj_pass = 1;
			s->probe = 0;
			return 0;
		}
	}
	t->key.conj_id = 0;
	if (!s->best.found)
		return thread_end(s, -OVNBPF_DROP_NO_MATCH);
	t->op_start = s->best.op_start;
	t->n_ops = s->best.n_ops;
	t->lflow = s->best.lflow;
	t->pc = 0;
	t->stage = OVNBPF_STAGE_EXEC;
	count_lflow(t->lflow, 0);
	return 0;
}

static __always_inline int table_probe(struct ovnbpf_work *s)
{
	struct ovnbpf_subtable_ref ref;
	struct ovnbpf_rule_slot *slot;
	struct ovnbpf_rule *r;
	struct ovnbpf_mask *m;
	const ovnbpf_u64a *words = (const ovnbpf_u64a *)s->cur.raw;
	__u32 i = s->probe;

	/* subtables whose common bits the packet does not have are passed over
	 * in this same step */
	for (int n = 0; n < OVNBPF_MAX_SUBTABLES; n++) {
		__u32 at = i;

		if (i >= s->tbl.n || i >= OVNBPF_MAX_SUBTABLES)
			return table_finish(s);
		asm volatile("%0 &= %1" : "+r"(at) : "i"(OVNBPF_MAX_SUBTABLES - 1));  /* a bound the verifier sees */
		ref = s->tbl.sub[at];
		if (s->best.found && ref.max_prio <= s->best.prio)
			return table_finish(s);
		if ((words[ref.pre_word & 31] & ref.pre_mask) == ref.pre_value)
			break;
		i++;
	}
	if (i >= s->tbl.n || i >= OVNBPF_MAX_SUBTABLES)
		return table_finish(s);
	s->probe = i + 1;
	m = bpf_map_lookup_elem(&ovnbpf_masks, &ref.id);
	if (!m)
		return 0;
	if (m->n <= OVNBPF_NARROW_WORDS) {
		struct ovnbpf_rule_key rk = { .subtable = ref.id };

#pragma unroll
		for (int j = 0; j < OVNBPF_NARROW_WORDS; j++) {
			if (j >= m->n)
				break;
			rk.w[j] = words[m->idx[j] & 31] & m->mask[j];
		}
		r = bpf_map_lookup_elem(&ovnbpf_rules, &rk);
	} else {
		struct ovnbpf_rule_key_w rk = { .subtable = ref.id };

#pragma unroll
		for (int j = 0; j < OVNBPF_MASK_WORDS; j++) {
			if (j >= m->n)
				break;
			rk.w[j] = words[m->idx[j] & 31] & m->mask[j];
		}
		r = bpf_map_lookup_elem(&ovnbpf_rules_w, &rk);
	}
	if (!r)
		return 0;
	slot = (__s32)(s->gen - r->since) >= 0 ? &r->cur : &r->prev;
	if ((slot->kind & OVNBPF_SLOT_ACTION) && (!s->best.found || slot->prio > s->best.prio)) {
		s->best.found = 1;
		s->best.prio = slot->prio;
		s->best.op_start = slot->op_start;
		s->best.n_ops = slot->n_ops;
		s->best.lflow = slot->lflow;
	}
	if ((slot->kind & OVNBPF_SLOT_CONJ) && !s->conj_pass) {
#pragma unroll
		for (int c = 0; c < OVNBPF_MAX_CONJ; c++) {
			if (c >= slot->n_conj)
				break;
			conj_mark(s, &slot->conj[c]);
		}
	}
	return 0;
}
#endif
