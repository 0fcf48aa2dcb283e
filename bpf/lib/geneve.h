/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Geneve as OVN uses it (REFERENCE.md "Geneve on the wire"): UDP 6081,
 * VNI = datapath key, one option class 0x0102 type 0x80 length 4 holding
 * inport << 16 | outport. Outer IPv4 only. */
#ifndef OVNBPF_GENEVE_H
#define OVNBPF_GENEVE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "csum.h"
#include "parse.h"

#define GENEVE_OPT_CLASS_OVN 0x0102
#define GENEVE_OPT_TYPE_OVN 0x80
#define GENEVE_OVN_HDR_LEN (20 + 8 + 8 + 8)   /* outer IPv4, UDP, Geneve, OVN option */
#define GENEVE_ENCAP_LEN (GENEVE_OVN_HDR_LEN + ETH_HLEN)
#define GENEVE_MAX_OPTS 8
#define AF_INET 2

_Static_assert(sizeof(struct bpf_fib_lookup) == sizeof(((struct ovnbpf_work *)0)->fib), "fib room in ovnbpf_work");

struct geneve_ovn_hdr {
	struct iphdr ip;
	struct udphdr udp;
	__u8 ver_optlen;
	__u8 flags;
	__be16 proto;
	__be32 vni_rsvd;
	__be16 opt_class;
	__u8 opt_type;
	__u8 opt_len;
	__be32 opt_value;
};
_Static_assert(sizeof(struct geneve_ovn_hdr) == GENEVE_OVN_HDR_LEN, "geneve header layout");

/* flow_hash spreads flows over UDP source ports (ECMP in the underlay) from
 * the inner headers the parser read: addresses, protocol, ports. */
static __always_inline __u32 flow_hash(const __u8 *pkt)
{
	const struct ovnbpf_key *k = (const void *)(pkt - OVNBPF_PKT_OFF);
	__u32 h = 0x9e3779b9;

	h ^= k->ip4_src;
	h *= 0x85ebca6b;
	h ^= k->ip4_dst;
	h *= 0xc2b2ae35;
	h ^= ((__u32)k->tp_src << 16) | k->tp_dst;
	h *= 0x85ebca6b;
	h ^= k->ip_proto;
	h ^= *(const ovnbpf_u32a *)(k->ip6_src + 12);
	h ^= *(const ovnbpf_u32a *)(k->ip6_dst + 12);
	h ^= ((__u32)k->eth_src[5] << 8) | k->eth_dst[5];
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	return h;
}

/* lco_sum sums the outer UDP datagram without reading the inner payload
 * (local checksum offload, as the kernel's tunnels do): an inner TCP, UDP or
 * ICMPv6 segment with a valid checksum sums to the complement of its
 * pseudo-header, an ICMPv4 message or an IPv4 header to zero; so only the
 * UDP/Geneve headers (udp: the 24 bytes from the UDP header, its checksum
 * 0), the inner Ethernet header, an IPv6 header and the inner pseudo-header
 * are summed. A CHECKSUM_PARTIAL inner packet gets the same answer: its
 * checksum is completed later to exactly that. Returns the template kind
 * (OVNBPF_TUN_CSUM_LCO*), *var the part of the sum that changes with the
 * inner packet's length; -1 when the packet is not of that kind (the caller
 * sums it all). */
