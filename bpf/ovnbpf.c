// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ovnbpf datapath entry programs.
 *
 *   VIF host-side device, tc ingress ─ ovnbpf_vif_ingress ─┐
 *     parse ─ binding (device, VLAN) ─ ingress pipeline     │
 *   underlay device, tc ingress ─ ovnbpf_underlay_ingress ─┤
 *     Geneve check ─ decap ─ parse ─ output-to-local ─ egress pipeline
 *                                                          ▼
 *                                  ovnbpf_emit (tail call, once per copy):
 *                                  rewrite headers, VLAN, Geneve, redirect
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/types.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/pipeline.h"
#include "lib/rewrite.h"
#include "lib/geneve.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Types maps/ needs that no map declares (bpf2go -type finds them in BTF). */
const enum ovnbpf_drop_reason *unused_drop_reason __attribute__((unused));
const enum ovnbpf_opcode *unused_opcode __attribute__((unused));
const enum ovnbpf_port_type *unused_port_type __attribute__((unused));
const enum ovnbpf_stat *unused_stat __attribute__((unused));
const enum ovnbpf_gen_idx *unused_gen_idx __attribute__((unused));
const enum ovnbpf_na_flag *unused_na_flag __attribute__((unused));
const enum ovnbpf_macbind_flag *unused_macbind_flag __attribute__((unused));

static __always_inline int drop(int reason)
{
	count_drop(reason);
	return TC_ACT_SHOT;
}

/* start resets what every packet needs: the packet fields (the parser fills
 * only what the packet has), the copies, the generations its answer is
 * computed under. pipeline_start resets the rest, for a packet that runs
 * the pipeline (a flow cache miss). */
static __always_inline struct ovnbpf_work *start(struct __sk_buff *skb)
{
	struct ovnbpf_work *s = scratch_get();
	if (!s)
		return 0;
	__builtin_memset(&s->cur.raw[OVNBPF_PKT_OFF], 0, OVNBPF_PKT_BYTES);
	s->cur.key.vlan_tci = 0;
	s->n_out = 0;
	s->n_tun = 0;
	s->tun_done = 0;
	s->unchanged = 0;
	s->pkt_len = skb->len;
	s->gen = gen_read(OVNBPF_GEN_TABLES);
	s->cepoch = gen_read(OVNBPF_GEN_CONTROL);
	s->depoch = gen_read(OVNBPF_GEN_DATAPATH);
	return s;
}

/* pipeline_start resets the key's metadata (the VLAN tag is the parser's)
 * and the thread, before the pipeline runs. */
static __always_inline void pipeline_start(struct ovnbpf_work *s)
{
	__be16 vlan_tci = s->cur.key.vlan_tci;

	__builtin_memset(&s->cur.key, 0, OVNBPF_PKT_OFF);
	s->cur.key.vlan_tci = vlan_tci;
	s->cur.depth = 0;
	s->cur.hops = 0;
	s->cur.from_tunnel = 0;
	s->cur.port_sec = 0;
	s->cur.na_flags = 0;
	s->cur.mc_idx = 0;
	s->n_jobs = 0;
	s->emit_idx = 0;
	s->verdict = 0;
	s->uncacheable = 0;
	s->dir_loaded = 0;
}

/* finish remembers what the packet holds before the pipeline changes the key. */
static __always_inline int finish(struct __sk_buff *skb, struct ovnbpf_work *s)
{
	__builtin_memcpy(s->pkt, &s->cur.raw[OVNBPF_PKT_OFF], OVNBPF_PKT_BYTES);
	s->pkt_in_key = 0;
	return 0;
}

static __always_inline int ovnbpf_pkt_differs(const __u8 *a, const __u8 *b)
{
	const ovnbpf_u64a *x = (const void *)a, *y = (const void *)b;
	__u64 acc = 0;

#pragma unroll
	for (int i = 0; i < OVNBPF_PKT_BYTES / 8; i++)
		acc |= x[i] ^ y[i];
	return acc != 0;
}

