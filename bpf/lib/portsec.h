/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* check_in_port_sec / check_out_port_sec against Port_Binding.port_security
 * ("MAC [IP/plen ...]" entries the controller writes into ovnbpf_portsec).
 * Returns 1 when the packet violates the port's security, as OVN's actions. */
#ifndef OVNBPF_PORTSEC_H
#define OVNBPF_PORTSEC_H

#include "maps.h"

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		(a[5] ^ b[5])) == 0;
}

static __always_inline int ip4_in(const struct ovnbpf_portsec_entry *e, __be32 a, int out)
{
#pragma unroll
	for (int i = 0; i < OVNBPF_PORTSEC_IP4; i++) {
		if (i >= e->n_ip4)
			break;
		if ((a & e->ip4[i].mask) == e->ip4[i].addr)
			return 1;
		/* the subnet's broadcast address is deliverable */
		if (out && e->ip4[i].mask != 0xffffffff && (a | e->ip4[i].mask) == 0xffffffff &&
		    (a & e->ip4[i].mask) == e->ip4[i].addr)
			return 1;
	}
	return 0;
}

static __always_inline int ip6_prefix_eq(const __u8 *a, const __u8 *b, __u32 plen)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		__u32 bits = plen > (__u32)i * 8 ? plen - (__u32)i * 8 : 0;
		__u8 m;

		if (!bits)
			break;
		m = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((a[i] & m) != (b[i] & m))
			return 0;
	}
	return 1;
}

static __always_inline int ip6_in(const struct ovnbpf_portsec_entry *e, const __u8 *a)
{
	__u8 lla[16] = {0xfe, 0x80};

	lla[8] = e->mac[0] ^ 0x02;
	lla[9] = e->mac[1];
	lla[10] = e->mac[2];
	lla[11] = 0xff;
	lla[12] = 0xfe;
	lla[13] = e->mac[3];
	lla[14] = e->mac[4];
	lla[15] = e->mac[5];
	if (ip6_prefix_eq(a, lla, 128))
		return 1;
#pragma unroll
	for (int i = 0; i < OVNBPF_PORTSEC_IP6; i++) {
		if (i >= e->n_ip6)
			break;
		if (ip6_prefix_eq(a, e->ip6[i].addr, e->ip6[i].plen))
			return 1;
	}
	return 0;
}

static __always_inline int ip6_is_zero(const __u8 *a)
{
	__u8 acc = 0;

#pragma unroll
	for (int i = 0; i < 16; i++)
		acc |= a[i];
	return acc == 0;
}

/* entry_allows: does one entry allow this packet in direction out? */
static __always_inline int entry_allows(const struct ovnbpf_portsec_entry *e, const struct ovnbpf_key *k,
					int out)
{
	__be16 et = k->eth_type;
	int l3 = e->n_ip4 || e->n_ip6;

	if (!out) {
		if (!mac_eq(k->eth_src, e->mac))
			return 0;
		if (et == bpf_htons(0x0806))
			return mac_eq(k->arp_sha, e->mac) && (!e->n_ip4 ? !l3 : ip4_in(e, k->arp_spa, 0));
		if (!l3)
			return 1;
		if (et == bpf_htons(0x0800)) {
			if (ip4_in(e, k->ip4_src, 0))
				return 1;
			/* DHCP discovery from an address-less client */
			return e->n_ip4 && k->ip4_src == 0 && k->ip4_dst == 0xffffffff && k->ip_proto == 17 &&
			       k->tp_src == bpf_htons(68) && k->tp_dst == bpf_htons(67);
		}
		if (et == bpf_htons(0x86dd)) {
			if (ip6_in(e, k->ip6_src))
				return 1;
			/* from the unspecified address, to link-scope multicast, as
			 * ovn-controller allows: duplicate address detection (NS) and
			 * the MLD reports a host sends before it has an address */
			return ip6_is_zero(k->ip6_src) && k->ip6_dst[0] == 0xff && k->ip6_dst[1] == 0x02 &&
			       k->ip_proto == 58 && k->icmp_code == 0 &&
			       (k->icmp_type == 135 || k->icmp_type == 131 || k->icmp_type == 143);
		}
		return 1;
	}
	if (!(k->eth_dst[0] & 1) && !mac_eq(k->eth_dst, e->mac))
		return 0;
	if (!l3)
		return 1;
	if (et == bpf_htons(0x0800)) {
		__u8 first = ((const __u8 *)&k->ip4_dst)[0];

		return ip4_in(e, k->ip4_dst, 1) || k->ip4_dst == 0xffffffff || (first & 0xf0) == 0xe0;
	}
	if (et == bpf_htons(0x86dd))
		return k->ip6_dst[0] == 0xff || ip6_in(e, k->ip6_dst);
	return 1;
}

static __always_inline int port_sec_violation(const struct ovnbpf_key *k, int out)
{
	struct ovnbpf_port_key pk = {
		.dp = bpf_ntohl(k->dp),
		.port = bpf_ntohl(out ? k->outport : k->inport),
	};
	struct ovnbpf_portsec_val *ps = bpf_map_lookup_elem(&ovnbpf_portsec, &pk);

	if (!ps || ps->n == 0)
		return 0;
	for (int i = 0; i < OVNBPF_PORTSEC_ENTRIES; i++) {
		if (i >= ps->n)
			break;
		if (entry_allows(&ps->e[i], k, out))
			return 0;
	}
	return 1;
}
#endif
