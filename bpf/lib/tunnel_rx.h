/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The checks the host's IPv4 and UDP receive make before a UDP tunnel sees a
 * packet (OVS's Geneve vport relies on them), made here for the Geneve
 * packets the datapath takes from the host: a packet that fails one is
 * dropped and counted, never decapsulated. */
#ifndef OVNBPF_TUNNEL_RX_H
#define OVNBPF_TUNNEL_RX_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "types.h"
#include "csum.h"
#include "parse.h"

#define OVNBPF_ENOTSUPP 524  /* the kernel's internal ENOTSUPP */

/* outer_csum_settled tells whether the kernel already answers for the outer
 * UDP checksum, as its UDP receive would decide (skb_csum_unnecessary):
 * CHECKSUM_UNNECESSARY (the device verified csum_level + 1 checksums, the
 * outermost first) and CHECKSUM_PARTIAL (built on this host and never on a
 * wire, e.g. a peer chassis' encapsulation over veth, or a GRO packet: an
 * inner checksum may not be filled in yet, so its bytes would not sum) need
 * no check; CHECKSUM_NONE and CHECKSUM_COMPLETE are verified by summing. A TC
 * program sees ip_summed only through helpers: the level query answers for
 * UNNECESSARY alone; the level increment changes only NONE then (into
 * UNNECESSARY level 0), so a second query tells NONE apart; adding 0 to
 * skb->csum succeeds for COMPLETE only. The increment stays: a packet that
 * was NONE has its outer checksum verified below or is dropped, and the
 * decap's bpf_csum_level(DEC) uses that level up again (NONE: the inner
 * packet is verified by whoever receives it). */
static __always_inline int outer_csum_settled(struct __sk_buff *skb)
{
	if (bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY) >= 0)
		return 1;
	bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
	if (bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY) >= 0)
		return 0;
	return bpf_csum_update(skb, 0) == -OVNBPF_ENOTSUPP;  /* not COMPLETE: PARTIAL */
}

/* csum_datagram sums bytes [off, end) of the packet (unfolded) where the
 * data is linear, without copying it: 512-byte blocks, then the tail in
 * power-of-two pieces (each piece starts at an even offset from off, as a
 * 16-bit sum needs); what is not linear goes through csum_packet's copies.
 * Returns ~0 on failure. */
static __always_inline __u64 csum_datagram(struct __sk_buff *skb, __u32 off, __u32 end)
{
	__u64 sum = 0, rest;

	for (int i = 0; i < 65536 / OVNBPF_CSUM_CHUNK; i++) {
		void *data = SKB_FIELD(skb, data);
		void *data_end = SKB_FIELD(skb, data_end);
		void *p;

		/* the verifier gives a packet pointer a range only while its
		 * offset plus the range stays within 64 KB */
		if (off + OVNBPF_CSUM_CHUNK > end || off > 0x7fff)
			break;
		asm volatile("%0 &= 0x7fff" : "+r"(off));  /* a bound the verifier sees */
		p = data + off;
		if (p + OVNBPF_CSUM_CHUNK > data_end)
			break;
		sum += (__u32)bpf_csum_diff(0, 0, p, OVNBPF_CSUM_CHUNK, 0);
		off += OVNBPF_CSUM_CHUNK;
	}
	/* a linear tail shorter than a block: power-of-two pieces in place */
#pragma unroll
	for (int size = OVNBPF_CSUM_CHUNK / 2; size >= 2; size /= 2) {
		void *data = SKB_FIELD(skb, data);
		void *data_end = SKB_FIELD(skb, data_end);
		void *p;

		if (!((end - off) & size))
			continue;
		if (off > 0x7fff)
			break;
		asm volatile("%0 &= 0x7fff" : "+r"(off));
		p = data + off;
		if (p + size > data_end)
			break;
		if (size > 128)
			sum += (__u32)bpf_csum_diff(0, 0, p, size, 0);
		else if (size >= 4)
			sum += csum_words32(p, size);  /* in line: cheaper than a helper call */
		else
			sum += *(csum_u16 *)p;
		off += size;
	}
	if (off + 1 == end) {  /* an odd last byte sums as if padded with zero */
		__u8 last;

		if (load_hdr(skb, off, &last, 1))
			return ~0ULL;
		sum += *(csum_u16 *)&(__u8[2]){ last, 0 };
		off = end;
	}
	if (off == end)
		return sum;
	rest = csum_packet(skb, off, end);
	return rest == ~0ULL ? rest : sum + rest;
}

/* ovnbpf_tunnel_rx_check validates the outer IPv4 header (hl bytes after the
 * Ethernet header) and the UDP header of a packet addressed to our Geneve
 * port: IHL, header checksum, total length within the frame, UDP length equal
 * to the IPv4 payload, and a non-zero UDP checksum over the whole datagram
 * unless the kernel answers for it. Returns 0 or a negative drop reason. */
__noinline int ovnbpf_tunnel_rx_check(struct __sk_buff *skb, __u32 hl)
{
	struct iphdr ih;
	struct udphdr uh;
	struct {
		__be32 src, dst;
		__u8 zero, proto;
		__be16 len;
	} ph;
	__u32 tot, ulen, l4;
	__u64 sum, data;

	if (hl < 20 || hl > 60)
		return -OVNBPF_DROP_TUNNEL_IP4;
	if (load_hdr(skb, ETH_HLEN, &ih, sizeof(ih)))
		return -OVNBPF_DROP_TUNNEL_IP4;
	sum = csum_words(&ih, sizeof(ih));
#pragma unroll
	for (int i = 0; i < 10; i++) {  /* options: never sent by OVS, accepted by the host */
		__u32 w;

		if (20 + 4 * i >= hl)
			break;
		if (load_hdr(skb, ETH_HLEN + 20 + 4 * i, &w, 4))
			return -OVNBPF_DROP_TUNNEL_IP4;
		sum += csum_words(&w, 4);
	}
	if (csum_fold(sum) != 0xffff)
		return -OVNBPF_DROP_TUNNEL_IP4;
	tot = bpf_ntohs(ih.tot_len);
	if (tot < hl + sizeof(uh) || tot + ETH_HLEN > skb->len)
		return -OVNBPF_DROP_TUNNEL_IP4;
	l4 = ETH_HLEN + hl;
	if (load_hdr(skb, l4, &uh, sizeof(uh)))
		return -OVNBPF_DROP_TUNNEL_UDP;
	/* the host trims a datagram shorter than its IPv4 payload; nothing a
	 * tunnel sends is, and decapsulating the rest would deliver bytes the
	 * checksum never covered */
	ulen = bpf_ntohs(uh.len);
	if (ulen != tot - hl)
		return -OVNBPF_DROP_TUNNEL_UDP;
	if (!uh.check || outer_csum_settled(skb))
		return 0;  /* no checksum (valid over IPv4), or the kernel's word */
	ph.src = ih.saddr;
	ph.dst = ih.daddr;
	ph.zero = 0;
	ph.proto = IPPROTO_UDP;
	ph.len = uh.len;
	data = csum_datagram(skb, l4, l4 + ulen);
	if (data == ~0ULL)
		return -OVNBPF_DROP_TUNNEL_UDP;
	if (csum_fold(csum_words(&ph, sizeof(ph)) + data) != 0xffff)
		return -OVNBPF_DROP_TUNNEL_CSUM;
	return 0;
}
#endif