static __always_inline int lco_sum(struct __sk_buff *skb, const struct ovnbpf_work *s,
				   const void *udp, __u64 *sum, __u64 *var)
{
	/* what the packet holds now: the parse on a flow cache hit that left it
	 * unchanged, else what ovnbpf_rewrite leaves in s->pkt for a tunnel
	 * copy (on a flow cache hit s->pkt would otherwise be another packet's
	 * fields, and the checksum wrong) */
	const __u8 *pkt = s->pkt_in_key ? &s->cur.raw[OVNBPF_PKT_OFF] : s->pkt;
	const struct ovnbpf_key *k = (const void *)(pkt - OVNBPF_PKT_OFF);
	__u32 l3 = GENEVE_ENCAP_LEN + (s->l3_off & 0x3ff), l4 = GENEVE_ENCAP_LEN + (s->l4_off & 0x3ff);
	__u8 l2[20] = {};
	__u32 l2len = s->l3_off;
	__u64 acc;
	__u16 len;

	if (k->ip_frag || !s->l4_proto || (l2len != 14 && l2len != 18))
		return -1;
	acc = csum_words(udp, 24);  /* UDP (check 0) + Geneve + option */
	if (load_hdr(skb, GENEVE_ENCAP_LEN, l2, 14) ||
	    (l2len == 18 && load_hdr(skb, GENEVE_ENCAP_LEN + 14, l2 + 14, 4)))
		return -1;
	acc += csum_words(l2, 20);
	*var = 0;
	if (s->is_ip4) {
		struct {
			__be32 src, dst;
			__u8 zero, proto;
			__be16 len;
		} ip = { k->ip4_src, k->ip4_dst, 0, s->l4_proto, 0 };
		__be16 tot;

		if (s->l4_proto != IPPROTO_TCP && s->l4_proto != IPPROTO_UDP && s->l4_proto != IPPROTO_ICMP)
			return -1;
		if (load_hdr(skb, l3 + 2, &tot, 2))
			return -1;
		len = bpf_ntohs(tot) - (s->l4_off - s->l3_off);
		if (s->l4_proto == IPPROTO_UDP) {
			__be16 check;

			if (load_hdr(skb, l4 + 6, &check, 2) || !check)
				return -1;  /* no inner UDP checksum to vouch for the payload */
		}
		if (s->l4_proto != IPPROTO_ICMP) {
			/* ~(a + len) = ~a + ~len: the length's share stands apart */
			acc += (__u16)~csum_fold(csum_words(&ip, sizeof(ip)));
			*var = (__u16)~bpf_htons(len);
			*sum = acc + *var;
			return OVNBPF_TUN_CSUM_LCO_LEN4;
		}
	} else if (s->is_ip6) {
		struct {
			__u8 src[16], dst[16];
			__be32 len;
			__u8 zero[3], nh;
		} ip = {};
		__u8 hdr[40];

		if (s->l4_proto != IPPROTO_TCP && s->l4_proto != IPPROTO_UDP && s->l4_proto != IPPROTO_ICMPV6)
			return -1;
		if (s->l4_off != s->l3_off + 40 || load_hdr(skb, l3, hdr, 40))
			return -1;  /* extension headers: sum it all */
		/* the payload length in the header and in the pseudo-header cancel */
		acc += csum_words(hdr, 40);
		len = ((__u16)hdr[4] << 8) | hdr[5];
		__builtin_memcpy(ip.src, k->ip6_src, 16);
		__builtin_memcpy(ip.dst, k->ip6_dst, 16);
		ip.len = bpf_htonl(len);
		ip.nh = s->l4_proto;
		acc += (__u16)~csum_fold(csum_words(&ip, sizeof(ip)));
	} else {
		return -1;
	}
	*sum = acc;
	return OVNBPF_TUN_CSUM_LCO;
}

/* lco_var is lco_sum's *var for a packet of a flow whose template holds the
 * rest of the sum (kind), after the checks lco_sum makes on what can differ
 * between the flow's packets. base: where the inner frame starts (after the
 * outer headers, or 0 before they are pushed). -1: sum this one in full. */
static __always_inline int lco_var(struct __sk_buff *skb, const struct ovnbpf_work *s, __u8 kind, __u64 *var,
				   const __u32 base)
{
	__u32 l3 = base + (s->l3_off & 0x3ff), l4 = base + (s->l4_off & 0x3ff);
	__be16 tot, check;

	*var = 0;
	if (s->l3_off != 14 && s->l3_off != 18)
		return -1;
	if (kind == OVNBPF_TUN_CSUM_LCO) {
		if (s->is_ip4)
			return s->l4_proto == IPPROTO_ICMP ? 0 : -1;
		return s->is_ip6 && s->l4_off == s->l3_off + 40 ? 0 : -1;
	}
	if (kind != OVNBPF_TUN_CSUM_LCO_LEN4 || !s->is_ip4 ||
	    (s->l4_proto != IPPROTO_TCP && s->l4_proto != IPPROTO_UDP))
		return -1;
	if (load_hdr(skb, l3 + 2, &tot, 2))
		return -1;
	if (s->l4_proto == IPPROTO_UDP && (load_hdr(skb, l4 + 6, &check, 2) || !check))
		return -1;
	*var = (__u16)~bpf_htons(bpf_ntohs(tot) - (s->l4_off - s->l3_off));
	return 0;
}