/* flow_key_set records where the packet came from and what it holds (the
 * packet fields just parsed) as the flow cache's key. */
static __always_inline void flow_key_set(struct ovnbpf_work *s, __u32 ifindex, __u32 dp, __u32 inport,
					 __u32 outport, __u8 from_tunnel)
{
	if (s->is_ip4) {
		s->fkey_v4 = 1;
		s->fkey4.ifindex = ifindex;
		s->fkey4.dp = dp;
		s->fkey4.inport = inport;
		s->fkey4.outport = outport;
		s->fkey4.vlan_tci = s->cur.key.vlan_tci;
		s->fkey4.from_tunnel = from_tunnel;
		s->fkey4.pad = 0;
		__builtin_memcpy(s->fkey4.l2l3, &s->cur.raw[OVNBPF_PKT_OFF], OVNBPF_FLOW4_L2L3);
		__builtin_memcpy(s->fkey4.l4, &s->cur.raw[OVNBPF_PKT_OFF + OVNBPF_FLOW4_L4_OFF], OVNBPF_FLOW4_L4);
		return;
	}
	s->fkey_v4 = 0;
	s->fkey.ifindex = ifindex;
	s->fkey.dp = dp;
	s->fkey.inport = inport;
	s->fkey.outport = outport;
	s->fkey.vlan_tci = s->cur.key.vlan_tci;
	s->fkey.from_tunnel = from_tunnel;
	s->fkey.pad = 0;
	__builtin_memcpy(s->fkey.pkt, &s->cur.raw[OVNBPF_PKT_OFF], OVNBPF_PKT_BYTES);
}

/* cache_lookup: a hit fills s->out as the pipeline would have and returns
 * the entry (for strip_vlan); a miss returns NULL. */
