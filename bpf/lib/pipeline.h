/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The pipeline executor: a bpf_loop whose every step does one small thing
 * (start a table, probe one subtable, run one op, one output decision), so
 * that any number of tables, patch hops and multicast members verifies as
 * one loop body. */
#ifndef OVNBPF_PIPELINE_H
#define OVNBPF_PIPELINE_H

#include "maps.h"
#include "classify.h"
#include "actions.h"
#include "output.h"

#define OVNBPF_MAX_STEPS 8192

static long pipeline_step(__u32 index, void *unused)
{
	struct ovnbpf_work *s = scratch_get();

	if (!s)
		return 1;
	s->steps++;
	switch (s->cur.stage) {
	case OVNBPF_STAGE_TABLE:
		table_start(s);
		break;
	case OVNBPF_STAGE_PROBE:
		table_probe(s);
		break;
	case OVNBPF_STAGE_EXEC:
		exec_step(s);
		break;
	case OVNBPF_STAGE_OUTPUT:
		output_step(s);
		break;
	case OVNBPF_STAGE_MCAST:
		mcast_step(s);
		break;
	case OVNBPF_STAGE_DELIVER:
		deliver_step(s);
		break;
	default:
		return 1;
	}
	return s->cur.stage == OVNBPF_STAGE_DONE;
}

/* pipeline_run runs s->cur to completion; copies end up in s->out. */
static __always_inline void pipeline_run(struct ovnbpf_work *s)
{
	s->steps = 0;
	bpf_loop(OVNBPF_MAX_STEPS, pipeline_step, NULL, 0);
	if (s->cur.stage != OVNBPF_STAGE_DONE) {
		count_drop(-OVNBPF_DROP_STEP_LIMIT);
		s->n_out = 0;  /* never forward a packet whose pipeline did not finish */
	}
}
#endif
