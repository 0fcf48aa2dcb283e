/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Parser: Ethernet, one VLAN tag, ARP, IPv4, IPv6 (+ extension headers,
 * bounded), ICMP, ICMPv6/ND, TCP, UDP, SCTP into the packet fields of the
 * canonical key. A truncated or malformed header is a negative drop reason:
 * the packet is never forwarded half-parsed. */
#ifndef OVNBPF_PARSE_H
#define OVNBPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "types.h"
#include "scratch.h"

#define OVNBPF_IP6_EXT_MAX 4
#define OVNBPF_ND_OPT_MAX 3

/* load_hdr copies a header out of the packet: straight from the linear
 * data when it is there (a helper call costs tens of ns per header), with
 * bpf_skb_load_bytes for the rest. Fails when the packet is shorter. */
/* Reading skb->data and skb->data_end with one instruction each from the
 * unmodified context pointer: the verifier refuses context loads through a
 * pointer clang derived (ctx + offset). */
#define SKB_FIELD(skb, field)                                                      \
	({                                                                         \
		void *__v;                                                         \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                              \
			     : "=r"(__v)                                           \
			     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, field))); \
		__v;                                                               \
	})

/* pkt_load and pkt_store copy len (a constant) bytes out of and into the
 * packet in the widest words: packet access may be unaligned where the
 * verifier runs (efficient unaligned access), and without word types clang
 * would assemble every word from byte loads. The memory side goes through
 * memcpy, so its accesses keep to its own alignment (the verifier refuses
 * a misaligned stack access). */
static __always_inline void pkt_load(void *dst, const void *pkt, const __u32 len)
{
	__u32 i = 0;

#pragma unroll
	for (; i + 8 <= len; i += 8) {
		__u64 v = *(const ovnbpf_u64a *)(pkt + i);

		__builtin_memcpy(dst + i, &v, 8);
	}
	if (len - i >= 4) {
		__u32 v = *(const ovnbpf_u32a *)(pkt + i);

		__builtin_memcpy(dst + i, &v, 4);
		i += 4;
	}
	if (len - i >= 2) {
		__u16 v = *(const ovnbpf_u16a *)(pkt + i);

		__builtin_memcpy(dst + i, &v, 2);
		i += 2;
	}
	if (len - i >= 1)
		*(__u8 *)(dst + i) = *(const __u8 *)(pkt + i);
}

static __always_inline void pkt_store(void *pkt, const void *src, const __u32 len)
{
	__u32 i = 0;

#pragma unroll
	for (; i + 8 <= len; i += 8) {
		__u64 v;

		__builtin_memcpy(&v, src + i, 8);
		*(ovnbpf_u64a *)(pkt + i) = v;
	}
	if (len - i >= 4) {
		__u32 v;

		__builtin_memcpy(&v, src + i, 4);
		*(ovnbpf_u32a *)(pkt + i) = v;
		i += 4;
	}
	if (len - i >= 2) {
		__u16 v;

		__builtin_memcpy(&v, src + i, 2);
		*(ovnbpf_u16a *)(pkt + i) = v;
		i += 2;
	}
	if (len - i >= 1)
		*(__u8 *)(pkt + i) = *(const __u8 *)(src + i);
}

static __always_inline int load_hdr(struct __sk_buff *skb, __u32 off, void *buf, const __u32 len)
{
	void *data = SKB_FIELD(skb, data);
	void *data_end = SKB_FIELD(skb, data_end);
	void *p, *end;

	if (off < 512) {
		asm volatile("%0 &= 511" : "+r"(off));  /* a bound the verifier sees */
		p = data + off;
		end = p + len;
		asm volatile("" : "+r"(end));  /* compare exactly p + len, as the verifier needs */
		if (end <= data_end) {
			pkt_load(buf, p, len);
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, off, buf, len);
}

/* pkt_at returns a writable pointer to len bytes at off, or NULL (then the
 * helpers do the write). Direct writes cost no helper call. */
static __always_inline void *pkt_at(struct __sk_buff *skb, __u32 off, const __u32 len)
{
	void *data = SKB_FIELD(skb, data);
	void *data_end = SKB_FIELD(skb, data_end);
	void *p, *end;

	if (off >= 1024)
		return 0;
	asm volatile("%0 &= 1023" : "+r"(off));  /* a bound the verifier sees */
	p = data + off;
	end = p + len;
	asm volatile("" : "+r"(end));  /* compare exactly p + len, as the verifier needs */
	if (end > data_end)
		return 0;
	return p;
}

struct arp_eth_ip4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__be32 spa;
	__u8 tha[6];
	__be32 tpa;
} __attribute__((packed));

