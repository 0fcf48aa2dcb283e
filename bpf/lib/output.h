/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* OVN's physical output (REFERENCE.md, "The physical life of a packet"):
 * ingress output resolves outport to local egress, a tunnel, the localnet
 * port or multicast expansion; egress output delivers to a device or
 * enters a patch peer's ingress. */
#ifndef OVNBPF_OUTPUT_H
#define OVNBPF_OUTPUT_H

#include "maps.h"
#include "thread.h"

static __always_inline struct ovnbpf_port *port_get(__u32 dp, __u32 port)
{
	struct ovnbpf_port_key pk = { .dp = dp, .port = port };

	return bpf_map_lookup_elem(&ovnbpf_ports, &pk);
}

static __always_inline __u32 dp_localnet(__u32 dp)
{
	struct ovnbpf_datapath *d = bpf_map_lookup_elem(&ovnbpf_dps, &dp);

	return d ? d->localnet_port : 0;
}

static __always_inline int output_step(struct ovnbpf_work *s)
{
	struct ovnbpf_thread *t = &s->cur;
	__u32 dp = bpf_ntohl(t->key.dp);
	__u32 outport = bpf_ntohl(t->key.outport);
	struct ovnbpf_port *p;

	if (outport >= OVNBPF_MCAST_MIN) {
		struct ovnbpf_port_key gk = { .dp = dp, .port = outport };
		struct ovnbpf_mcast_group *m = bpf_map_lookup_elem(&ovnbpf_mcast, &gk);

		if (!m)
			return thread_end(s, -OVNBPF_DROP_NO_ROUTE);
		/* one copy per remote chassis with members; never from a
		 * tunnel, never on a datapath bridged by a localnet port */
		if (!t->from_tunnel && !dp_localnet(dp)) {
#pragma unroll
			for (int i = 0; i < OVNBPF_MCAST_CHASSIS; i++) {
				if (i >= m->n_chassis)
					break;
				add_out(s, OVNBPF_OUT_TUNNEL, 0, 0, m->chassis[i]);
			}
		}
		t->mc_idx = 0;
		t->stage = OVNBPF_STAGE_MCAST;
		return 0;
	}
	p = port_get(dp, outport);
	if (!p)
		return thread_end(s, -OVNBPF_DROP_NO_ROUTE);
	if (p->type == OVNBPF_PORT_REDIRECT) {
		/* a chassisredirect port resident here, whether the packet was
		 * routed here or tunnelled to this gateway: its distributed port's
		 * egress runs instead (OVN's local output table) */
		t->key.outport = bpf_htonl(p->peer_port);
		return egress_enter(s, 1);
	}
	if (p->type == OVNBPF_PORT_REMOTE) {
		__u32 ln;

		if (t->from_tunnel)
			return thread_end(s, -OVNBPF_DROP_NO_ROUTE);
		ln = dp_localnet(dp);
		if (ln) {
			/* bridged: out through the localnet port instead of a tunnel */
			t->key.outport = bpf_htonl(ln);
			return egress_enter(s, 1);
		}
		add_out(s, OVNBPF_OUT_TUNNEL, 0, 0, p->chassis_ip);
		return thread_end(s, 0);
	}
	return egress_enter(s, 1);
}

static __always_inline int mcast_step(struct ovnbpf_work *s)
{
	struct ovnbpf_thread *t = &s->cur;
	struct ovnbpf_port_key gk = { .dp = bpf_ntohl(t->key.dp), .port = bpf_ntohl(t->key.outport) };
	struct ovnbpf_mcast_group *m = bpf_map_lookup_elem(&ovnbpf_mcast, &gk);
	struct ovnbpf_port *p;
	__u32 member, i = t->mc_idx;

	if (!m || i >= m->n_ports || i >= OVNBPF_MCAST_PORTS)
		return thread_end(s, 0);
	member = m->ports[i & (OVNBPF_MCAST_PORTS - 1)];
	t->mc_idx = i + 1;
	if (t->mc_idx < m->n_ports && fork_thread(s) < 0)
		t->mc_idx = m->n_ports;  /* out of room: this member is the last */
	p = port_get(gk.dp, member);
	if (!p || p->type == OVNBPF_PORT_REMOTE)
		return thread_end(s, 0);
	/* patch and localport members only expand where the packet entered OVN */
	if (t->from_tunnel && (p->type == OVNBPF_PORT_PATCH || p->type == OVNBPF_PORT_LOCALPORT))
		return thread_end(s, 0);
	if (p->type == OVNBPF_PORT_REDIRECT)
		member = p->peer_port;  /* a resident chassisredirect member: its distributed port */
	t->key.outport = bpf_htonl(member);
	return egress_enter(s, 0);
}

static __always_inline int deliver_step(struct ovnbpf_work *s)
{
	struct ovnbpf_thread *t = &s->cur;
	struct ovnbpf_port *p = port_get(bpf_ntohl(t->key.dp), bpf_ntohl(t->key.outport));

	if (!p)
		return thread_end(s, -OVNBPF_DROP_NO_ROUTE);
	switch (p->type) {
	case OVNBPF_PORT_VIF:
	case OVNBPF_PORT_LOCALPORT:
	case OVNBPF_PORT_LOCALNET:
		add_out(s, OVNBPF_OUT_DEVICE, p->ifindex, p->vlan, 0);
		return thread_end(s, 0);
	case OVNBPF_PORT_PATCH:
		return patch_enter(s, p);
	}
	return thread_end(s, -OVNBPF_DROP_NO_ROUTE);
}
#endif