/* nh_eth_set keeps the outer Ethernet header of this CPU's last next hop
 * ready to be copied as words (geneve_push_cached). */
static __always_inline void nh_eth_set(struct ovnbpf_work *s)
{
	struct ethhdr *e = (void *)s->nh_eth;

	__builtin_memcpy(e->h_dest, s->nh.dmac, ETH_ALEN);
	__builtin_memcpy(e->h_source, s->nh.smac, ETH_ALEN);
	e->h_proto = bpf_htons(ETH_P_IP);
}

/* geneve_push_cached is the tunnel copy of a flow cache hit in its common
 * case, in line in the entry program (a call and its return cost more than
 * this case's work): the entry's header template, this CPU's last next hop
 * for its chassis, the outer UDP checksum from the template's sum; the
 * bytes are ovnbpf_geneve_push's. Everything is checked before the packet
 * grows. Returns the device to send on, 0 when
 * the packet is not that case (ovnbpf_geneve_push does it all: GSO, IPv6
 * inner frames through adjust_room, a next hop to look up, a checksum to
 * sum), or a negative drop reason once the packet has grown. */
static __always_inline int geneve_push_cached(struct __sk_buff *skb, struct ovnbpf_work *s,
					      const struct ovnbpf_tun_tmpl *tt, __be32 chassis)
{
	const struct ovnbpf_config *cfg;
	struct geneve_ovn_hdr *h;
	void *p;
	__u32 zero = 0, inner_len, udp_csum;
	__u64 var = 0;
	__be16 len;

	if (!tt->valid || skb->gso_size || skb->protocol == bpf_htons(ETH_P_IPV6))
		return 0;
	if (s->nh_ip != chassis || bpf_jiffies64() >= s->nh.expires)
		return 0;
	cfg = bpf_map_lookup_elem(&ovnbpf_cfg, &zero);
	if (!cfg)
		return 0;
	udp_csum = cfg->udp_csum;
	if (udp_csum && (tt->csum == OVNBPF_TUN_CSUM_OFF || tt->csum == OVNBPF_TUN_CSUM_FULL ||
			 lco_var(skb, s, tt->csum, &var, 0)))
		return 0;
	if (bpf_skb_change_head(skb, GENEVE_ENCAP_LEN, 0))
		return -OVNBPF_DROP_ENCAP;
	inner_len = skb->len - GENEVE_ENCAP_LEN;
	p = pkt_at(skb, 0, GENEVE_ENCAP_LEN);
	if (!p)
		return -OVNBPF_DROP_ENCAP;
	h = p + ETH_HLEN;
	pkt_store(p, s->nh_eth, ETH_HLEN);
	pkt_store(h, tt->hdr, sizeof(*h));
	len = bpf_htons(GENEVE_OVN_HDR_LEN + inner_len);
	h->ip.tot_len = len;
	h->ip.check = ~csum_fold((__u64)tt->ip_sum + len);
	len = bpf_htons(GENEVE_OVN_HDR_LEN - 20 + inner_len);
	h->udp.len = len;
	if (udp_csum) {
		/* as ovnbpf_geneve_push: the template's sum, the UDP length twice
		 * (header and pseudo-header), the inner length's share */
		__u16 c = ~csum_fold(tt->udp_sum + 2 * (__u64)len + var);

		h->udp.check = c ? c : 0xffff;
	}
	s->need_neigh = 0;
	return s->nh.ifindex;
}

/* the value a next-hop entry starts from (in .rodata: map memory, which
 * every kernel takes as a map value) */
static const struct ovnbpf_nexthop nexthop_zero;

