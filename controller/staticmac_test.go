package controller

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/controller/ovstest"
	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
)

// nsDatapath is the real BPF datapath with its netlink and attach work done
// inside a network namespace of the test's (where the encap IP lives), so a
// controller can run it without touching the host's devices.
type nsDatapath struct {
	*BPFDatapath
	ns string
}

func (d *nsDatapath) Apply(ctx context.Context, s *State) error {
	return inNetNS(d.ns, func() error { return d.BPFDatapath.Apply(ctx, s) })
}

func (d *nsDatapath) Cleanup(context.Context) error { return nil } // the test's cleanup unpins

// inNetNS runs f on a thread of its own moved into ns; the thread is never
// returned to the runtime (its goroutine ends locked), so no other
// goroutine runs in ns.
func inNetNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("opening netns %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering netns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// bpfChassis is a controller named name, with its own local OVSDB, driving
// a real BPF datapath whose underlay (encapIP) is a veth in a fresh netns.
type bpfChassis struct {
	ctl *Controller
	ovs *ovstest.DB
	dp  *nsDatapath
}

func startBPFChassis(t *testing.T, c *central.Central, name, encapIP string) *bpfChassis {
	t.Helper()
	testutil.Privileged(t)
	testutil.Need(t, "ip")
	ns := testutil.NetNS(t)
	testutil.MustRun(t, "ip", "-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p")
	testutil.MustRun(t, "ip", "-n", ns, "addr", "add", encapIP+"/24", "dev", "ul0")
	testutil.MustRun(t, "ip", "-n", ns, "link", "set", "ul0", "up")
	testutil.MustRun(t, "ip", "-n", ns, "link", "set", "ul0p", "up")
	b, err := NewBPFDatapath(fmt.Sprintf("test-%d-%s", os.Getpid(), name), 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &nsDatapath{BPFDatapath: b, ns: ns}
	// Registered after the netns: runs before it is deleted.
	t.Cleanup(func() {
		if err := inNetNS(ns, func() error { return b.Cleanup(context.Background()) }); err != nil {
			t.Error(err)
		}
	})
	ovs := startOVS(t)
	mustVSCtl(t, ovs, "set", "Open_vSwitch", ".", "external_ids:system-id="+name,
		"external_ids:ovn-remote="+c.SBRemote(), "external_ids:ovn-encap-type=geneve",
		"external_ids:ovn-encap-ip="+encapIP)
	mustVSCtl(t, ovs, "add-br", "br-int")
	ctl, err := New(Options{OVSDB: ovs.Remote(), StateDir: t.TempDir(), Datapath: d, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		ctl.Close()
	})
	// A VIF whose netdev does not exist: the port is claimed and its
	// datapath is local, nothing is attached to a device.
	mustVSCtl(t, ovs, "add-port", "br-int", "vif-"+name, "--", "set", "Interface", "vif-"+name,
		"external_ids:iface-id=lp-"+name)
	return &bpfChassis{ctl: ctl, ovs: ovs, dp: d}
}

// dumpSection returns one section of the datapath's canonical dump.
func (h *bpfChassis) dumpSection(t *testing.T, name string) []string {
	t.Helper()
	d, err := h.dp.DumpMaps()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Sections {
		if s.Name == name {
			return s.Lines
		}
	}
	t.Fatalf("no section %q in the dump", name)
	return nil
}

// checkRecompute compares the whole dump before and after `ovnbpfctl
// recompute`: the incremental passes must have left what a full one writes.
func (h *bpfChassis) checkRecompute(t *testing.T, what string) {
	t.Helper()
	before, err := h.dp.DumpMaps()
	if err != nil {
		t.Fatal(err)
	}
	<-h.ctl.Recompute()
	after, err := h.dp.DumpMaps()
	if err != nil {
		t.Fatal(err)
	}
	if diff := before.Diff(after); len(diff) > 0 {
		t.Errorf("%s: the maps differ after a recompute:\n%s", what, strings.Join(diff, "\n"))
	}
}

// Static_MAC_Binding rows of the local datapaths reach the MAC-binding map
// with OVN's precedence against MAC_Binding rows of the same port and IP
// (override_dynamic_mac=true: the static one; false: the dynamic one), and
// follow adds, changes and deletes incrementally, as a recompute would.
func TestPrivilegedStaticMACBinding(t *testing.T) {
	testutil.Privileged(t)
	c := startCentral(t)
	for _, cmd := range [][]string{
		{"ls-add", "sw0"}, {"lsp-add", "sw0", "lp-hv1"},
		{"lr-add", "lr0"}, {"lrp-add", "lr0", "lr0-sw0", "02:00:00:00:ff:01", "198.51.100.1/24"},
		{"lsp-add", "sw0", "sw0-lr0"}, {"lsp-set-type", "sw0-lr0", "router"},
		{"lsp-set-addresses", "sw0-lr0", "router"}, {"lsp-set-options", "sw0-lr0", "router-port=lr0-sw0"},
		// a router not reachable from here: its binding is neither
		// monitored nor written
		{"lr-add", "lr9"}, {"lrp-add", "lr9", "lr9-p", "02:00:00:00:ff:09", "203.0.113.1/24"},
		{"static-mac-binding-add", "lr0-sw0", "198.51.100.50", "02:00:00:00:00:50"},
		{"static-mac-binding-add", "lr0-sw0", "2001:db8::50", "02:00:00:00:06:50"},
		{"static-mac-binding-add", "lr9-p", "203.0.113.50", "02:00:00:00:00:99"},
	} {
		mustNB(t, c, cmd...)
	}
	hv := startBPFChassis(t, c, "hv1", "192.0.2.10")
	lr0 := mustSB(t, c, "--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lr0")
	dp := mustSB(t, c, "--bare", "--columns=tunnel_key", "find", "Datapath_Binding", "external_ids:name=lr0")
	port := pbField(t, c, "lr0-sw0", "tunnel_key")
	entry := func(ip, mac string) string { return fmt.Sprintf("dp=%s port=%s ip=%s mac=%s", dp, port, ip, mac) }
	expect := func(what string, want ...string) {
		t.Helper()
		eventually(t, what, func() string {
			mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
			got := strings.Join(hv.dumpSection(t, "macbind"), "\n")
			if w := strings.Join(want, "\n"); got != w {
				return fmt.Sprintf("macbind:\n%s\nwant:\n%s", got, w)
			}
			return ""
		})
		hv.checkRecompute(t, what)
	}

	expect("static bindings of lr0", entry("198.51.100.50", "02:00:00:00:00:50"), entry("2001:db8::50", "02:00:00:00:06:50"))
	// The monitor brought only the local datapaths' rows.
	hv.ctl.mu.Lock()
	sb := hv.ctl.sb
	hv.ctl.mu.Unlock()
	var smbs []sbdb.StaticMACBinding
	if err := sb.WhereCache(func(*sbdb.StaticMACBinding) bool { return true }).List(context.Background(), &smbs); err != nil {
		t.Fatal(err)
	}
	if len(smbs) != 2 {
		t.Errorf("%d Static_MAC_Binding rows in the cache, want lr0's 2 (not lr9's): %+v", len(smbs), smbs)
	}

	// A dynamic binding of the same port and IP wins over a static one
	// without override_dynamic_mac ...
	mustSB(t, c, "create", "MAC_Binding", "datapath="+lr0, "logical_port=lr0-sw0", "ip=198.51.100.50",
		"mac=\"02:00:00:00:00:d1\"")
	expect("dynamic wins without override", entry("198.51.100.50", "02:00:00:00:00:d1"), entry("2001:db8::50", "02:00:00:00:06:50"))

	// ... and loses to one with it.
	smb := mustNB(t, c, "--bare", "--columns=_uuid", "find", "Static_MAC_Binding", "ip=\"198.51.100.50\"")
	mustNB(t, c, "set", "Static_MAC_Binding", smb, "override_dynamic_mac=true")
	expect("static wins with override", entry("198.51.100.50", "02:00:00:00:00:50")+" pinned", entry("2001:db8::50", "02:00:00:00:06:50"))

	// A changed MAC is rewritten.
	mustNB(t, c, "set", "Static_MAC_Binding", smb, "mac=\"02:00:00:00:00:51\"")
	expect("changed static MAC", entry("198.51.100.50", "02:00:00:00:00:51")+" pinned", entry("2001:db8::50", "02:00:00:00:06:50"))

	// Deleting the static binding leaves the dynamic one.
	mustNB(t, c, "static-mac-binding-del", "lr0-sw0", "198.51.100.50")
	expect("static deleted, dynamic left", entry("198.51.100.50", "02:00:00:00:00:d1"), entry("2001:db8::50", "02:00:00:00:06:50"))

	// Deleting the dynamic one under a static one without override
	// leaves the static one; deleting that empties the map.
	mustNB(t, c, "static-mac-binding-add", "lr0-sw0", "198.51.100.50", "02:00:00:00:00:52")
	expect("dynamic wins over a re-added static", entry("198.51.100.50", "02:00:00:00:00:d1"), entry("2001:db8::50", "02:00:00:00:06:50"))
	mustSB(t, c, "--all", "destroy", "MAC_Binding")
	expect("dynamic deleted, static used", entry("198.51.100.50", "02:00:00:00:00:52"), entry("2001:db8::50", "02:00:00:00:06:50"))
	mustNB(t, c, "static-mac-binding-del", "lr0-sw0", "198.51.100.50")
	mustNB(t, c, "static-mac-binding-del", "lr0-sw0", "2001:db8::50")
	expect("all deleted")
}

// The precedence itself, row by row (no datapath needed).
func TestMergeStaticMACBindings(t *testing.T) {
	f := &resolverFacts{ports: map[string]portKey{"rp": {dp: 5, key: 2}}}
	key := func(ip string) maps.MACBindingKey {
		return maps.MACBindingKey{Datapath: 5, Port: 2, IP: netip.MustParseAddr(ip)}
	}
	s := &State{StaticMACBindings: map[string]*sbdb.StaticMACBinding{
		"a": {LogicalPort: "rp", IP: "198.51.100.1", MAC: "02:00:00:00:00:0a"},                           // no dynamic: used
		"b": {LogicalPort: "rp", IP: "198.51.100.2", MAC: "02:00:00:00:00:0b"},                           // dynamic wins
		"c": {LogicalPort: "rp", IP: "198.51.100.3", MAC: "02:00:00:00:00:0c", OverrideDynamicMAC: true}, // wins
		"d": {LogicalPort: "gone", IP: "198.51.100.4", MAC: "02:00:00:00:00:0d"},                         // no such port
		"e": {LogicalPort: "rp", IP: "not-an-ip", MAC: "02:00:00:00:00:0e"},
		"f": {LogicalPort: "rp", IP: "::ffff:198.51.100.6", MAC: "02:00:00:00:00:0f"}, // mapped: the IPv4 key
	}}
	want := map[maps.MACBindingKey]macBinding{key("198.51.100.2"): {mac: "02:00:00:00:00:d2"}, key("198.51.100.3"): {mac: "02:00:00:00:00:d3"}}
	mergeStaticMACBindings(s, f, want)
	exp := map[maps.MACBindingKey]macBinding{
		key("198.51.100.1"): {mac: "02:00:00:00:00:0a"},
		key("198.51.100.2"): {mac: "02:00:00:00:00:d2"},
		key("198.51.100.3"): {mac: "02:00:00:00:00:0c", pinned: true}, // what the datapath learns does not replace it
		key("198.51.100.6"): {mac: "02:00:00:00:00:0f"},
	}
	if !reflect.DeepEqual(want, exp) {
		t.Errorf("merged %v\nwant   %v", want, exp)
	}
}
