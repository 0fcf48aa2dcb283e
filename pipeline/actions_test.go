package pipeline

import (
	"strings"
	"testing"
)

// TestActions lowers action strings (ingress table 5 of switch dp 1, or of
// router dp 2) and compares the canonical op rendering.
func TestActions(t *testing.T) {
	for _, tc := range []struct {
		dp            uint32
		actions, want string
	}{
		{1, "drop;", "drop"},
		{1, "next;", "next(ingress,6)"},
		{1, "next(9);", "next(ingress,9)"},
		{1, "next(pipeline=egress, table=2);", "next(egress,2)"},
		{1, `outport = "p2"; output;`, "set(outport=0x2),output"},
		{1, `outport = "_MC_flood"; output;`, "set(outport=0x8000),output"},
		{1, `outport = "nope"; output;`, "set(outport=0x0),output"},
		{1, "outport = inport; flags.loopback = 1;", "move(inport->outport),set(flags=0x1/0x1)"},
		{1, "eth.dst <-> eth.src; ip4.dst <-> ip4.src;", "swap(eth_dst<->eth_src),swap(ip4_dst<->ip4_src)"},
		{1, "reg0 = 10.0.0.1; reg1[16..31] = 0x1234;", "set(reg0=0xa000001),set(reg1=0x12340000/0xffff0000)"},
		{1, "xxreg0 = ip6.dst;", "move(ip6_dst[0..31]->reg3),move(ip6_dst[32..63]->reg2),move(ip6_dst[64..95]->reg1),move(ip6_dst[96..127]->reg0)"},
		{1, "xxreg1 = fd00::1;", "set(reg7=0x1),set(reg6=0x0),set(reg5=0x0),set(reg4=0xfd000000)"},
		{1, "eth.src = 00:00:00:00:ff:01; ip.ttl--; next;", "set(eth_src=00:00:00:00:ff:01),dec_ttl,next(ingress,6)"},
		{1, "ct_next;", "ct_next(zone=ct_zone,table=6)"},
		{2, "ct_next;", "ct_next(zone=ct_zone_dnat,table=6)"},
		{1, "ct_commit { ct_label.blocked = 1; }; next;", "ct_commit(zone=ct_zone){set(ct_label=0x1/0x1)},next(ingress,6)"},
		{1, "ct_commit { ct_mark.ecmp_reply_port = 2; ct_label.ecmp_reply_eth = eth.src; };",
			"ct_commit(zone=ct_zone){set(ct_mark=0x20000/0xffff0000),move(eth_src->ct_label[32..79])}"},
		{1, "ct_commit(ct_mark=0x2/0x2);", "ct_commit(zone=ct_zone){set(ct_mark=0x2/0x2)}"},
		{2, "ct_dnat;", "ct_dnat(zone=ct_zone_dnat,table=6)"},
		{2, "ct_snat(203.0.113.1);", "ct_snat(zone=ct_zone_snat,ip=203.0.113.1,table=6)"},
		{2, "ct_snat(203.0.113.1, 1000-2000, random);", "ct_snat(zone=ct_zone_snat,ip=203.0.113.1,ports=1000-2000,random,table=6)"},
		{2, "ct_dnat_in_czone(10.0.0.5);", "ct_dnat(zone=ct_zone_snat,ip=10.0.0.5,czone,table=6)"},
		{1, `ct_lb_mark(backends=10.0.0.2:80,10.0.0.3:80; hash_fields="ip_src,ip_dst");`,
			"ct_lb_mark(zone=ct_zone,backends=10.0.0.2:80;10.0.0.3:80,hash=ip_src;ip_dst,table=6)"},
		{2, `ct_lb_mark(backends=[fd00::2]:8080; skip_snat);`, "ct_lb_mark(zone=ct_zone_dnat,backends=[fd00::2]:8080,skip_snat,table=6)"},
		{1, "ct_lb;", "ct_lb(zone=ct_zone,table=6)"},
		{1, "ct_clear; ct_snat_to_vip;", "ct_clear,ct_snat_to_vip(zone=ct_zone_snat,table=6)"},
		{1, "reg0[15] = check_in_port_sec(); reg0[14] = check_out_port_sec();",
			"check_in_port_sec(->reg0[15]),check_out_port_sec(->reg0[14])"},
		{2, "get_arp(outport, reg0); next;", "get_arp(outport,reg0),next(ingress,6)"},
		{2, "get_nd(outport, xxreg0);", "get_nd(outport,reg0[0..127])"},
		{2, "reg9[2] = lookup_arp(inport, arp.spa, arp.sha);", "lookup_arp(inport,arp_spa,arp_sha->reg9[2])"},
		{2, "reg9[3] = lookup_nd_ip(inport, nd.target);", "lookup_nd_ip(inport,nd_target->reg9[3])"},
		{2, "put_arp(inport, arp.spa, arp.sha);", "put_arp(inport,arp_spa,arp_sha)"},
		{1, "outport = get_fdb(eth.dst); reg0[11] = lookup_fdb(inport, eth.src); put_fdb(inport, eth.src);",
			"get_fdb(eth_dst->outport),lookup_fdb(inport,eth_src->reg0[11]),put_fdb(inport,eth_src)"},
		{1, "reg0[6] = chk_lb_hairpin(); reg0[12] = chk_lb_hairpin_reply();",
			"chk_lb_hairpin(->reg0[6]),chk_lb_hairpin_reply(->reg0[12])"},
		{2, "reg9[1] = check_pkt_larger(1514);", "check_pkt_larger(1514->reg9[1])"},
		{2, "reg8[16..31] = select(1=20, 2);", "select(1:20;2:100->reg8[16..31])"},
		// The form northd writes for ECMP routes with selection fields.
		{2, `reg8[16..31] = select(values=(1, 2); hash_fields="ip_dst,ip_proto,ip_src");`,
			"select(1:100;2:100,hash=ip_dst;ip_proto;ip_src->reg8[16..31])"},
		{2, `reg1[0..15] = select(values=(0=50,1,2=7); hash_fields="ip_src");`, "select(0:50;1:100;2:7,hash=ip_src->reg1[0..15])"},
		// Template load balancers: a whole list, an address and a port, IPv6.
		{1, "ct_lb_mark(backends=^backends);", "ct_lb_mark(zone=ct_zone,backends=192.0.2.10:8080;192.0.2.11:8080,table=6)"},
		{1, `ct_lb_mark(backends=^bip:^bport,203.0.113.7:80; hash_fields="ip_src");`,
			"ct_lb_mark(zone=ct_zone,backends=192.0.2.12:8081;203.0.113.7:80,hash=ip_src,table=6)"},
		{1, "ct_lb(backends=^vip);", "ct_lb(zone=ct_zone,backends=203.0.113.1,table=6)"},
		{2, "ct_lb_mark(backends=^b6,^backends; skip_snat);",
			"ct_lb_mark(zone=ct_zone_dnat,backends=[2001:db8::5]:443;192.0.2.10:8080;192.0.2.11:8080,skip_snat,table=6)"},
		{1, `arp { eth.dst = ff:ff:ff:ff:ff:ff; arp.op = 1; output; };`,
			"controller(arp){set(eth_dst=ff:ff:ff:ff:ff:ff),set(arp_op=0x1),output}"},
		{1, `icmp4_error { icmp4.type = 3; icmp4.frag_mtu = 1442; next(pipeline=ingress, table=0); };`,
			"controller(icmp4_error){set(icmp_type=0x3),set_frag_mtu4(1442),next(ingress,0)}"},
		{1, `reject { outport <-> inport; next(pipeline=egress,table=5); };`,
			"controller(reject){swap(outport<->inport),next(egress,5)}"},
		{1, `clone { outport = "p1"; output; }; next;`, "clone{set(outport=0x1),output},next(ingress,6)"},
		{1, `reg0[3] = put_dhcp_opts(offerip = 10.0.0.11, router = 10.0.0.1, dns_server = {8.8.8.8, 1.1.1.1}, domain_name = "x.test"); next;`,
			`controller(put_dhcp_opts,->reg0[3],offerip=10.0.0.11,router=10.0.0.1,dns_server={8.8.8.8, 1.1.1.1},domain_name="x.test"),next(ingress,6)`},
		{1, `reg0[4] = dns_lookup();`, "controller(dns_lookup,->reg0[4])"},
		{1, `log(name="acl1", severity=warning, verdict=drop, meter="m");`, `log(name="acl1",severity=warning,verdict=drop,meter="m")`},
		{1, `trigger_event(event = "empty_lb_backends", vip = "10.0.0.1:80", protocol = "tcp");`,
			`controller(trigger_event,event=empty_lb_backends,vip=10.0.0.1:80,protocol=tcp)`},
		{1, `bind_vport("p3", inport); handle_svc_check(inport); igmp; handle_dhcpv6_reply; handle_bfd_msg();`,
			`controller(bind_vport,vport=p3,port=0x3),controller(handle_svc_check),controller(igmp),controller(handle_dhcpv6_reply),controller(handle_bfd_msg)`},
		{1, `fwd_group(liveness="true", childports="p1", "p2");`, "fwd_group(liveness=true,ports=0x1;0x2)"},
		{1, `set_queue(10); set_meter(1000, 200);`, "set_queue(10),set_meter(1000,200)"},
		{2, `commit_ecmp_nh(ipv6 = false, proto = tcp); reg9[5] = chk_ecmp_nh_mac();`,
			"commit_ecmp_nh(ipv6=false,proto=6),chk_ecmp_nh_mac(->reg9[5])"},
		{1, `commit_lb_aff(vip = "10.0.0.10:80", backend = "10.0.0.2:8080", proto = tcp, timeout = 60);`,
			"commit_lb_aff(vip=10.0.0.10:80,backend=10.0.0.2:8080,proto=6,timeout=60)"},
		{1, `push(reg0); pop(reg0);`, "push(reg0),pop(reg0)"},
		{1, `reg1 = ^vip;`, "set(reg1=0xcb007101)"},
		{2, `reg0[5] = put_nd_ra_opts(addr_mode = "slaac", slla = 00:00:00:00:ff:01, prefix = fd00::/64, mtu = 1400);`,
			`controller(put_nd_ra_opts,->reg0[5],addr_mode="slaac",slla=00:00:00:00:ff:01,prefix=fd00::/64,mtu=1400)`},
		{1, `nd_na_router { eth.src = 00:00:00:00:ff:01; nd.tll = 00:00:00:00:ff:01; outport = inport; flags.loopback = 1; output; };`,
			"controller(nd_na_router){set(eth_src=00:00:00:00:ff:01),set(nd_tll=00:00:00:00:ff:01),move(inport->outport),set(flags=0x1/0x1),output}"},
	} {
		got, err := compileOne(t, tc.dp, "1", tc.actions)
		if err != nil {
			t.Errorf("%q: %v", tc.actions, err)
			continue
		}
		// Keep the program of the first rule (prerequisites may make several).
		line := strings.SplitN(got, "\n", 2)[0]
		line = line[strings.Index(line, " actions=")+len(" actions="):]
		if line != tc.want {
			t.Errorf("%q\n got %s\nwant %s", tc.actions, line, tc.want)
		}
	}
}