/* What ovnbpf_geneve_push does: add the headers (or only refresh them),
 * and what with its template. */
enum {
	TUN_FIRST = 1,       /* add room for the headers (else they are there) */
	TUN_TMPL_NONE = 0,   /* build the headers */
	TUN_TMPL_USE = 2,    /* tt is valid: copy it, patch lengths and checksums */
	TUN_TMPL_FILL = 4,   /* build the headers and keep them in tt (a flow cache entry to be) */
};

/* ovnbpf_geneve_push adds (first) or refreshes the outer headers of tunnel
 * copy pick. The inner frame's Ethernet header is at offset 0 on entry when
 * first. Returns the device to send on, or a negative drop reason; sets
 * s->need_neigh when the kernel must resolve the next hop (redirect_neigh).
 * how: TUN_FIRST | TUN_TMPL_*; tt: the flow's header template. (Five
 * arguments at most for a BPF call.) */
__noinline int ovnbpf_geneve_push(struct __sk_buff *skb, struct ovnbpf_work *s, __u32 pick, int how,
				  struct ovnbpf_tun_tmpl *tt)
{
	int first = how & TUN_FIRST, mode = how & ~TUN_FIRST;
	const struct ovnbpf_config *cfg;
	const struct ovnbpf_out *o;
	/* one stack slot for both map keys (the config's 0, then the next hop):
	 * kernels before 6.2 take keys only from the stack or map memory, and
	 * count 512 bytes of stack for a whole call chain */
	__u32 key = 0, ifindex;
	struct ovnbpf_nexthop *nh;
	__u64 now;
	struct geneve_ovn_hdr h = {}, *p;
	struct bpf_fib_lookup *fib = (void *)s->fib;
	struct ethhdr oeth = {};
	__u32 inner_len, hash;
	__u16 sport, ip_sum;
	int gso, rc;