static __always_inline struct ovnbpf_flow *cache_lookup(struct ovnbpf_work *s)
{
	struct ovnbpf_flow *f;
	__u32 n, ndev;

	/* two call sites, kept apart: clang would otherwise merge the calls into
	 * one whose map varies, which the verifier cannot inline (the generic
	 * helper costs an indirect call per packet) */
	int memo_fill = 0;

	if (s->fkey_v4) {
		const ovnbpf_u64a *a = (const void *)&s->fkey4, *b = (const void *)&s->memo_key;
		__u64 d = 0;

#pragma unroll
		for (int i = 0; i < (int)sizeof(s->fkey4) / 8; i++)
			d |= a[i] ^ b[i];
		/* a memo of another generation or epoch: the map may hold a
		 * newer entry (another CPU's) */
		if (s->memo_ok && !d && s->memo.gen == s->gen && s->memo.cepoch == s->cepoch &&
		    s->memo.depoch == s->depoch) {
			f = &s->memo;
			s->memo_miss = 0;
		} else {
			__u64 h = 0;

			f = bpf_map_lookup_elem(&ovnbpf_flows4, &s->fkey4);
			asm volatile("" ::: "memory");
			/* refilled (a copy of some 200 bytes) only for a key that
			 * missed it twice in a row, a stream: flows in turn, each
			 * packet another flow's, would refill it every packet for
			 * nothing. A hash of the key tells; a collision costs one
			 * refill. */
#pragma unroll
			for (int i = 0; i < (int)sizeof(s->fkey4) / 8; i++)
				h = (h ^ a[i]) * 0x9e3779b97f4a7c15ULL;
			h >>= 32;
			memo_fill = s->memo_miss == h;
			s->memo_miss = h;
		}
	} else {
		f = bpf_map_lookup_elem(&ovnbpf_flows, &s->fkey);
	}
	if (!f || f->gen != s->gen || f->cepoch != s->cepoch || f->depoch != s->depoch ||
	    f->n_out == 0 || f->n_out > OVNBPF_CACHE_OUT || f->n_tun > f->n_out) {
		count_stat(OVNBPF_STAT_CACHE_MISS);
		return 0;
	}
	if (memo_fill && f->n_out == 1) {
		s->memo_ok = 0;
		__builtin_memcpy(&s->memo_key, &s->fkey4, sizeof(s->memo_key));
		s->memo.gen = f->gen;
		s->memo.cepoch = f->cepoch;
		s->memo.depoch = f->depoch;
		s->memo.n_out = 1;
		s->memo.n_tun = f->n_tun;
		s->memo.strip_vlan = f->strip_vlan;
		s->memo.unchanged = f->unchanged;
		if (!f->unchanged)
			__builtin_memcpy(s->memo.pkt, f->pkt, OVNBPF_PKT_BYTES);
		__builtin_memcpy(&s->memo.tun, &f->tun, sizeof(f->tun));
		__builtin_memcpy(&s->memo.out[0], &f->out[0], sizeof(f->out[0]));
		s->memo_ok = 1;
	}
	n = f->n_out;
	ndev = n - f->n_tun;
	for (int i = 0; i < OVNBPF_CACHE_OUT; i++) {
		struct ovnbpf_out *o;
		__u32 slot;

		if (i >= n)
			break;
		/* devices at the start of out[], tunnels at its end */
		slot = i < ndev ? i : OVNBPF_MAX_OUT - 1 - (i - ndev);
		o = &s->out[slot & (OVNBPF_MAX_OUT - 1)];
		o->kind = f->out[i].kind;
		o->na_flags = 0;  /* an NA is never cached */
		o->vlan = f->out[i].vlan;
		o->ifindex = f->out[i].ifindex;
		o->chassis_ip = f->out[i].chassis_ip;
		o->dp = f->out[i].dp;
		o->inport = f->out[i].inport;
		o->outport = f->out[i].outport;
		/* a single copy of the packet as it is needs no packet fields of
		 * its own (emit reads the parse's) */
		if (!f->unchanged || n > 1)
			__builtin_memcpy(o->pkt, f->pkt, OVNBPF_PKT_BYTES);
	}
	s->n_out = n;
	s->n_tun = f->n_tun;
	s->unchanged = f->unchanged;
	count_stat(OVNBPF_STAT_CACHE_HIT);
	return f;
}

/* ovnbpf_cache_prepare builds the flow cache entry for what the pipeline produced
 * in s->fval (1: there is one to insert); the emit stage may add the tunnel
 * template; cache_commit then inserts it. A global function, off the entry
 * programs' frames: their stack counts in 6.1's 512 bytes for the chain
 * through ovnbpf_geneve_push. */
__noinline int ovnbpf_cache_prepare(struct ovnbpf_work *s, __u32 strip_vlan)
{
	__u32 n, ndev;

	if (!s)
		return 0;
	n = s->n_out;
	ndev = s->n_out - s->n_tun;
	if (s->uncacheable || n == 0 || n > OVNBPF_CACHE_OUT || s->n_tun > n)
		return 0;
	s->fval.gen = s->gen;
	s->fval.cepoch = s->cepoch;
	s->fval.depoch = s->depoch;
	s->fval.n_out = n;
	s->fval.n_tun = s->n_tun;
	s->fval.strip_vlan = strip_vlan;
	s->fval.tun.valid = 0;
	for (int i = 0; i < OVNBPF_CACHE_OUT; i++) {
		struct ovnbpf_out *o;
		__u32 slot;

		if (i >= n)
			break;
		slot = i < ndev ? i : OVNBPF_MAX_OUT - 1 - (i - ndev);
		o = &s->out[slot & (OVNBPF_MAX_OUT - 1)];
		if (i == 0) {
			__builtin_memcpy(s->fval.pkt, o->pkt, OVNBPF_PKT_BYTES);
			s->fval.unchanged = !ovnbpf_pkt_differs(s->pkt, o->pkt);
		} else if (ovnbpf_pkt_differs(s->fval.pkt, o->pkt)) {
			return 0;  /* copies that differ (a clone that rewrote): not cached */
		}
		s->fval.out[i].kind = o->kind;
		s->fval.out[i].vlan = o->vlan;
		s->fval.out[i].ifindex = o->ifindex;
		s->fval.out[i].chassis_ip = o->chassis_ip;
		s->fval.out[i].dp = o->dp;
		s->fval.out[i].inport = o->inport;
		s->fval.out[i].outport = o->outport;
	}
	return 1;
}