// TestActionPrerequisites: actions add prerequisites to the match, as OVN.
func TestActionPrerequisites(t *testing.T) {
	for _, tc := range []struct{ actions, want string }{
		{"ct_next;", "match=eth_type=0x800 actions=ct_next(zone=ct_zone,table=6)\nmatch=eth_type=0x86dd actions=ct_next(zone=ct_zone,table=6)"},
		{"ip4.dst = 10.0.0.1; next;", "match=eth_type=0x800 actions=set(ip4_dst=10.0.0.1),next(ingress,6)"},
		{"arp { output; };", "match=eth_type=0x800 actions=controller(arp){output}"},
		{"tcp.dst = 80;", "match=eth_type=0x800,ip_proto=0x6 actions=set(tp_dst=0x50)\nmatch=eth_type=0x86dd,ip_proto=0x6 actions=set(tp_dst=0x50)"},
	} {
		got, err := compileOne(t, 1, "1", tc.actions)
		if err != nil {
			t.Fatalf("%q: %v", tc.actions, err)
		}
		if got != tc.want {
			t.Errorf("%q\n got:\n%s\nwant:\n%s", tc.actions, got, tc.want)
		}
	}
}

func TestActionErrors(t *testing.T) {
	for _, tc := range []struct{ actions, reason, construct string }{
		{"frobnicate;", "syntax error", "frobnicate;"},
		{"next", "syntax error", ""},
		{"ct_mark.blocked = 1;", "ct_mark and ct_label may only be set inside ct_commit", "ct_mark.blocked"},
		{"ct_state = 1;", "field is read-only", "ct_state"},
		{"reg0 = eth.src;", "widths differ (32 and 48 bits)", "reg0 = eth.src"},
		{`reg0 = "p1";`, "reg0 takes a number", `reg0 = "p1"`},
		{"reg0[0..7] = 256;", "constant is wider than the 8 bits of reg0[0..7]", "256"},
		{"reg0 = check_in_port_sec();", "result needs a 1-bit destination, have 32 bits", "reg0"},
		{"ct_commit { reg0 = 1; };", "only ct_mark and ct_label may be set inside ct_commit", "set(reg0=0x1)"},
		{"get_arp(reg0, reg1);", "expecting inport or outport", "reg0"},
		{"ip4.dst = ^nope;", "undefined template variable", "^nope"},
		{"ct_lb_mark(backends=^nope);", "undefined template variable", "^nope"},
		{"ct_lb_mark(backends=^bip:^nope);", "undefined template variable", "^nope"},
		{"ct_lb_mark(backends=^port);", `template backends "80" are not a list of addresses`, "ct_lb_mark(backends=^port)"},
		{`reg8[16..31] = select(values=(1=0, 2); hash_fields="ip_src");`, "syntax error", ""},
		{`reg8[16..31] = select(values=(1, 2));`, "syntax error", ""},
		{`reg8[16..31] = select(values=(1, 2); hash_fields=ip_src);`, "syntax error", ""},
		{"reg8[16..31] = select(1=0, 2);", "syntax error", ""},
	} {
		_, err := compileOne(t, 1, "1", tc.actions)
		if err == nil {
			t.Errorf("%q: no error", tc.actions)
			continue
		}
		if err.Reason != tc.reason || (tc.construct != "" && err.Construct != tc.construct) {
			t.Errorf("%q: reason %q construct %q; want %q %q (%v)", tc.actions, err.Reason, err.Construct, tc.reason, tc.construct, err)
		}
		if err.Part != "actions" && err.Reason != "syntax error" {
			t.Errorf("%q: part %q", tc.actions, err.Part)
		}
	}
}

// TestActionRoundTrip: the forms the corpus does not hold render back to
// text that parses to the same AST.
func TestActionRoundTrip(t *testing.T) {
	for _, s := range []string{
		`reg8[16..31] = select(values=(1=50, 2, 3=100); hash_fields="ip_src,ip_dst");`,
		`reg8[16..31] = select(1=20, 2);`,
		`ct_lb_mark(backends=^backends);`,
		`ct_lb_mark(backends=^bip:^bport,203.0.113.7:80; hash_fields="ip_src"; skip_snat);`,
		`ct_lb(backends=[2001:db8::1]:80,^b6);`,
	} {
		if err := CheckRoundTrip("1", s); err != nil {
			t.Error(err)
		}
	}
}
