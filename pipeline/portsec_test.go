package pipeline

import (
	"strings"
	"testing"
)

// TestPortSecurity compiles the port-security flows of p1 (key 1 on dp 1)
// and checks the decisions that matter, rule by rule.
func TestPortSecurity(t *testing.T) {
	flows, err := PortSecurityFlows(PortSecurity{Port: "p1", Datapath: 1,
		Entries: []string{"50:54:00:00:00:01 10.0.0.11 10.0.1.0/24 fd00::11"}})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCompiler(newTestResolver())
	if errs := c.UpsertBatch(flows); len(errs) != 0 {
		t.Fatalf("port-security flows do not compile: %v", errs)
	}
	got := Render(c, RenderOptions{LflowName: func(string) string { return "ps" }})
	for _, want := range []string{
		// Default deny from the port, ARP to the ND table.
		"dp=1 port_sec_in table=0 prio=95 match=inport=0x1,eth_type=0x806 actions=next(port_sec_in,1)",
		"dp=1 port_sec_in table=0 prio=80 match=inport=0x1 actions=set(flags=0x1000/0x1000)",
		// Allowed sources: the host address and the subnet.
		"dp=1 port_sec_in table=0 prio=90 match=inport=0x1,eth_src=50:54:00:00:00:01,eth_type=0x800,ip4_src=10.0.0.11 actions=set(flags=0x0/0x1000)",
		"dp=1 port_sec_in table=0 prio=90 match=inport=0x1,eth_src=50:54:00:00:00:01,eth_type=0x800,ip4_src=10.0.1.0/24 actions=set(flags=0x0/0x1000)",
		// DHCP discover.
		"ip4_src=0.0.0.0,ip4_dst=255.255.255.255,tp_src=0x44,tp_dst=0x43 actions=set(flags=0x0/0x1000)",
		// IPv6 source incl. the link-local address derived from the MAC.
		"ip6_src=fe80::5254:ff:fe00:1 actions=next(port_sec_in,1)",
		// ARP only with our MAC and addresses.
		"dp=1 port_sec_in table=1 prio=90 match=inport=0x1,eth_src=50:54:00:00:00:01,eth_type=0x806,arp_spa=10.0.0.11,arp_sha=50:54:00:00:00:01 actions=set(flags=0x0/0x1000)",
		// To the port: default deny, our IPs, the subnet broadcast, multicast.
		"dp=1 port_sec_out table=0 prio=80 match=outport=0x1 actions=set(flags=0x1000/0x1000)",
		"ip4_dst=10.0.1.255 actions=set(flags=0x0/0x1000)",
		"ip4_dst=224.0.0.0/4 actions=set(flags=0x0/0x1000)",
		"ip6_dst=ff00::/8 actions=set(flags=0x0/0x1000)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if _, err := PortSecurityFlows(PortSecurity{Port: "p1", Entries: []string{"10.0.0.1"}}); err == nil ||
		!strings.Contains(err.Error(), `port p1: port security "10.0.0.1": no MAC address first`) {
		t.Errorf("malformed entry: %v", err)
	}
	if f, err := PortSecurityFlows(PortSecurity{Port: "p1"}); f != nil || err != nil {
		t.Errorf("no entries: %v %v", f, err)
	}
}