static __always_inline void cache_commit(struct ovnbpf_work *s)
{
	long ret;

	if (s->fkey_v4)
		ret = bpf_map_update_elem(&ovnbpf_flows4, &s->fkey4, &s->fval, BPF_ANY);
	else
		ret = bpf_map_update_elem(&ovnbpf_flows, &s->fkey, &s->fval, BPF_ANY);
	if (!ret)
		count_stat(OVNBPF_STAT_CACHE_INSERT);
}

/* emit sends the copies: the common single plain device copy right here,
 * anything else through the emit program (tail call per copy). f: the flow
 * cache entry of a hit; insert: a miss whose entry ovnbpf_cache_prepare built, to
 * be inserted once the copy has gone through the emit stage (which may add
 * the tunnel template to it). */
static __always_inline int emit(struct __sk_buff *skb, struct ovnbpf_work *s, const int tunnels,
				struct ovnbpf_flow *f, int insert)
{
	int ret;

	if (s->n_out == 0)
		return TC_ACT_SHOT;  /* each thread counted its own drop */
	if (s->n_out == 1 && s->n_tun == 0 && s->out[0].kind == OVNBPF_OUT_DEVICE && !s->out[0].vlan) {
		if (insert)
			cache_commit(s);
		if (!s->unchanged) {  /* switched traffic leaves as it came */
			ret = ovnbpf_rewrite(skb, s, 0, 0, 1);
			if (ret < 0)
				return drop(ret);
		}
		return bpf_redirect(s->out[0].ifindex, 0);
	}
	if (tunnels && s->n_out == 1 && s->n_tun == 1) {
		struct ovnbpf_tun_tmpl *tt = &s->fval.tun;
		int ifindex, mode = TUN_TMPL_NONE;

		/* unchanged: nothing to rewrite; the Geneve checksum reads what the
		 * packet holds, the parse's fields (pkt_in_key) */
		if (!s->unchanged) {
			ret = ovnbpf_rewrite(skb, s, OVNBPF_MAX_OUT - 1, 0, 1);
			if (ret < 0)
				return drop(ret);
		}
		if (f && f->tun.valid) {
			tt = &f->tun;
			mode = TUN_TMPL_USE;
			ifindex = geneve_push_cached(skb, s, tt, f->out[0].chassis_ip);
			if (ifindex < 0)
				return drop(ifindex);
			if (ifindex > 0)
				return bpf_redirect(ifindex, 0);
		} else if (insert) {
			mode = TUN_TMPL_FILL;
		}
		ifindex = ovnbpf_geneve_push(skb, s, OVNBPF_MAX_OUT - 1, TUN_FIRST | mode, tt);
		if (insert)
			cache_commit(s);
		if (ifindex < 0)
			return drop(ifindex);
		if (s->need_neigh)
			return bpf_redirect_neigh(ifindex, 0, 0, 0);
		return bpf_redirect(ifindex, 0);
	}
	if (insert)
		cache_commit(s);
	if (s->unchanged && s->n_out == 1) {
		/* cache_lookup left the copy's packet fields out: the rewrite
		 * compares them with the packet's */
		__u32 slot = s->n_tun ? OVNBPF_MAX_OUT - 1 : 0;

		__builtin_memcpy(s->out[slot].pkt, &s->cur.raw[OVNBPF_PKT_OFF], OVNBPF_PKT_BYTES);
	}
	s->emit_idx = 0;
	bpf_tail_call(skb, &ovnbpf_jmp, OVNBPF_TAIL_EMIT);
	return drop(-OVNBPF_DROP_TOO_MANY_COPIES);
}

