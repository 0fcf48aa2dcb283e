/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bit ranges of big-endian key fields as 128-bit numbers (two u64). */
#ifndef OVNBPF_BITS_H
#define OVNBPF_BITS_H

#include <linux/types.h>
#include "types.h"

#define KEY_IDX(i) ((i) & 255)

struct u128 {
	__u64 hi;
	__u64 lo;
};

static __always_inline struct u128 shl128(struct u128 v, __u32 n)
{
	struct u128 r = {};

	n &= 127;
	if (n >= 64) {
		r.hi = v.lo << (n - 64);
	} else if (n) {
		r.hi = (v.hi << n) | (v.lo >> (64 - n));
		r.lo = v.lo << n;
	} else {
		r = v;
	}
	return r;
}

static __always_inline struct u128 shr128(struct u128 v, __u32 n)
{
	struct u128 r = {};

	n &= 127;
	if (n >= 64) {
		r.lo = v.hi >> (n - 64);
	} else if (n) {
		r.lo = (v.lo >> n) | (v.hi << (64 - n));
		r.hi = v.hi >> n;
	} else {
		r = v;
	}
	return r;
}

static __always_inline struct u128 ones128(__u32 nbits)
{
	struct u128 r = {};

	if (nbits >= 128) {
		r.hi = r.lo = ~0ULL;
	} else if (nbits >= 64) {
		r.lo = ~0ULL;
		r.hi = nbits == 64 ? 0 : (~0ULL >> (128 - nbits));
	} else if (nbits) {
		r.lo = ~0ULL >> (64 - nbits);
	}
	return r;
}

/* field_load reads the whole field (size <= 16 bytes) as a number. */
static __always_inline struct u128 field_load(const __u8 *raw, const struct ovnbpf_operand *o)
{
	struct u128 v = {};
	__u32 off = o->off;

#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i >= o->size)
			break;
		v.hi = (v.hi << 8) | (v.lo >> 56);
		v.lo = (v.lo << 8) | raw[KEY_IDX(off + i)];
	}
	return v;
}

static __always_inline void field_store(__u8 *raw, const struct ovnbpf_operand *o, struct u128 v)
{
	__u32 off = o->off;
	__u32 size = o->size;

#pragma unroll
	for (int i = 15; i >= 0; i--) {
		if (i < size) {
			raw[KEY_IDX(off + i)] = v.lo & 0xff;
			v.lo = (v.lo >> 8) | (v.hi << 56);
			v.hi >>= 8;
		}
	}
}

/* bits_get returns bits [bit, bit+nbits) of the operand's field, shifted down. */
static __always_inline struct u128 bits_get(const __u8 *raw, const struct ovnbpf_operand *o)
{
	struct u128 v = shr128(field_load(raw, o), o->bit);
	struct u128 m = ones128(o->nbits);

	v.hi &= m.hi;
	v.lo &= m.lo;
	return v;
}

static __always_inline void bits_set(__u8 *raw, const struct ovnbpf_operand *o, struct u128 val)
{
	struct u128 f = field_load(raw, o);
	struct u128 m = shl128(ones128(o->nbits), o->bit);

	val = shl128(val, o->bit);
	f.hi = (f.hi & ~m.hi) | (val.hi & m.hi);
	f.lo = (f.lo & ~m.lo) | (val.lo & m.lo);
	field_store(raw, o, f);
}
#endif
