/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Writes a copy's key back into the packet: only the fields that differ
 * from what the packet holds, with incremental checksum updates. */
#ifndef OVNBPF_REWRITE_H
#define OVNBPF_REWRITE_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "types.h"
#include "scratch.h"
#include "parse.h"

#define PKT(p, f) ((p) + offsetof(struct ovnbpf_key, f) - OVNBPF_PKT_OFF)

static __always_inline int bytes_differ(const __u8 *a, const __u8 *b, int n)
{
	__u8 acc = 0;

#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i >= n)
			break;
		acc |= a[i] ^ b[i];
	}
	return acc != 0;
}

/* words_differ compares n (8 or 16) bytes at a and b, 8-aligned blocks of
 * packet fields (the key's, s->pkt, a copy's): as words, not bytes. */
static __always_inline int words_differ(const __u8 *a, const __u8 *b, const int n)
{
	__u64 acc = *(const ovnbpf_u64a *)a ^ *(const ovnbpf_u64a *)b;

	if (n == 16)
		acc |= *(const ovnbpf_u64a *)(a + 8) ^ *(const ovnbpf_u64a *)(b + 8);
	return acc != 0;
}

/* csum16_update is RFC 1624's incremental update of a 16-bit one's
 * complement checksum for one 16-bit word changing old -> new. */
static __always_inline __u16 csum16_update(__u16 check, __u16 old, __u16 new)
{
	__u32 s = (__u16)~check + (__u16)~old + (__u32)new;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return ~s;
}

static __always_inline int store(struct __sk_buff *skb, __u32 off, const void *from, __u32 len)
{
	return bpf_skb_store_bytes(skb, off, from, len, 0) ? -OVNBPF_DROP_REWRITE : 0;
}

static __always_inline int l4_csum_off(const struct ovnbpf_work *s, __u32 l4, __u64 *flags)
{
	*flags = 0;
	switch (s->l4_proto) {
	case IPPROTO_TCP:
		return l4 + 16;
	case IPPROTO_UDP:
		*flags = BPF_F_MARK_MANGLED_0;
		return l4 + 6;
	case IPPROTO_ICMPV6:
		return l4 + 2;
	}
	return 0;
}

/* rewrite_ip4_addr changes one IPv4 address with both checksums. */
static __always_inline int rewrite_ip4_addr(struct __sk_buff *skb, const struct ovnbpf_work *s,
					    __u32 l3, __u32 l4, __u32 field_off, __be32 old, __be32 new)
{
	__u64 fl;
	int csum = s->l4_proto == IPPROTO_TCP || s->l4_proto == IPPROTO_UDP ? l4_csum_off(s, l4, &fl) : 0;

	if (bpf_l3_csum_replace(skb, l3 + 10, old, new, 4))
		return -OVNBPF_DROP_REWRITE;
	if (csum && bpf_l4_csum_replace(skb, csum, old, new, BPF_F_PSEUDO_HDR | fl | 4))
		return -OVNBPF_DROP_REWRITE;
	return store(skb, l3 + field_off, &new, 4);
}

static __always_inline int rewrite_ip6_addr(struct __sk_buff *skb, const struct ovnbpf_work *s,
					    __u32 l3, __u32 l4, __u32 field_off, const __u8 *old, const __u8 *new)
{
	__u64 fl;
	int csum = s->l4_proto ? l4_csum_off(s, l4, &fl) : 0;

	if (csum) {
		__be32 o[4], n[4];
		__s64 d;

		__builtin_memcpy(o, old, 16);
		__builtin_memcpy(n, new, 16);
		d = bpf_csum_diff(o, 16, n, 16, 0);
		if (bpf_l4_csum_replace(skb, csum, 0, d, BPF_F_PSEUDO_HDR | fl))
			return -OVNBPF_DROP_REWRITE;
	}
	return store(skb, l3 + field_off, new, 16);
}

static __always_inline int rewrite_port(struct __sk_buff *skb, const struct ovnbpf_work *s, __u32 l4,
					__u32 off, __be16 old, __be16 new)
{
	__u64 fl;
	int csum = l4_csum_off(s, l4, &fl);

	if (csum && bpf_l4_csum_replace(skb, csum, old, new, fl | 2))
		return -OVNBPF_DROP_REWRITE;
	return store(skb, l4 + off, &new, 2);
}

/* na_write makes the packet the Neighbor Advertisement the copy's key
 * describes (nd_na built it from an NS): IPv6 payload length, next header
 * and hop limit, addresses, then the ICMPv6 message (type 136, flags,
 * target, one target link-layer address option) with its checksum
 * computed whole. The NS may have been longer or shorter (no source
 * link-layer option in duplicate address detection): the packet is cut or
 * grown to the NA's 32 bytes. */