SEC("tc")
int ovnbpf_vif_ingress(struct __sk_buff *skb)
{
	struct ovnbpf_work *s = start(skb);
	struct ovnbpf_vif_key vk = { .ifindex = skb->ingress_ifindex };
	struct ovnbpf_vif *v = 0;
	struct ovnbpf_flow *f;
	__u8 strip = 0;
	int ret;

	if (!s)
		return drop(-OVNBPF_DROP_NO_SCRATCH);
	if (!vk.ifindex)
		vk.ifindex = skb->ifindex;
	/* in line: a call (and its return) per packet costs more than the
	 * verifier's second look at the parser */
	ret = parse_packet(skb, s, 0);
	if (ret < 0)
		return drop(ret);
	flow_key_set(s, vk.ifindex, 0, 0, 0, 0);
	f = cache_lookup(s);
	if (f) {
		if (f->strip_vlan) {
			if (bpf_skb_vlan_pop(skb))
				return drop(-OVNBPF_DROP_PARSE_VLAN);
			__builtin_memset(&s->cur.key, 0, sizeof(s->cur.key));
			ret = ovnbpf_parse(skb, s);
			if (ret < 0)
				return drop(ret);
		}
		s->pkt_in_key = 1;
		return emit(skb, s, 1, f, 0);
	}
	pipeline_start(s);
	if (s->cur.key.vlan_tci) {
		/* a nested container: (parent VIF, tag) names the port, the tag goes */
		vk.vlan = bpf_ntohs(s->cur.key.vlan_tci) & 0xfff;
		v = bpf_map_lookup_elem(&ovnbpf_vifs, &vk);
		if (v) {
			if (bpf_skb_vlan_pop(skb))
				return drop(-OVNBPF_DROP_PARSE_VLAN);
			__builtin_memset(&s->cur.key, 0, sizeof(s->cur.key));
			ret = ovnbpf_parse(skb, s);
			if (ret < 0)
				return drop(ret);
			strip = 1;
		}
	}
	if (!v) {
		vk.vlan = 0;
		v = bpf_map_lookup_elem(&ovnbpf_vifs, &vk);
	}
	if (!v)
		return drop(-OVNBPF_DROP_UNKNOWN_PORT);  /* fail-secure */
	s->cur.key.dp = bpf_htonl(v->dp);
	s->cur.key.inport = bpf_htonl(v->port);
	s->cur.key.ct_zone = bpf_htons(v->ct_zone);
	s->cur.key.flags = bpf_htonl(v->flags);
	s->cur.pipeline = 0;
	s->cur.table = 0;
	s->cur.stage = OVNBPF_STAGE_TABLE;
	finish(skb, s);
	pipeline_run(s);
	return emit(skb, s, 1, 0, ovnbpf_cache_prepare(s, strip));
}

