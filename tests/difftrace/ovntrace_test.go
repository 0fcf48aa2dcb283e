package difftrace

import (
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

func TestParseMinimal(t *testing.T) {
	for _, tc := range []struct {
		name, out, want string
	}{
		{"drop", "# udp,reg14=0x1\n", "drop"},
		{"routed", "# icmp\nip.ttl--;\neth.src = 02:00:5E:00:02:01;\neth.dst = 02:00:00:00:02:0a;\noutput(\"vm3\");\n",
			"output(vm3) eth.dst=02:00:00:00:02:0a eth.src=02:00:5e:00:02:01 ttl-1"},
		{"flood", "output(\"vm2\");\noutput(\"vm9\");\n", "output(vm2); output(vm9)"},
		{"arp miss", "ip.ttl--;\neth.dst = 00:00:00:00:00:00;\narp {\n    arp.spa = 0xcb007101;\n    arp.op = 1;\n    output(\"vm3\");\n};\n",
			"output(vm3) arp.op=1 arp.spa=203.0.113.1 eth.dst=00:00:00:00:00:00 ttl-1 (needs controller)"},
		{"block undone", "clone {\n    eth.dst = 02:00:00:00:00:01;\n    output(\"a\");\n};\noutput(\"b\");\n",
			"output(a) eth.dst=02:00:00:00:00:01; output(b)"},
		{"conntrack", "ct_next(ct_state=new|trk);\noutput(\"b\");\n", "output(b) (needs conntrack)"},
		{"ttl set then decremented", "ip.ttl--;\nip.ttl = 255;\nip.ttl--;\noutput(\"a\");\n", "output(a) ip.ttl=254"},
	} {
		v, err := ParseMinimal(tc.out)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := v.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"};\n", "clone {\noutput(\"a\");\n", "frobnicate(x);\n", "eth.src = banana;\n"} {
		if _, err := ParseMinimal(bad); err == nil {
			t.Errorf("ParseMinimal(%q) accepted bad output", bad)
		}
	}
}

// The oracle against the real ovn-trace and ovn-northd: a switch and a router,
// and verdicts that OVN's documented behaviour fixes.
func TestOVNTraceOracle(t *testing.T) {
	testutil.Need(t, "ovn-trace", "ovn-northd")
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if _, err := c.NBCtl("lr-add", "lr0", "--", "ls-add", "sw1", "--", "ls-add", "sw2",
		"--", "lrp-add", "lr0", "lr0-sw1", "02:00:5e:00:01:01", "198.51.100.1/24",
		"--", "lrp-add", "lr0", "lr0-sw2", "02:00:5e:00:02:01", "203.0.113.1/24",
		"--", "lsp-add", "sw1", "sw1-lr0", "--", "lsp-set-type", "sw1-lr0", "router",
		"--", "lsp-set-addresses", "sw1-lr0", "router", "--", "lsp-set-options", "sw1-lr0", "router-port=lr0-sw1",
		"--", "lsp-add", "sw2", "sw2-lr0", "--", "lsp-set-type", "sw2-lr0", "router",
		"--", "lsp-set-addresses", "sw2-lr0", "router", "--", "lsp-set-options", "sw2-lr0", "router-port=lr0-sw2",
		"--", "lsp-add", "sw1", "vm1", "--", "lsp-set-addresses", "vm1", "02:00:00:00:01:0a 198.51.100.10",
		"--", "lsp-set-port-security", "vm1", "02:00:00:00:01:0a 198.51.100.10",
		"--", "lsp-add", "sw1", "vm2", "--", "lsp-set-addresses", "vm2", "02:00:00:00:01:0b 198.51.100.11",
		"--", "lsp-add", "sw2", "vm3", "--", "lsp-set-addresses", "vm3", "02:00:00:00:02:0a 203.0.113.10"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NBCtl("--wait=sb", "sync"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, flow, want string }{
		{"same switch", `inport=="vm1" && eth.src==02:00:00:00:01:0a && eth.dst==02:00:00:00:01:0b && ip4.src==198.51.100.10 && ip4.dst==198.51.100.11 && ip.ttl==64 && udp.dst==53`,
			"output(vm2)"},
		{"routed", `inport=="vm1" && eth.src==02:00:00:00:01:0a && eth.dst==02:00:5e:00:01:01 && ip4.src==198.51.100.10 && ip4.dst==203.0.113.10 && ip.ttl==64 && icmp4.type==8`,
			"output(vm3) eth.dst=02:00:00:00:02:0a eth.src=02:00:5e:00:02:01 ttl-1"},
		{"spoofed mac", `inport=="vm1" && eth.src==02:00:00:00:01:0c && eth.dst==02:00:00:00:01:0b && ip4.src==198.51.100.10 && ip4.dst==198.51.100.11 && ip.ttl==64 && udp.dst==53`,
			"drop"},
		{"ttl expires in router", `inport=="vm1" && eth.src==02:00:00:00:01:0a && eth.dst==02:00:5e:00:01:01 && ip4.src==198.51.100.10 && ip4.dst==203.0.113.10 && ip.ttl==1 && icmp4.type==8`,
			"output(vm1) eth.dst=02:00:00:00:01:0a eth.src=02:00:5e:00:01:01 icmp4.code=0 icmp4.type=11 ip.ttl=254 ip4.dst=198.51.100.10 ip4.src=198.51.100.1 (needs controller)"},
	} {
		v, err := Trace(c.SBRemote(), "sw1", tc.flow)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := v.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
