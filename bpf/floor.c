// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The benchmark floor: a tc program that only redirects. The datapath's
 * per-packet cost is reported beside this one, measured in the same run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual BSD/GPL";

volatile const __u32 floor_ifindex = 1;

SEC("tc")
int ovnbpf_floor(struct __sk_buff *skb)
{
	return bpf_redirect(floor_ifindex, 0);
}
