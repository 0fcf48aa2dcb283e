/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internet checksums over headers and over a whole packet. */
#ifndef OVNBPF_CSUM_H
#define OVNBPF_CSUM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define OVNBPF_CSUM_CHUNK 512

/* csum_words sums n bytes (n even, a constant) as 16-bit words in memory
 * order, unfolded: what bpf_csum_diff does, without a helper call. */
typedef __u16 __attribute__((__may_alias__)) csum_u16;  /* reads any object's bytes */

static __always_inline __u64 csum_words(const void *p, const int n)
{
	const csum_u16 *w = p;
	__u64 s = 0;

#pragma unroll
	for (int i = 0; i < n / 2; i++)
		s += w[i];
	return s;
}

/* csum_words32 is csum_words in 32-bit words (n a multiple of 4): the
 * same sum once folded, half the loads. */
typedef __u32 __attribute__((__may_alias__)) csum_u32;

static __always_inline __u64 csum_words32(const void *p, const int n)
{
	const csum_u32 *w = p;
	__u64 s = 0;

#pragma unroll
	for (int i = 0; i < n / 4; i++)
		s += w[i];
	return s;
}

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The walk's position lives in the map value, not on the stack: the
 * verifier then sees one loop state and checks the body once. */
struct csum_buf {
	__u32 off;
	__u32 end;
	__u64 sum;
	__u8 b[OVNBPF_CSUM_CHUNK + 4];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csum_buf);
} ovnbpf_csumbuf SEC(".maps");

struct csum_walk {
	struct __sk_buff *skb;
};

static long csum_chunk(__u32 i, void *arg)
{
	struct csum_walk *w = arg;
	__u32 zero = 0, left, n, m;
	struct csum_buf *buf;
	__s64 r;

	buf = bpf_map_lookup_elem(&ovnbpf_csumbuf, &zero);
	if (!buf || buf->off >= buf->end)
		return 1;
	left = buf->end - buf->off;
	n = left > OVNBPF_CSUM_CHUNK ? OVNBPF_CSUM_CHUNK : left;
	/* n in [1, CHUNK] as m = n - 1 in [0, CHUNK - 1]: verifiers before 6.2
	 * lose the minimum of `n == 0 || n > CHUNK` once clang folds it, and
	 * refuse a length that may be 0 */
	if (n == 0 || n > OVNBPF_CSUM_CHUNK)
		return 1;
	m = n - 1;
	asm volatile("" : "+r"(m));  /* hide the range from clang, which would fold the mask */
	m &= OVNBPF_CSUM_CHUNK - 1;
	n = m + 1;
	/* zero the tail so that an odd or short chunk sums as if padded */
	__builtin_memset(&buf->b[(n & ~3u) & (OVNBPF_CSUM_CHUNK - 1)], 0, 4);
	if (bpf_skb_load_bytes(w->skb, buf->off, buf->b, n)) {
		buf->end = 0;
		return 1;
	}
	r = bpf_csum_diff(0, 0, (__be32 *)buf->b, (n + 3) & ~3u, 0);
	buf->sum += (__u32)r;
	buf->off += n;
	return 0;
}

/* csum_packet sums bytes [off, end) of the packet (one's complement,
 * unfolded). Returns ~0 on failure. */
static __always_inline __u64 csum_packet(struct __sk_buff *skb, __u32 off, __u32 end)
{
	struct csum_walk w = { .skb = skb };
	struct csum_buf *buf;
	__u32 zero = 0;

	buf = bpf_map_lookup_elem(&ovnbpf_csumbuf, &zero);
	if (!buf)
		return ~0ULL;
	buf->off = off;
	buf->end = end;
	buf->sum = 0;
	bpf_loop(65536 / OVNBPF_CSUM_CHUNK + 1, csum_chunk, &w, 0);
	buf = bpf_map_lookup_elem(&ovnbpf_csumbuf, &zero);
	if (!buf || buf->off != end || buf->end != end)
		return ~0ULL;
	return buf->sum;
}
#endif