	if (!skb || !s || !tt)
		return -OVNBPF_DROP_ENCAP;
	cfg = bpf_map_lookup_elem(&ovnbpf_cfg, &key);
	if (!cfg)
		return -OVNBPF_DROP_ENCAP;
	o = &s->out[pick & (OVNBPF_MAX_OUT - 1)];
	s->need_neigh = 0;
	/* gso_size, not gso_segs: a VM's GSO packet (tap, virtio header) comes
	 * with gso_segs 0, and adjust_room zeroes it */
	gso = skb->gso_size != 0;
	if (first) {
		/* adjust_room also makes skb->protocol the outer one (IPv4), which
		 * bpf_redirect_neigh routes by: an IPv6 frame given room with
		 * change_head would stay "IPv6" and be lost there */
		if (gso || skb->protocol == bpf_htons(ETH_P_IPV6)) {
			struct ethhdr ieth;
			__u64 fl = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
				   BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN) |
				   BPF_F_ADJ_ROOM_FIXED_GSO;

			/* room after the MAC header keeps GSO working: the kernel marks
			 * the packet as UDP-tunnelled and segments the inner frame.
			 * FIXED_GSO: gso_size is the inner segment's, as the VM sent it
			 * (its MTU leaves room for Geneve); by default the kernel would
			 * shrink every segment by the header's length */
			if (bpf_skb_load_bytes(skb, 0, &ieth, sizeof(ieth)))
				return -OVNBPF_DROP_ENCAP;
			if (bpf_skb_adjust_room(skb, GENEVE_ENCAP_LEN, BPF_ADJ_ROOM_MAC, fl))
				return -OVNBPF_DROP_ENCAP;
			if (bpf_skb_store_bytes(skb, GENEVE_ENCAP_LEN, &ieth, sizeof(ieth), 0))
				return -OVNBPF_DROP_ENCAP;
		} else if (bpf_skb_change_head(skb, GENEVE_ENCAP_LEN, 0)) {
			/* any inner protocol (ARP too) */
			return -OVNBPF_DROP_ENCAP;
		}
	}
	inner_len = skb->len - GENEVE_ENCAP_LEN;  /* the inner frame, its Ethernet header included */
	/* the pushed headers are in the linear data (change_head and
	 * adjust_room put them there) */
	p = pkt_at(skb, ETH_HLEN, sizeof(*p));
	if (!p)
		return -OVNBPF_DROP_ENCAP;
	if (mode == TUN_TMPL_USE && tt->valid) {
		pkt_store(p, tt->hdr, sizeof(*p));
		ip_sum = tt->ip_sum;
	} else {
		/* an unchanged flow cache hit's copy holds no packet fields: they
		 * are the parse's */
		hash = flow_hash(s->unchanged ? &s->cur.raw[OVNBPF_PKT_OFF] : o->pkt);
		/* source port from the inner flow hash, in the ephemeral range */
		sport = 49152 + (hash & 0x3fff);
		h.ip.version = 4;
		h.ip.ihl = 5;
		h.ip.frag_off = bpf_htons(0x4000);  /* DF, as OVS */
		h.ip.ttl = 64;
		h.ip.protocol = IPPROTO_UDP;
		h.ip.saddr = cfg->encap_ip;
		h.ip.daddr = o->chassis_ip;
		h.udp.source = bpf_htons(sport);
		h.udp.dest = bpf_htons(OVNBPF_GENEVE_PORT);
		h.ver_optlen = 2;        /* version 0, 8 bytes of options */
		h.flags = 0x40;          /* C: a critical option is present */
		h.proto = bpf_htons(ETH_P_TEB);
		h.vni_rsvd = bpf_htonl(o->dp << 8);
		h.opt_class = bpf_htons(GENEVE_OPT_CLASS_OVN);
		h.opt_type = GENEVE_OPT_TYPE_OVN;
		h.opt_len = 1;
		h.opt_value = bpf_htonl(((o->inport & 0x7fff) << 16) | (o->outport & 0xffff));
		ip_sum = csum_fold(csum_words(&h.ip, sizeof(h.ip)));
		pkt_store(p, &h, sizeof(h));
		if (mode == TUN_TMPL_FILL) {
			__builtin_memcpy(tt->hdr, &h, sizeof(h));
			tt->ip_sum = ip_sum;
		}
	}
	p->ip.tot_len = bpf_htons(GENEVE_OVN_HDR_LEN + inner_len);
	p->ip.check = ~csum_fold((__u64)ip_sum + p->ip.tot_len);
	p->udp.len = bpf_htons(GENEVE_OVN_HDR_LEN - 20 + inner_len);
	if (cfg->udp_csum && !gso) {
		struct {
			__be32 src, dst;
			__u8 zero, proto;
			__be16 len;
		} ph = { p->ip.saddr, p->ip.daddr, 0, IPPROTO_UDP, p->udp.len };
		/* the lengths' share: the UDP length twice (header, pseudo-header) */
		__u64 sum, var, lens = 2 * (__u64)p->udp.len;
		__u16 c;

		if (mode == TUN_TMPL_USE && tt->valid && tt->csum != OVNBPF_TUN_CSUM_FULL &&
		    lco_var(skb, s, tt->csum, &var, GENEVE_ENCAP_LEN) == 0) {
			sum = tt->udp_sum + lens + var;
		} else {
			rc = lco_sum(skb, s, &p->udp, &sum, &var);
			if (rc < 0) {
				/* not a packet whose inner checksum vouches for its payload */
				sum = csum_packet(skb, ETH_HLEN + 20, skb->len);
				if (sum == ~0ULL)
					return -OVNBPF_DROP_ENCAP;
				rc = OVNBPF_TUN_CSUM_FULL;
			}
			sum += csum_words(&ph, sizeof(ph));
			if (mode == TUN_TMPL_FILL) {
				/* the sum without the lengths' share: + its complement */
				tt->udp_sum = csum_fold(sum + (__u16)~csum_fold(lens + var));
				tt->csum = rc;
			}
		}
		c = ~csum_fold(sum);
		if (c == 0)
			c = 0xffff;
		/* p is still good: no helper that moves the data ran since */
		p = pkt_at(skb, ETH_HLEN, sizeof(*p));
		if (!p)
			return -OVNBPF_DROP_ENCAP;
		p->udp.check = c;
	} else if (mode == TUN_TMPL_FILL) {
		tt->csum = OVNBPF_TUN_CSUM_OFF;
	}
	/* a GSO packet's template would not know its checksum kind */
	if (mode == TUN_TMPL_FILL && !(cfg->udp_csum && gso))
		tt->valid = 1;
	/* next hop by the kernel's FIB and neighbour table (its answer reused
	 * for a moment: the lookup is the dearest step of an encapsulation) */
	now = bpf_jiffies64();
	key = o->chassis_ip;
	if (s->nh_ip == key && now < s->nh.expires) {
		/* the same chassis as this CPU's last tunnel packet */
		__builtin_memcpy(oeth.h_dest, s->nh.dmac, ETH_ALEN);
		__builtin_memcpy(oeth.h_source, s->nh.smac, ETH_ALEN);
		ifindex = s->nh.ifindex;
		goto have_nh;
	}
	nh = bpf_map_lookup_elem(&ovnbpf_nexthops, &key);
	if (nh && now < nh->expires) {
		__builtin_memcpy(oeth.h_dest, nh->dmac, ETH_ALEN);
		__builtin_memcpy(oeth.h_source, nh->smac, ETH_ALEN);
		ifindex = nh->ifindex;
		s->nh = *nh;
		nh_eth_set(s);
		s->nh_ip = key;
	} else {
		__builtin_memset(fib, 0, sizeof(*fib));
		fib->family = AF_INET;
		fib->ipv4_src = cfg->encap_ip;
		fib->ipv4_dst = o->chassis_ip;
		fib->ifindex = cfg->underlay_ifindex;
		/* a GSO packet is checked by the kernel against the device
		 * (segment by segment) when tot_len is 0; its own length would
		 * answer FRAG_NEEDED */
		fib->tot_len = skb->gso_size ? 0 : GENEVE_OVN_HDR_LEN + inner_len;
		rc = bpf_fib_lookup(skb, fib, sizeof(*fib), BPF_FIB_LOOKUP_OUTPUT);
		if (rc == BPF_FIB_LKUP_RET_NO_NEIGH || rc == BPF_FIB_LKUP_RET_FWD_DISABLED) {
			/* the neighbour is not resolved yet, or the helper refuses to look
			 * up on a device without forwarding: bpf_redirect_neigh lets the
			 * kernel route and resolve (for the last copy only) */
			s->need_neigh = 1;
			return cfg->underlay_ifindex;
		}
		if (rc != BPF_FIB_LKUP_RET_SUCCESS)
			return -OVNBPF_DROP_NO_NEIGH;
		__builtin_memcpy(oeth.h_dest, fib->dmac, ETH_ALEN);
		__builtin_memcpy(oeth.h_source, fib->smac, ETH_ALEN);
		ifindex = fib->ifindex;
		/* remember the answer: filled in place in the map (an entry built on
		 * the stack would not fit older kernels' stack budget) */
		if (!nh) {
			bpf_map_update_elem(&ovnbpf_nexthops, &key, &nexthop_zero, BPF_NOEXIST);
			nh = bpf_map_lookup_elem(&ovnbpf_nexthops, &key);
		}
		__builtin_memcpy(s->nh.dmac, fib->dmac, ETH_ALEN);
		__builtin_memcpy(s->nh.smac, fib->smac, ETH_ALEN);
		s->nh.ifindex = fib->ifindex;
		s->nh.expires = now + OVNBPF_NEXTHOP_JIFFIES;
		nh_eth_set(s);
		s->nh_ip = key;
		if (nh)
			*nh = s->nh;
	}