static __always_inline int na_write(struct __sk_buff *skb, __u32 l3, __u32 l4, const struct ovnbpf_key *nk,
				    __u8 na_flags)
{
	struct {
		__u8 src[16], dst[16];
		__be32 len;
		__u8 zero[3], nh;
		__u8 type, code;
		__u16 csum;
		__u8 flags, reserved[3];
		__u8 target[16];
		__u8 opt_type, opt_len, tll[6];
	} na = {};
	__u8 hdr[4] = {0, 32, IPPROTO_ICMPV6, 255};  /* payload length, next header, hop limit */
	__u32 sum;

	if (l4 != l3 + 40)
		return -OVNBPF_DROP_REWRITE;  /* extension headers: not an NS OVN answers */
	if (skb->len != l4 + 32 && bpf_skb_change_tail(skb, l4 + 32, 0))
		return -OVNBPF_DROP_REWRITE;
	__builtin_memcpy(na.src, nk->ip6_src, 16);
	__builtin_memcpy(na.dst, nk->ip6_dst, 16);
	na.len = bpf_htonl(32);
	na.nh = IPPROTO_ICMPV6;
	na.type = 136;
	na.flags = na_flags & (OVNBPF_NA_ROUTER | OVNBPF_NA_SOLICITED | OVNBPF_NA_OVERRIDE);
	__builtin_memcpy(na.target, nk->nd_target, 16);
	na.opt_type = 2;
	na.opt_len = 1;
	__builtin_memcpy(na.tll, nk->nd_tll, 6);
	/* pseudo-header and message summed together, folded, stored as summed */
	sum = bpf_csum_diff(0, 0, (void *)&na, sizeof(na), 0);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	na.csum = ~sum & 0xffff;
	if (store(skb, l3 + 4, hdr, 4) || store(skb, l3 + 8, na.src, 32))
		return -OVNBPF_DROP_REWRITE;
	return store(skb, l4, &na.type, 32);
}

/* rewrite makes the packet (its Ethernet header at base) hold the packet
 * fields of output pick. last: no copy follows (what the packet now holds
 * need not be remembered). A global function:
 * the verifier checks it once, not once per caller path. */