SEC("tc")
int ovnbpf_underlay_ingress(struct __sk_buff *skb)
{
	struct ovnbpf_work *s;
	struct ovnbpf_config *cfg;
	struct geneve_rx rx = {};
	__u32 zero = 0;
	int ret;

	cfg = bpf_map_lookup_elem(&ovnbpf_cfg, &zero);
	if (!cfg || !cfg->encap_ip)
		return TC_ACT_OK;
	ret = geneve_parse(skb, cfg, &rx);
	if (ret == 0)
		return TC_ACT_OK;  /* not Geneve for us: the host's */
	if (ret < 0)
		return drop(ret);
	s = start(skb);
	if (!s)
		return drop(-OVNBPF_DROP_NO_SCRATCH);
	ret = geneve_pop(skb, rx.inner_off);
	if (ret < 0)
		return drop(ret);
	s->pkt_len = skb->len;
	ret = parse_packet(skb, s, 0);  /* in line, as in ovnbpf_vif_ingress */
	if (ret < 0)
		return drop(ret);
	flow_key_set(s, skb->ifindex, rx.vni, rx.inport, rx.outport, 1);
	if (cache_lookup(s)) {
		s->pkt_in_key = 1;
		return emit(skb, s, 0 /* a tunnel never sends to a tunnel */, 0, 0);
	}
	pipeline_start(s);
	finish(skb, s);
	s->cur.key.dp = bpf_htonl(rx.vni);
	s->cur.key.inport = bpf_htonl(rx.inport);
	s->cur.key.outport = bpf_htonl(rx.outport);
	s->cur.from_tunnel = 1;
	s->cur.pipeline = 0;
	s->cur.stage = OVNBPF_STAGE_OUTPUT;  /* the sender ran ingress */
	pipeline_run(s);
	return emit(skb, s, 0 /* a tunnel never sends to a tunnel */, 0, ovnbpf_cache_prepare(s, 0));
}

SEC("tc")
int ovnbpf_emit(struct __sk_buff *skb)
{
	struct ovnbpf_work *s = scratch_get();
	struct ovnbpf_out *o;
	__u32 last, pick, idx;
	int ret;

	if (!s)
		return drop(-OVNBPF_DROP_NO_SCRATCH);
	idx = s->emit_idx;
	if (idx >= s->n_out || idx >= OVNBPF_MAX_OUT)
		return TC_ACT_SHOT;
	pick = idx < s->n_out - s->n_tun ? idx : OVNBPF_MAX_OUT - 1 - (idx - (s->n_out - s->n_tun));
	pick &= OVNBPF_MAX_OUT - 1;
	last = idx + 1 >= s->n_out;
	o = &s->out[pick];
	s->emit_idx = idx + 1;
	if (o->kind == OVNBPF_OUT_DEVICE) {
		ret = ovnbpf_rewrite(skb, s, pick, 0, last);
		if (ret < 0)
			goto next_drop;
		if (o->vlan && bpf_skb_vlan_push(skb, bpf_htons(0x8100), o->vlan)) {
			ret = -OVNBPF_DROP_REWRITE;
			goto next_drop;
		}
		if (last)
			return bpf_redirect(o->ifindex, 0);
		if (bpf_clone_redirect(skb, o->ifindex, 0))
			count_drop(-OVNBPF_DROP_REDIRECT);
		if (o->vlan)
			bpf_skb_vlan_pop(skb);
	} else {
		/* tunnel copies come after every device copy: the first one
		 * encapsulates, the next ones only change the outer headers */
		int first = !s->tun_done;
		int ifindex;

		ret = ovnbpf_rewrite(skb, s, pick, first ? 0 : GENEVE_ENCAP_LEN, last);
		if (ret < 0)
			goto next_drop;
		ifindex = ovnbpf_geneve_push(skb, s, pick, first ? TUN_FIRST : 0, &s->fval.tun);
		if (ifindex < 0) {
			ret = ifindex;
			if (!first)
				goto next_drop;
			return drop(ret);  /* the packet may be half-built */
		}
		s->tun_done = 1;
		if (s->need_neigh) {
			if (last)
				return bpf_redirect_neigh(ifindex, 0, 0, 0);
			ret = -OVNBPF_DROP_NO_NEIGH;
			goto next_drop;
		}
		if (last)
			return bpf_redirect(ifindex, 0);
		if (bpf_clone_redirect(skb, ifindex, 0))
			count_drop(-OVNBPF_DROP_REDIRECT);
	}
	goto next;
next_drop:
	count_drop(ret);
	if (last)
		return TC_ACT_SHOT;
next:
	bpf_tail_call(skb, &ovnbpf_jmp, OVNBPF_TAIL_EMIT);
	return drop(-OVNBPF_DROP_TOO_MANY_COPIES);
}