have_nh:
	oeth.h_proto = bpf_htons(ETH_P_IP);
	{
		void *q = pkt_at(skb, 0, sizeof(oeth));

		if (q)
			__builtin_memcpy(q, &oeth, sizeof(oeth));
		else if (bpf_skb_store_bytes(skb, 0, &oeth, sizeof(oeth), 0))
			return -OVNBPF_DROP_ENCAP;
	}
	return ifindex;
}

#include "tunnel_rx.h"

struct geneve_rx {
	__u32 vni;
	__u32 inport;
	__u32 outport;
	__u32 inner_off;  /* offset of the inner Ethernet header */
};

/* geneve_parse_plain reads, in place, the form every OVN chassis sends:
 * outer IPv4 without options, not a fragment, the OVN option alone, the
 * header checksum right and the lengths as tunnel_rx_check wants them. 1:
 * such a packet for us (rx filled, the outer UDP checksum checked), a
 * negative drop reason when that checksum is wrong, 0: any other packet
 * (geneve_parse's general path decides: each test here is one of its own,
 * so both answer the same). */
static __always_inline int geneve_parse_plain(struct __sk_buff *skb, const struct ovnbpf_config *cfg,
					      struct geneve_rx *rx)
{
	const struct geneve_ovn_hdr *h;
	const __u8 *p = pkt_at(skb, 0, GENEVE_ENCAP_LEN);
	__u32 tot, opt;

