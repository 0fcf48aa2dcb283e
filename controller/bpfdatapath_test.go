package controller

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

func TestParsePortSecurity(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	pfx := netip.MustParsePrefix
	got, err := ParsePortSecurity([]string{
		"02:00:00:00:01:01 198.51.100.11 2001:db8:1::11",
		"02:00:00:00:01:02",
		"02:00:00:00:01:03 10.0.0.5/24 10.1.0.0/16 2001:db8::/64",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []maps.PortSecurityEntry{
		{MAC: mac("02:00:00:00:01:01"), Prefixes: []netip.Prefix{pfx("198.51.100.11/32"), pfx("2001:db8:1::11/128")}},
		{MAC: mac("02:00:00:00:01:02")},
		// host bits set: that host only, as ovn-controller reads it
		{MAC: mac("02:00:00:00:01:03"), Prefixes: []netip.Prefix{pfx("10.0.0.5/32"), pfx("10.1.0.0/16"), pfx("2001:db8::/64")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %v, want %v", got, want)
	}
	for _, bad := range []string{"198.51.100.11", "02:00:00:00:01:01 300.1.1.1", "02:00:00:00:01:01 fe80::1%eth0", "zz:00:00:00:00:01"} {
		if _, err := ParsePortSecurity([]string{bad}); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

// OVN names "no port" "none" on every datapath: the switch's unknown
// unicast flow `outport == "none"` must match outport 0 (what get_fdb
// leaves for an unknown MAC), not nothing.
func TestResolverNoneIsPortZero(t *testing.T) {
	s := &State{
		Datapaths: map[int]*sbdb.DatapathBinding{3: {UUID: "dp-sw1", TunnelKey: 3}},
		Ports:     map[string]*sbdb.PortBinding{"sw1-vm1": {UUID: "pb1", Datapath: "dp-sw1", TunnelKey: 1}},
		MulticastGroups: map[string]*sbdb.MulticastGroup{
			"mg": {UUID: "mg", Datapath: "dp-sw1", Name: "_MC_unknown", TunnelKey: 32769},
		},
	}
	res := &stateResolver{}
	res.set(newResolverFacts(s, nil))
	comp := pipeline.NewCompiler(res)
	comp.UpsertBatch([]pipeline.LogicalFlow{{UUID: "l2-unknown", Datapaths: []uint32{3}, Pipeline: pipeline.Ingress,
		Table: 26, Priority: 50, Match: `outport == "none"`, Actions: `outport = "_MC_unknown"; output;`}})
	comp.Flush()
	if errs := comp.Errors(); len(errs) > 0 {
		t.Fatalf("compile errors: %v", errs)
	}
	rules := comp.Table(pipeline.TableKey{Datapath: 3, Pipeline: pipeline.Ingress, Table: 26})
	if len(rules) != 1 {
		t.Fatalf("%d rules for the unknown-unicast flow, want 1: %v", len(rules), rules)
	}
	var outport *pipeline.FieldMatch
	for i, m := range rules[0].Match {
		if m.Field.String() == "outport" {
			outport = &rules[0].Match[i]
		}
	}
	if outport == nil || !bytes.Equal(outport.Value, []byte{0, 0, 0, 0}) || !bytes.Equal(outport.Mask, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("rule %v: want an exact match on outport 0", rules[0])
	}
	set, ok := rules[0].Actions[0].(pipeline.SetField)
	if !ok || !bytes.Equal(set.Value, []byte{0, 0, 0x80, 0x01}) {
		t.Errorf("actions %v: want outport = 32769 (_MC_unknown) first", rules[0].Actions)
	}
}

// The adapter writes Port_Binding.port_security of the VIFs bound here into
// ovnbpf_portsec, rewrites it when it changes and removes it when the port
// loses it or goes; a malformed entry fails closed.
func TestPrivilegedAdapterPortSecurity(t *testing.T) {
	testutil.Privileged(t)
	b := newTestDatapath(t, "adapter-portsec")
	s := &State{
		Datapaths: map[int]*sbdb.DatapathBinding{3: {UUID: "dp-sw1", TunnelKey: 3}},
		Ports: map[string]*sbdb.PortBinding{
			"vm1": {UUID: "pb1", Datapath: "dp-sw1", TunnelKey: 1, PortSecurity: []string{"02:00:00:00:01:01 198.51.100.11"}},
			"vm2": {UUID: "pb2", Datapath: "dp-sw1", TunnelKey: 2, PortSecurity: []string{"02:00:00:00:01:02"}},
		},
		LocalPorts: map[string]LocalPort{"vm1": {LogicalPort: "vm1", Ifindex: 7}},
	}
	lookup := func(key uint32) (maps.DatapathOvnbpfPortsecVal, bool) {
		t.Helper()
		return lookupEntry[maps.DatapathOvnbpfPortsecVal](t, b.dp.Objs.OvnbpfPortsec, &maps.DatapathOvnbpfPortKey{Dp: 3, Port: key})
	}
	apply := func() {
		t.Helper()
		if err := b.applyPortSecurity(s, newResolverFacts(s, nil)); err != nil {
			t.Fatal(err)
		}
	}

	apply()
	v, ok := lookup(1)
	if !ok || v.N != 1 || net.HardwareAddr(v.E[0].Mac[:]).String() != "02:00:00:00:01:01" || v.E[0].N_ip4 != 1 ||
		v.E[0].Ip4[0].Addr != maps.BE32(netip.MustParseAddr("198.51.100.11")) || v.E[0].Ip4[0].Mask != 0xffffffff {
		t.Errorf("vm1's port security: %v %+v", ok, v)
	}
	if _, ok := lookup(2); ok {
		t.Errorf("vm2 is not bound here but has port security written")
	}

	s.Ports["vm1"].PortSecurity = []string{"02:00:00:00:01:01 198.51.100.11 198.51.100.12"}
	apply()
	if v, _ := lookup(1); v.E[0].N_ip4 != 2 {
		t.Errorf("after the change: %d IPv4 addresses, want 2", v.E[0].N_ip4)
	}

	s.Ports["vm1"].PortSecurity = []string{"not-a-mac"}
	apply()
	if v, ok := lookup(1); !ok || v.N != 1 || v.E[0].Mac != [6]byte{} {
		t.Errorf("malformed port security must fail closed (one entry, zero MAC): %v %+v", ok, v)
	}
	if p := b.Problems(); len(p) != 1 {
		t.Errorf("problems %q, want the malformed entry reported", p)
	}

	s.Ports["vm1"].PortSecurity = nil
	apply()
	if _, ok := lookup(1); ok {
		t.Errorf("port security left after it was removed")
	}
	s.Ports["vm1"].PortSecurity = []string{"02:00:00:00:01:01"}
	apply()
	delete(s.LocalPorts, "vm1")
	apply()
	if _, ok := lookup(1); ok {
		t.Errorf("port security left after the port was released")
	}
}

// newTestDatapath loads a datapath pinned under a system-id of this test
// run's own, removed when the test ends.
func newTestDatapath(t *testing.T, name string) *BPFDatapath {
	t.Helper()
	b, err := NewBPFDatapath(fmt.Sprintf("test-%d-%s", os.Getpid(), name), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Cleanup(t.Context()); err != nil {
			t.Error(err)
		}
	})
	return b
}

// lookupEntry reads key from m: the value, or false when there is none.
func lookupEntry[V any](t *testing.T, m *ebpf.Map, key any) (V, bool) {
	t.Helper()
	var v V
	err := m.Lookup(key, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return v, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return v, true
}

// enterNetNS moves this goroutine's thread into ns until the test ends.
func enterNetNS(t *testing.T, ns string) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("returning to the test's network namespace: %v", err)
		}
		orig.Close()
		runtime.UnlockOSThread()
	})
}

// The underlay set-up: forwarding on the underlay device (bpf_fib_lookup
// refuses to answer without it) and a managed neighbour entry per remote
// chassis (so it answers from the first packet), removed when the chassis
// goes.
func TestPrivilegedUnderlaySetup(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ip")
	ns := testutil.NetNS(t)
	testutil.MustRun(t, "ip", "-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p")
	testutil.MustRun(t, "ip", "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "ul0")
	testutil.MustRun(t, "ip", "-n", ns, "link", "set", "ul0", "up")
	testutil.MustRun(t, "ip", "-n", ns, "link", "set", "ul0p", "up")
	enterNetNS(t, ns)

	if err := enableForwarding("ul0"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("/proc/sys/net/ipv4/conf/ul0/forwarding"); err != nil || string(got) != "1\n" {
		t.Errorf("forwarding on ul0: %q %v, want 1", got, err)
	}
	b := &BPFDatapath{neighs: map[netip.Addr]neighRef{}}
	chassis := netip.MustParseAddr("192.0.2.12")
	b.applyNeighbours(map[[2]uint32]maps.Port{{1, 1}: {Datapath: 1, Key: 1, Type: maps.PortRemote, Chassis: chassis}})
	if len(b.neighErr) > 0 {
		t.Fatalf("neighbour set-up: %v", b.neighErr)
	}
	if out := testutil.MustRun(t, "ip", "-n", ns, "neigh", "show", "192.0.2.12"); !strings.Contains(out, "managed") {
		t.Errorf("no managed neighbour entry for the remote chassis: %q", out)
	}
	b.applyNeighbours(nil)
	if out := testutil.MustRun(t, "ip", "-n", ns, "neigh", "show", "192.0.2.12"); strings.TrimSpace(out) != "" {
		t.Errorf("the entry stayed after the chassis went: %q", out)
	}
}
