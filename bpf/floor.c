// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The benchmark floors: tc programs that only send. The datapath's
 * per-packet cost is reported beside them, measured in the same run. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual BSD/GPL";

volatile const __u32 floor_ifindex = 1;

SEC("tc")
int ovnbpf_floor(struct __sk_buff *skb)
{
	return bpf_redirect(floor_ifindex, 0);
}

/* The floor of a flood: a copy to each of floor_copies devices, each a
 * clone but the last, which is redirected. A flood cannot send its copies
 * for less; the datapath's flood is reported beside this. */
#define FLOOR_MAX_COPIES 16

volatile const __u32 floor_copies = 1;
volatile const __u32 floor_copy_ifindex[FLOOR_MAX_COPIES] = { 1 };

SEC("tc")
int ovnbpf_floor_flood(struct __sk_buff *skb)
{
	__u32 n = floor_copies;

	if (n == 0 || n > FLOOR_MAX_COPIES)
		return TC_ACT_SHOT;
	for (__u32 i = 0; i < FLOOR_MAX_COPIES; i++) {
		if (i + 1 >= n)
			break;
		bpf_clone_redirect(skb, floor_copy_ifindex[i], 0);
	}
	return bpf_redirect(floor_copy_ifindex[(n - 1) & (FLOOR_MAX_COPIES - 1)], 0);
}