	if (!p || *(const ovnbpf_u16a *)(p + 12) != bpf_htons(ETH_P_IP))
		return 0;
	h = (const void *)(p + ETH_HLEN);
	if (*(const __u8 *)&h->ip != 0x45 || h->ip.protocol != IPPROTO_UDP || h->ip.daddr != cfg->encap_ip ||
	    (h->ip.frag_off & bpf_htons(0x3fff)) || h->udp.dest != bpf_htons(OVNBPF_GENEVE_PORT))
		return 0;
	tot = bpf_ntohs(h->ip.tot_len);
	if (csum_fold(csum_words(&h->ip, sizeof(h->ip))) != 0xffff || tot < 20 + sizeof(h->udp) ||
	    tot + ETH_HLEN > skb->len || bpf_ntohs(h->udp.len) != tot - 20)
		return 0;
	/* version 0 with 8 bytes of options, Ethernet inside, one option:
	 * OVN's, 4 bytes (the option's top 3 length bits are flags) */
	opt = bpf_ntohl(*(const ovnbpf_u32a *)&h->opt_class);
	if (h->ver_optlen != 2 || h->proto != bpf_htons(ETH_P_TEB) ||
	    (opt & 0xffffff1f) != ((GENEVE_OPT_CLASS_OVN << 16) | (GENEVE_OPT_TYPE_OVN << 8) | 1) ||
	    skb->len < GENEVE_ENCAP_LEN + ETH_HLEN)
		return 0;
	rx->vni = bpf_ntohl(h->vni_rsvd) >> 8;
	rx->inport = (bpf_ntohl(h->opt_value) >> 16) & 0x7fff;
	rx->outport = bpf_ntohl(h->opt_value) & 0xffff;
	rx->inner_off = GENEVE_ENCAP_LEN;
	/* an outer UDP checksum: tunnel_rx_check's, as on the general path
	 * (it knows the skb's checksum state); none: nothing more to check */
	if (h->udp.check) {
		int ret = ovnbpf_tunnel_rx_check(skb, 20);

		if (ret < 0)
			return ret;
	}
	return 1;
}

/* geneve_parse recognises a Geneve packet for us. Returns 1 if it is one
 * (rx filled), 0 if the packet is not ours (pass it to the host), or a
 * negative drop reason for a malformed Geneve packet. */
static __always_inline int geneve_parse(struct __sk_buff *skb, const struct ovnbpf_config *cfg,
					struct geneve_rx *rx)
{
	struct ethhdr eh;
	struct iphdr ih;
	struct udphdr uh;
	__u8 g[8];
	__u32 off, opt_end, hl;
	int found = 0, ret;

