package pipeline

import (
	"strings"
	"testing"
)

// compileOne compiles one lflow (ingress table 5, priority 100) on dp with
// the test resolver and returns its rules, one per line, without the
// "dp= ingress table= prio=" prefix and lflow suffix.
func compileOne(t *testing.T, dp uint32, match, actions string) (string, *LflowError) {
	t.Helper()
	c := NewCompiler(newTestResolver())
	if err := c.Upsert(LogicalFlow{UUID: "u1", Datapaths: []uint32{dp}, Pipeline: Ingress, Table: 5, Priority: 100,
		Match: match, Actions: actions, Stage: "ls_in_test"}); err != nil {
		return "", err
	}
	var lines []string
	c.Flush()
	for _, t := range c.tables { // all tables, pass-through ones too
		for _, r := range t.decoded() {
			s := r.String()
			s = s[strings.Index(s, "match="):]
			s = strings.TrimSuffix(s, " lflow=u1")
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n"), nil
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name, match, want string
	}{
		{"true", "1", "match=* actions=next(ingress,6)"},
		{"false", "0", ""},
		{"prerequisites", "tcp.dst == 80",
			"match=eth_type=0x800,ip_proto=0x6,tp_dst=0x50 actions=next(ingress,6)\n" +
				"match=eth_type=0x86dd,ip_proto=0x6,tp_dst=0x50 actions=next(ingress,6)"},
		{"prerequisite narrowed", "ip4 && udp.src == 53", "match=eth_type=0x800,ip_proto=0x11,tp_src=0x35 actions=next(ingress,6)"},
		{"cidr", "ip4.src == 10.0.0.0/8", "match=eth_type=0x800,ip4_src=10.0.0.0/8 actions=next(ingress,6)"},
		{"mask", "eth.dst == 01:00:00:00:00:00/01:00:00:00:00:00", "match=eth_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=next(ingress,6)"},
		{"bare bit predicate", "eth.mcast", "match=eth_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=next(ingress,6)"},
		{"ct bit with prereq", "ct.est && !ct.rel", "match=ct_state=0x22/0x26 actions=next(ingress,6)"},
		{"negated predicate keeps prerequisite", "!tcp && ip4",
			// ip.proto != 6 is one alternative per bit of 6.
			"match=eth_type=0x800,ip_proto=0x0/0x2 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x0/0x4 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x1/0x1 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x8/0x8 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x10/0x10 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x20/0x20 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x40/0x40 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip_proto=0x80/0x80 actions=next(ingress,6)"},
		{"subfield", "reg0[1..3] == 5", "match=reg0=0xa/0xe actions=next(ingress,6)"},
		// ls_in_l2_unknown: get_fdb found nothing.
		{"outport none is key 0", `outport == "none"`, "match=outport=0x0 actions=next(ingress,6)"},
		{"xxreg split per register", "xxreg0 == 0x100000002", "match=reg0=0x0,reg1=0x0,reg2=0x1,reg3=0x2 actions=next(ingress,6)"},
		{"xreg subfield", "xreg0[32..63] == 7", "match=reg0=0x7 actions=next(ingress,6)"},
		{"range", "reg1 > 0xfffffffd", "match=reg1=0xfffffffe/0xfffffffe actions=next(ingress,6)"},
		{"range both ends", "reg1[0..7] >= 3 && reg1[0..7] <= 4",
			"match=reg1=0x3/0xff actions=next(ingress,6)\nmatch=reg1=0x4/0xff actions=next(ingress,6)"},
		{"set on one field", "ip.proto == {1, 6} && ip4", "match=eth_type=0x800,ip_proto=0x1 actions=next(ingress,6)\nmatch=eth_type=0x800,ip_proto=0x6 actions=next(ingress,6)"},
		{"or merges one field", "reg2 == 1 || reg2 == 2", "match=reg2=0x1 actions=next(ingress,6)\nmatch=reg2=0x2 actions=next(ingress,6)"},
		{"contradiction", "reg2 == 1 && reg2 == 2", ""},
		{"port name", `inport == "p2"`, "match=inport=0x2 actions=next(ingress,6)"},
		{"port on another datapath is unknown", `inport == "lrp1"`, ""},
		{"unknown port negated", `outport != "nope" && reg0 == 1`, "match=reg0=0x1 actions=next(ingress,6)"},
		{"multicast group", `outport == "_MC_flood"`, "match=outport=0x8000 actions=next(ingress,6)"},
		{"port group datapath name", `inport == @pg1`, "match=inport=0x1 actions=next(ingress,6)\nmatch=inport=0x2 actions=next(ingress,6)"},
		{"port group bare name fallback", `inport == @pg2`, "match=inport=0x3 actions=next(ingress,6)"},
		{"address set", `ip4.dst == $as1`,
			"match=eth_type=0x800,ip4_dst=10.0.0.1 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip4_dst=10.0.0.2 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip4_dst=192.0.2.0/24 actions=next(ingress,6)"},
		{"empty address set", `ip4.dst == $empty`, ""},
		{"template", `ip4.dst == ^vip && tcp.dst == ^port`, "match=eth_type=0x800,ip_proto=0x6,ip4_dst=203.0.113.1,tp_dst=0x50 actions=next(ingress,6)"},
		{"chassis resident", `is_chassis_resident("cr-lrp1") && reg0 == 1`, "match=reg0=0x1 actions=next(ingress,6)"},
		{"not resident", `is_chassis_resident("lrp1")`, ""},
		{"conjunction", `inport == @pg1 && ip4.src == $big`,
			"match=inport=0x1,eth_type=0x800 conj=1:1/2\n" +
				"match=inport=0x2,eth_type=0x800 conj=1:1/2\n" +
				"match=conj_id=0x1 actions=next(ingress,6)\n" +
				"match=eth_type=0x800,ip4_src=10.0.0.1 conj=1:2/2\n" +
				"match=eth_type=0x800,ip4_src=10.0.0.2 conj=1:2/2\n" +
				"match=eth_type=0x800,ip4_src=10.0.0.3 conj=1:2/2\n" +
				"match=eth_type=0x800,ip4_src=10.0.0.4 conj=1:2/2\n" +
				"match=eth_type=0x800,ip4_src=10.0.0.5 conj=1:2/2"},
		{"cross product up to the limit", `inport == @pg1 && ip4.src == $as1`,
			"match=inport=0x1,eth_type=0x800,ip4_src=10.0.0.1 actions=next(ingress,6)\n" +
				"match=inport=0x1,eth_type=0x800,ip4_src=10.0.0.2 actions=next(ingress,6)\n" +
				"match=inport=0x1,eth_type=0x800,ip4_src=192.0.2.0/24 actions=next(ingress,6)\n" +
				"match=inport=0x2,eth_type=0x800,ip4_src=10.0.0.1 actions=next(ingress,6)\n" +
				"match=inport=0x2,eth_type=0x800,ip4_src=10.0.0.2 actions=next(ingress,6)\n" +
				"match=inport=0x2,eth_type=0x800,ip4_src=192.0.2.0/24 actions=next(ingress,6)"},
		{"small cross product", `inport == @pg1 && reg0 == {1, 2}`,
			"match=inport=0x1,reg0=0x1 actions=next(ingress,6)\nmatch=inport=0x1,reg0=0x2 actions=next(ingress,6)\n" +
				"match=inport=0x2,reg0=0x1 actions=next(ingress,6)\nmatch=inport=0x2,reg0=0x2 actions=next(ingress,6)"},
		{"vlan", "vlan.vid == 10", "match=vlan_tci=0x100a/0x1fff actions=next(ingress,6)"},
		{"ip6 mcast predicate", "ip6.mcast", "match=eth_dst=33:33:00:00:00:00/ff:ff:00:00:00:00,eth_type=0x86dd,ip6_dst=ff00::/8 actions=next(ingress,6)"},
		{"nd prerequisites", "nd.target == fe80::1",
			"match=eth_type=0x86dd,ip_proto=0x3a,ip_ttl=0xff,nd_target=fe80::1,icmp_type=0x87,icmp_code=0x0 actions=next(ingress,6)\n" +
				"match=eth_type=0x86dd,ip_proto=0x3a,ip_ttl=0xff,nd_target=fe80::1,icmp_type=0x88,icmp_code=0x0 actions=next(ingress,6)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compileOne(t, 1, tc.match, "next;")
			if err != nil {
				t.Fatalf("%q: %v", tc.match, err)
			}
			if got != tc.want {
				t.Errorf("%q\n got:\n%s\nwant:\n%s", tc.match, got, tc.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	for _, tc := range []struct{ match, reason, construct string }{
		{"foo == 1", "unknown field", "foo"},
		{"reg0 == 1 &&", "syntax error", ""},
		{"reg0 == 1 && reg1 == 2 || reg2 == 3", "syntax error", "|| reg2 == 3"},
		{"reg0[3..40] == 1", "subfield exceeds the 32 bits of reg0", "reg0[3..40]"},
		{"reg0[0..3] == 17", "constant is wider than the 4 bits of the field", "17"},
		{"reg0", "field of 32 bits used as a boolean (compare it with a value)", "reg0"},
		{`reg0 == "p1"`, "reg0 takes numbers, not strings", `"p1"`},
		{`inport == 1`, "inport takes port names", "1"},
		{"ip4 == 1", "predicate compared with a value", "ip4"},
		{"ip4.dst == ^nope", "undefined template variable", "^nope"},
		{"reg0 < {1, 2}", "< needs one unmasked number", "reg0 < {1, 2}"},
		{"10.0.0.1/8 == reg0", "syntax error", "10.0.0.1/8 == reg0"},
		{"ip4.src == 10.0.0.1/8", "syntax error", ""},
	} {
		_, err := compileOne(t, 1, tc.match, "next;")
		if err == nil {
			t.Errorf("%q: no error", tc.match)
			continue
		}
		if err.Reason != tc.reason || (tc.construct != "" && !strings.HasPrefix(err.Construct, tc.construct) && err.Construct != tc.construct) {
			t.Errorf("%q: reason %q construct %q; want %q %q (%v)", tc.match, err.Reason, err.Construct, tc.reason, tc.construct, err)
		}
		if err.UUID != "u1" || err.Stage != "ls_in_test" || err.Part != "match" || !strings.Contains(err.Error(), "lflow u1 (ingress table 5 ls_in_test") {
			t.Errorf("%q: error does not name the lflow: %v", tc.match, err)
		}
	}
}
