package difftrace

import (
	"strings"
	"testing"
)

// A generated packet's microflow and bytes describe the same packet: every
// header field decoded from the bytes appears with that value in the
// microflow, and vice versa for the fields the microflow names.
func TestGeneratedPacketsAgreeWithTheirMicroflows(t *testing.T) {
	names := map[string]string{ // decoded field -> microflow spelling
		"eth.src": "eth.src", "eth.dst": "eth.dst", "arp.op": "arp.op", "arp.sha": "arp.sha", "arp.spa": "arp.spa",
		"arp.tha": "arp.tha", "arp.tpa": "arp.tpa", "ip4.src": "ip4.src", "ip4.dst": "ip4.dst", "ip6.src": "ip6.src",
		"ip6.dst": "ip6.dst", "ip.ttl": "ip.ttl", "tcp.src": "tcp.src", "tcp.dst": "tcp.dst", "udp.src": "udp.src",
		"udp.dst": "udp.dst", "icmp4.type": "icmp4.type", "icmp6.type": "icmp6.type", "nd.target": "nd.target",
		"nd.sll": "nd.sll", "nd.tll": "nd.tll",
	}
	kinds := map[string]int{}
	for _, topo := range Topologies() {
		for _, p := range Generate(topo, 1, 400) {
			kinds[strings.TrimPrefix(strings.TrimPrefix(p.Name, "spoofed-mac/"), "spoofed-ip/")]++
			b, err := p.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			f, err := Fields(b)
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			if c := f["checksum"]; c != "" {
				t.Errorf("%s: generated with %s", p.Name, c)
			}
			mf := p.Microflow()
			for k, want := range f {
				n, ok := names[k]
				if !ok {
					continue
				}
				var got string
				for _, term := range strings.Split(mf, " && ") {
					if v, ok := strings.CutPrefix(term, n+"=="); ok {
						got, _ = Canon(v)
						got = CanonAs(n, got)
					}
				}
				if got != want {
					t.Errorf("%s: %s is %q in the bytes, %q in the microflow %s", p.Name, k, want, got, mf)
				}
			}
			if p.VLAN != 0 && f["vlan.vid"] == "" {
				t.Errorf("%s: tagged packet without a tag", p.Name)
			}
		}
	}
	for _, k := range []string{"unicast", "routed", "arp-request", "arp-reply", "nd-ns", "nd-na", "broadcast",
		"multicast4", "multicast6", "unknown-dst", "vlan-tagged", "ethertype"} {
		if kinds[k] == 0 {
			t.Errorf("no %s packets generated (%v)", k, kinds)
		}
	}
}