__noinline int ovnbpf_rewrite(struct __sk_buff *skb, struct ovnbpf_work *s, __u32 pick, __u32 base, __u32 last)
{
	const struct ovnbpf_key *ok, *nk;
	const __u8 *op, *np;
	__u32 l3, l4;
	int ret;

	if (!skb || !s || base > 64)
		return -OVNBPF_DROP_REWRITE;
	/* what the packet holds: the parse itself on a flow cache hit (the
	 * pipeline did not run over the key), else the copy made before */
	op = s->pkt_in_key ? &s->cur.raw[OVNBPF_PKT_OFF] : s->pkt;
	np = s->out[pick & (OVNBPF_MAX_OUT - 1)].pkt;
	ok = (const void *)(op - OVNBPF_PKT_OFF);
	nk = (const void *)(np - OVNBPF_PKT_OFF);
	l3 = base + (s->l3_off & 0x3ff);
	l4 = base + (s->l4_off & 0x3ff);

	/* eth_src, eth_dst: the first 12 bytes of the packet fields */
	if (words_differ(op, np, 8) ||
	    *(const ovnbpf_u32a *)PKT(op, eth_dst[2]) != *(const ovnbpf_u32a *)PKT(np, eth_dst[2])) {
		__u8 *e = pkt_at(skb, base, 12);

		if (e)
			pkt_store(e, PKT(np, eth_dst), 6), pkt_store(e + 6, PKT(np, eth_src), 6);
		else if (store(skb, base, PKT(np, eth_dst), 6) || store(skb, base + 6, PKT(np, eth_src), 6))
			return -OVNBPF_DROP_REWRITE;
	}
	if (s->is_ip4) {
		__u8 *iph = pkt_at(skb, l3, 20);

		if (iph && (ok->ip_ttl != nk->ip_ttl || ok->ip_tos != nk->ip_tos)) {
			/* the IPv4 header checksum only: TTL and TOS are not in L4 sums */
			__u16 check = ((__u16)iph[10] << 8) | iph[11];

			check = csum16_update(check, ((__u16)iph[0] << 8) | iph[1], ((__u16)iph[0] << 8) | nk->ip_tos);
			check = csum16_update(check, ((__u16)iph[8] << 8) | iph[9], ((__u16)nk->ip_ttl << 8) | iph[9]);
			iph[1] = nk->ip_tos;
			iph[8] = nk->ip_ttl;
			iph[10] = check >> 8;
			iph[11] = check & 0xff;
		} else if (ok->ip_ttl != nk->ip_ttl || ok->ip_tos != nk->ip_tos) {
			__be16 w[2];

			/* ttl shares a checksum word with the protocol, tos with version/ihl */
			if (bpf_skb_load_bytes(skb, l3, &w[0], 2) || bpf_skb_load_bytes(skb, l3 + 8, &w[1], 2))
				return -OVNBPF_DROP_REWRITE;
			if (ok->ip_tos != nk->ip_tos) {
				__be16 nw = bpf_htons((bpf_ntohs(w[0]) & 0xff00) | nk->ip_tos);

				if (bpf_l3_csum_replace(skb, l3 + 10, w[0], nw, 2) || store(skb, l3 + 1, &nk->ip_tos, 1))
					return -OVNBPF_DROP_REWRITE;
			}
			if (ok->ip_ttl != nk->ip_ttl) {
				__be16 nw = bpf_htons(((__u16)nk->ip_ttl << 8) | (bpf_ntohs(w[1]) & 0xff));

				if (bpf_l3_csum_replace(skb, l3 + 10, w[1], nw, 2) || store(skb, l3 + 8, &nk->ip_ttl, 1))
					return -OVNBPF_DROP_REWRITE;
			}
		}
		if (ok->ip4_src != nk->ip4_src) {
			ret = rewrite_ip4_addr(skb, s, l3, l4, 12, ok->ip4_src, nk->ip4_src);
			if (ret)
				return ret;
		}
		if (ok->ip4_dst != nk->ip4_dst) {
			ret = rewrite_ip4_addr(skb, s, l3, l4, 16, ok->ip4_dst, nk->ip4_dst);
			if (ret)
				return ret;
		}
	} else if (s->is_ip6 && (s->out[pick & (OVNBPF_MAX_OUT - 1)].na_flags & 1)) {
		ret = na_write(skb, l3, l4, nk, s->out[pick & (OVNBPF_MAX_OUT - 1)].na_flags);
		if (ret)
			return ret;
	} else if (s->is_ip6) {
		if (ok->ip_ttl != nk->ip_ttl && store(skb, l3 + 7, &nk->ip_ttl, 1))
			return -OVNBPF_DROP_REWRITE;
		if (words_differ(ok->ip6_src, nk->ip6_src, 16)) {
			ret = rewrite_ip6_addr(skb, s, l3, l4, 8, ok->ip6_src, nk->ip6_src);
			if (ret)
				return ret;
		}
		if (words_differ(ok->ip6_dst, nk->ip6_dst, 16)) {
			ret = rewrite_ip6_addr(skb, s, l3, l4, 24, ok->ip6_dst, nk->ip6_dst);
			if (ret)
				return ret;
		}
	} else if (s->is_arp) {
		if (bytes_differ(PKT(op, arp_op), PKT(np, arp_op), 2) && store(skb, l3 + 6, PKT(np, arp_op), 2))
			return -OVNBPF_DROP_REWRITE;
		if (bytes_differ(PKT(op, arp_sha), PKT(np, arp_sha), 6) && store(skb, l3 + 8, PKT(np, arp_sha), 6))
			return -OVNBPF_DROP_REWRITE;
		if (bytes_differ(PKT(op, arp_spa), PKT(np, arp_spa), 4) && store(skb, l3 + 14, PKT(np, arp_spa), 4))
			return -OVNBPF_DROP_REWRITE;
		if (bytes_differ(PKT(op, arp_tha), PKT(np, arp_tha), 6) && store(skb, l3 + 18, PKT(np, arp_tha), 6))
			return -OVNBPF_DROP_REWRITE;
		if (bytes_differ(PKT(op, arp_tpa), PKT(np, arp_tpa), 4) && store(skb, l3 + 24, PKT(np, arp_tpa), 4))
			return -OVNBPF_DROP_REWRITE;
	}
	if ((s->l4_proto == IPPROTO_ICMP || (s->l4_proto == IPPROTO_ICMPV6 && !(s->out[pick & (OVNBPF_MAX_OUT - 1)].na_flags & 1))) &&
	    !(nk->ip_frag & 2) && (ok->icmp_type != nk->icmp_type || ok->icmp_code != nk->icmp_code)) {
		/* a router's echo reply: type and code share the checksum's first word */
		__be16 ow = bpf_htons(((__u16)ok->icmp_type << 8) | ok->icmp_code);
		__be16 nw = bpf_htons(((__u16)nk->icmp_type << 8) | nk->icmp_code);

		if (bpf_l4_csum_replace(skb, l4 + 2, ow, nw, 2) || store(skb, l4, &nw, 2))
			return -OVNBPF_DROP_REWRITE;
	}
	if ((s->l4_proto == IPPROTO_TCP || s->l4_proto == IPPROTO_UDP) && !(nk->ip_frag & 2)) {
		if (ok->tp_src != nk->tp_src) {
			ret = rewrite_port(skb, s, l4, 0, ok->tp_src, nk->tp_src);
			if (ret)
				return ret;
		}
		if (ok->tp_dst != nk->tp_dst) {
			ret = rewrite_port(skb, s, l4, 2, ok->tp_dst, nk->tp_dst);
			if (ret)
				return ret;
		}
	}
	/* remember what the packet holds now for the next copy, and for the
	 * Geneve checksum of a tunnel copy (lco_sum) */
	if (!last || s->out[pick & (OVNBPF_MAX_OUT - 1)].kind == OVNBPF_OUT_TUNNEL) {
		__builtin_memcpy(s->pkt, np, OVNBPF_PKT_BYTES);
		s->pkt_in_key = 0;
	}
	return 0;
}
#endif