static __always_inline int parse_l4(struct __sk_buff *skb, struct ovnbpf_work *s,
				    struct ovnbpf_key *k, __u32 off, __u8 proto)
{
	s->l4_off = off;
	s->l4_proto = proto;
	switch (proto) {
	case IPPROTO_TCP: {
		__u8 th[20];

		if (load_hdr(skb, off, th, sizeof(th)))
			return -OVNBPF_DROP_PARSE_TCP;
		if ((th[12] >> 4) < 5)
			return -OVNBPF_DROP_PARSE_TCP;
		__builtin_memcpy(&k->tp_src, &th[0], 2);
		__builtin_memcpy(&k->tp_dst, &th[2], 2);
		k->tcp_flags = bpf_htons(((__u16)(th[12] & 0x0f) << 8) | th[13]);
		/* a GSO packet (a VIF's GRO): check_pkt_larger compares one
		 * segment, headers included, as OVS's kernel datapath does */
		if (skb->gso_size && off + (th[12] >> 4) * 4 + skb->gso_size < s->pkt_len)
			s->pkt_len = off + (th[12] >> 4) * 4 + skb->gso_size;
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (load_hdr(skb, off, &uh, sizeof(uh)))
			return -OVNBPF_DROP_PARSE_UDP;
		k->tp_src = uh.source;
		k->tp_dst = uh.dest;
		if (skb->gso_size && off + sizeof(uh) + skb->gso_size < s->pkt_len)
			s->pkt_len = off + sizeof(uh) + skb->gso_size;
		return 0;
	}
	case IPPROTO_SCTP: {
		__be16 ports[2];

		/* common header: ports, verification tag, checksum */
		if (skb->len < off + 12 || load_hdr(skb, off, ports, sizeof(ports)))
			return -OVNBPF_DROP_PARSE_SCTP;
		k->tp_src = ports[0];
		k->tp_dst = ports[1];
		return 0;
	}
	case IPPROTO_ICMP: {
		__u8 ih[4];

		if (load_hdr(skb, off, ih, sizeof(ih)))
			return -OVNBPF_DROP_PARSE_ICMP;
		k->icmp_type = ih[0];
		k->icmp_code = ih[1];
		return 0;
	}
	case IPPROTO_ICMPV6: {
		__u8 ih[4];

		if (load_hdr(skb, off, ih, sizeof(ih)))
			return -OVNBPF_DROP_PARSE_ICMP6;
		k->icmp_type = ih[0];
		k->icmp_code = ih[1];
		/* neighbour solicitation / advertisement: target and one link-layer option */
		if ((ih[0] == 135 || ih[0] == 136) && ih[1] == 0) {
			__u32 o = off + 24;

			if (load_hdr(skb, off + 8, k->nd_target, 16))
				return -OVNBPF_DROP_PARSE_ND;
			s->is_nd = 1;
#pragma unroll
			for (int i = 0; i < OVNBPF_ND_OPT_MAX; i++) {
				__u8 opt[8];

				if (o + 8 > skb->len)
					break;
				if (load_hdr(skb, o, opt, sizeof(opt)))
					return -OVNBPF_DROP_PARSE_ND;
				if (opt[1] == 0)
					return -OVNBPF_DROP_PARSE_ND;
				if (opt[1] == 1 && opt[0] == 1 && ih[0] == 135)
					__builtin_memcpy(k->nd_sll, &opt[2], 6);
				if (opt[1] == 1 && opt[0] == 2 && ih[0] == 136)
					__builtin_memcpy(k->nd_tll, &opt[2], 6);
				o += (__u32)opt[1] * 8;
			}
		}
		return 0;
	}
	}
	return 0;
}

static __always_inline int parse_ip4(struct __sk_buff *skb, struct ovnbpf_work *s,
				     struct ovnbpf_key *k, __u32 off)
{
	struct iphdr ih;
	__u16 frag;
	__u32 hl;

	if (load_hdr(skb, off, &ih, sizeof(ih)))
		return -OVNBPF_DROP_PARSE_IP4;
	hl = ih.ihl * 4;
	if (ih.version != 4 || hl < 20 || bpf_ntohs(ih.tot_len) < hl ||
	    off + bpf_ntohs(ih.tot_len) > skb->len)
		return -OVNBPF_DROP_PARSE_IP4;
	s->is_ip4 = 1;
	s->l3_off = off;
	k->ip_proto = ih.protocol;
	k->ip_tos = ih.tos;
	k->ip_ttl = ih.ttl;
	k->ip4_src = ih.saddr;
	k->ip4_dst = ih.daddr;
	frag = bpf_ntohs(ih.frag_off);
	if (frag & 0x3fff) {
		k->ip_frag = 1;
		if (frag & 0x1fff) {
			k->ip_frag |= 2;
			return 0;  /* later fragment: no L4 header */
		}
	}
	return parse_l4(skb, s, k, off + hl, ih.protocol);
}

static __always_inline int parse_ip6(struct __sk_buff *skb, struct ovnbpf_work *s,
				     struct ovnbpf_key *k, __u32 off)
{
	struct ipv6hdr ih;
	__u8 nh;
	__u32 o;