	ret = geneve_parse_plain(skb, cfg, rx);
	if (ret)
		return ret;
	if (load_hdr(skb, 0, &eh, sizeof(eh)) || eh.h_proto != bpf_htons(ETH_P_IP))
		return 0;
	if (load_hdr(skb, ETH_HLEN, &ih, sizeof(ih)))
		return 0;
	if (ih.protocol != IPPROTO_UDP || ih.daddr != cfg->encap_ip || ih.version != 4)
		return 0;
	hl = ih.ihl * 4;
	if (hl < 20)
		return -OVNBPF_DROP_TUNNEL_IP4;  /* the host would drop it too */
	if (bpf_ntohs(ih.frag_off) & 0x3fff)
		return 0;  /* fragments are the host's to reassemble */
	off = ETH_HLEN + hl;
	if (load_hdr(skb, off, &uh, sizeof(uh)) || uh.dest != bpf_htons(OVNBPF_GENEVE_PORT))
		return 0;
	ret = ovnbpf_tunnel_rx_check(skb, hl);
	if (ret < 0)
		return ret;
	off += sizeof(uh);
	if (load_hdr(skb, off, g, sizeof(g)))
		return -OVNBPF_DROP_PARSE_GENEVE;
	if ((g[0] >> 6) != 0 || g[2] != 0x65 || g[3] != 0x58)
		return -OVNBPF_DROP_PARSE_GENEVE;
	rx->vni = ((__u32)g[4] << 16) | ((__u32)g[5] << 8) | g[6];
	off += 8;
	opt_end = off + (g[0] & 0x3f) * 4;
#pragma unroll
	for (int i = 0; i < GENEVE_MAX_OPTS; i++) {
		__u8 oh[4];
		__be32 v;
		__u32 len;

		if (off >= opt_end)
			break;
		if (load_hdr(skb, off, oh, sizeof(oh)))
			return -OVNBPF_DROP_PARSE_GENEVE;
		len = (oh[3] & 0x1f) * 4;
		if (oh[0] == 0x01 && oh[1] == 0x02 && oh[2] == GENEVE_OPT_TYPE_OVN && len == 4) {
			if (load_hdr(skb, off + 4, &v, 4))
				return -OVNBPF_DROP_PARSE_GENEVE;
			rx->inport = (bpf_ntohl(v) >> 16) & 0x7fff;
			rx->outport = bpf_ntohl(v) & 0xffff;
			found = 1;
		} else if (oh[2] & 0x80) {
			return -OVNBPF_DROP_GENEVE_OPTION;  /* critical and unknown */
		}
		off += 4 + len;
	}
	if (off != opt_end)
		return -OVNBPF_DROP_PARSE_GENEVE;
	if (!found)
		return -OVNBPF_DROP_GENEVE_OPTION;
	if (skb->len < opt_end + ETH_HLEN)
		return -OVNBPF_DROP_PARSE_GENEVE;
	rx->inner_off = opt_end;
	return 1;
}

/* geneve_pop removes everything before the inner Ethernet header. */
static __always_inline int geneve_pop(struct __sk_buff *skb, __u32 inner_off)
{
	struct ethhdr ieth;
	__u32 strip = inner_off;  /* outer L3..Geneve plus the inner MAC header's old place */
	void *src = pkt_at(skb, inner_off, sizeof(ieth)), *dst = pkt_at(skb, 0, sizeof(ieth));

	/* the inner MAC header over the outer one: in place where the headers
	 * are linear (two helper calls cost more than the rest of the move) */
	if (src && dst) {
		pkt_load(&ieth, src, sizeof(ieth));
		pkt_store(dst, &ieth, sizeof(ieth));
	} else if (bpf_skb_load_bytes(skb, inner_off, &ieth, sizeof(ieth)) ||
		   bpf_skb_store_bytes(skb, 0, &ieth, sizeof(ieth), 0)) {
		return -OVNBPF_DROP_DECAP;
	}
	/* bytes after the (now inner) MAC header up to the inner L3 go.
	 * FIXED_GSO: a GSO packet keeps its inner segment size (by default the
	 * kernel would grow it by the header's length). NO_CSUM_RESET + DEC:
	 * what the kernel's UDP receive does, the outer UDP checksum's level
	 * of a CHECKSUM_UNNECESSARY packet is used up and inner levels stay
	 * verified (by default all would be dropped and the receiver would sum
	 * the payload again); CHECKSUM_PARTIAL (a GRO packet) is kept as is. */
	if (bpf_skb_adjust_room(skb, -(__s32)strip, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_NO_CSUM_RESET))
		return -OVNBPF_DROP_DECAP;
	bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC);
	return 0;
}
#endif