	if (load_hdr(skb, off, &ih, sizeof(ih)))
		return -OVNBPF_DROP_PARSE_IP6;
	if (ih.version != 6 || off + 40 + bpf_ntohs(ih.payload_len) > skb->len)
		return -OVNBPF_DROP_PARSE_IP6;
	s->is_ip6 = 1;
	s->l3_off = off;
	k->ip_tos = (ih.priority << 4) | (ih.flow_lbl[0] >> 4);
	k->ip_ttl = ih.hop_limit;
	k->ip6_label = bpf_htonl(((__u32)(ih.flow_lbl[0] & 0x0f) << 16) |
				 ((__u32)ih.flow_lbl[1] << 8) | ih.flow_lbl[2]);
	__builtin_memcpy(k->ip6_src, &ih.saddr, 16);
	__builtin_memcpy(k->ip6_dst, &ih.daddr, 16);
	nh = ih.nexthdr;
	o = off + 40;
#pragma unroll
	for (int i = 0; i < OVNBPF_IP6_EXT_MAX; i++) {
		__u8 eh[8];

		if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51)
			break;
		if (load_hdr(skb, o, eh, sizeof(eh)))
			return -OVNBPF_DROP_PARSE_IP6_EXT;
		if (nh == 44) {
			__u16 fo = ((__u16)eh[2] << 8) | eh[3];

			k->ip_frag = 1;
			if (fo & 0xfff8) {
				k->ip_frag |= 2;
				k->ip_proto = eh[0];
				return 0;
			}
			o += 8;
		} else if (nh == 51) {
			o += ((__u32)eh[1] + 2) * 4;
		} else {
			o += ((__u32)eh[1] + 1) * 8;
		}
		nh = eh[0];
	}
	if (nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51)
		return -OVNBPF_DROP_PARSE_IP6_EXT;  /* more than we walk */
	k->ip_proto = nh;
	return parse_l4(skb, s, k, o, nh);
}

/* parse_packet fills the packet fields of s->cur.key from offset off
 * (the Ethernet header). vlan_tci is the tag the device stripped (OVS
 * form, 0 if none). Returns 0 or a negative drop reason. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct ovnbpf_work *s, __u32 off)
{
	struct ovnbpf_key *k = &s->cur.key;
	struct ethhdr eh;
	__be16 proto;

	s->is_ip4 = s->is_ip6 = s->is_arp = s->is_nd = 0;
	s->l4_proto = 0;
	s->l3_off = s->l4_off = 0;
	if (load_hdr(skb, off, &eh, sizeof(eh)))
		return -OVNBPF_DROP_PARSE_ETH;
	__builtin_memcpy(k->eth_dst, eh.h_dest, 6);
	__builtin_memcpy(k->eth_src, eh.h_source, 6);
	proto = eh.h_proto;
	off += sizeof(eh);
	if (skb->vlan_present)
		k->vlan_tci = bpf_htons((skb->vlan_tci & 0xefff) | 0x1000);
	if (proto == bpf_htons(ETH_P_8021Q)) {
		__be16 tag[2];

		if (skb->vlan_present)
			return -OVNBPF_DROP_PARSE_VLAN;  /* double tagged: not ours */
		if (load_hdr(skb, off, tag, sizeof(tag)))
			return -OVNBPF_DROP_PARSE_VLAN;
		k->vlan_tci = bpf_htons((bpf_ntohs(tag[0]) & 0xefff) | 0x1000);
		proto = tag[1];
		off += 4;
	}
	k->eth_type = proto;
	s->l3_off = off;
	if (proto == bpf_htons(ETH_P_ARP) || proto == bpf_htons(ETH_P_RARP)) {
		struct arp_eth_ip4 a;

		if (load_hdr(skb, off, &a, sizeof(a)))
			return -OVNBPF_DROP_PARSE_ARP;
		if (a.htype != bpf_htons(1) || a.ptype != bpf_htons(ETH_P_IP) || a.hlen != 6 || a.plen != 4)
			return -OVNBPF_DROP_PARSE_ARP;
		s->is_arp = 1;
		k->arp_op = a.op;
		__builtin_memcpy(k->arp_sha, a.sha, 6);
		__builtin_memcpy(k->arp_tha, a.tha, 6);
		k->arp_spa = a.spa;
		k->arp_tpa = a.tpa;
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ip4(skb, s, k, off);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ip6(skb, s, k, off);
	return 0;
}

/* ovnbpf_parse is parse_packet as a global function: verified once, however
 * many places parse. */
__noinline int ovnbpf_parse(struct __sk_buff *skb, struct ovnbpf_work *s)
{
	if (!skb || !s)
		return -OVNBPF_DROP_NO_SCRATCH;
	return parse_packet(skb, s, 0);
}
#endif
