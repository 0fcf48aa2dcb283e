package loader

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// skbCtx is the head of struct __sk_buff as BPF_PROG_TEST_RUN takes it;
// TestSkbCtxMatchesKernelBTF checks it against the running kernel's BTF.
type skbCtx struct {
	Len, PktType, Mark, QueueMapping, Protocol, VlanPresent, VlanTCI, VlanProto uint32
	Priority, IngressIfindex, Ifindex, TCIndex                                  uint32
	CB                                                                          [5]uint32
	Hash, TCClassid, Data, DataEnd, NapiID, Family, RemoteIP4, LocalIP4         uint32
	RemoteIP6, LocalIP6                                                         [4]uint32
	RemotePort, LocalPort, DataMeta                                             uint32
	FlowKeys, Tstamp                                                            uint64
	WireLen, GSOSegs                                                            uint32
	Sk                                                                          uint64
	GSOSize                                                                     uint32
	TstampType                                                                  uint8
	_                                                                           [3]uint8
	HWTstamp                                                                    uint64
}

func TestSkbCtxMatchesKernelBTF(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("kernel BTF: %v", err)
	}
	var s *btf.Struct
	if err := spec.TypeByName("__sk_buff", &s); err != nil {
		t.Fatal(err)
	}
	var c skbCtx
	want := map[string]uintptr{
		"ingress_ifindex": unsafe.Offsetof(c.IngressIfindex), "ifindex": unsafe.Offsetof(c.Ifindex),
		"gso_segs": unsafe.Offsetof(c.GSOSegs), "gso_size": unsafe.Offsetof(c.GSOSize),
		"hwtstamp": unsafe.Offsetof(c.HWTstamp), "wire_len": unsafe.Offsetof(c.WireLen),
	}
	for _, m := range s.Members {
		if off, ok := want[m.Name]; ok && uintptr(m.Offset.Bytes()) != off {
			t.Errorf("__sk_buff.%s at %d, skbCtx has it at %d", m.Name, m.Offset.Bytes(), off)
		}
	}
	if uintptr(s.Size) != unsafe.Sizeof(c) {
		t.Errorf("__sk_buff is %d bytes, skbCtx %d", s.Size, unsafe.Sizeof(c))
	}
}

const (
	tcActOK       = 0
	tcActShot     = 2
	tcActRedirect = 7
)

// harness is one loaded datapath inside a throwaway network namespace, the
// test's thread switched into it (test runs, FIB lookups and packet copies
// happen there) and pinned to CPU 0 (so per-CPU state can be read back).
type harness struct {
	t    testing.TB
	ns   string
	d    *Datapath
	inst *maps.Installer
	st   *maps.State
	tp   *topology
	devs map[string]uint32
}

var smallMaps = map[string]uint32{
	"ovnbpf_rules": 16384, "ovnbpf_rules_w": 4096, "ovnbpf_ops": 16384, "ovnbpf_masks": 4096, "ovnbpf_lflows": 8192,
	"ovnbpf_tables": 4096, "ovnbpf_dirs": 1024, "ovnbpf_flows": 1024, "ovnbpf_flows4": 1024,
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	testutil.Privileged(t)
	testutil.Need(t, "ip")
	ns := testutil.NetNS(t)
	// no IPv6 autoconfiguration chatter on the test's devices
	testutil.MustRun(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	enterNetNS(t, ns)
	d, err := Load(testPinDir(t), &Options{MaxEntries: smallMaps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	inst, err := maps.NewInstaller(&d.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, ns: ns, d: d, inst: inst, st: maps.NewState(&d.Objs.DatapathMaps), devs: map[string]uint32{}}
}

// enterNetNS moves the calling goroutine's thread into ns until the test ends.
func enterNetNS(t testing.TB, ns string) {
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
	var oldSet unix.CPUSet
	if err := unix.SchedGetaffinity(0, &oldSet); err != nil {
		t.Fatal(err)
	}
	var cpu0 unix.CPUSet
	cpu0.Set(0)
	if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("returning to the test's network namespace: %v", err)
		}
		orig.Close()
		_ = unix.SchedSetaffinity(0, &oldSet)
		runtime.UnlockOSThread()
	})
}

func (h *harness) ip(args ...string) string {
	h.t.Helper()
	return testutil.MustRun(h.t, append([]string{"ip", "-n", h.ns}, args...)...)
}

// dev makes a veth pair name/name+"p", both up, and returns name's ifindex.
func (h *harness) dev(name string) uint32 {
	h.t.Helper()
	h.ip("link", "add", name, "type", "veth", "peer", "name", name+"p")
	h.ip("link", "set", name, "up")
	h.ip("link", "set", name+"p", "up")
	out := h.ip("-o", "link", "show", "dev", name)
	idx, err := strconv.Atoi(strings.SplitN(out, ":", 2)[0])
	if err != nil {
		h.t.Fatalf("ifindex of %s from %q: %v", name, out, err)
	}
	h.devs[name] = uint32(idx)
	return uint32(idx)
}

// txPackets is how many packets a device sent.
func (h *harness) txPackets(name string) int {
	h.t.Helper()
	var links []struct {
		Stats struct {
			TX struct {
				Packets int `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(h.ip("-s", "-j", "link", "show", "dev", name)), &links); err != nil || len(links) != 1 {
		h.t.Fatalf("stats of %s: %v", name, err)
	}
	return links[0].Stats.TX.Packets
}

// underlay makes the Geneve underlay: ul0 with 192.0.2.1/24, the remote
// chassis 192.0.2.2 a permanent neighbour at remoteMAC.
var (
	localEncap  = netip.MustParseAddr("192.0.2.1")
	remoteEncap = netip.MustParseAddr("192.0.2.2")
	remoteMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

func (h *harness) underlay() uint32 {
	h.t.Helper()
	idx := h.dev("ul0")
	h.ip("addr", "add", "192.0.2.1/24", "dev", "ul0")
	// bpf_fib_lookup answers only for devices that forward; without it the
	// datapath falls back to bpf_redirect_neigh (TestPrivilegedTunnelWithoutForwarding)
	testutil.MustRun(h.t, "ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv4.conf.ul0.forwarding=1")
	h.ip("neigh", "add", remoteEncap.String(), "lladdr", remoteMAC.String(), "dev", "ul0", "nud", "permanent")
	if err := h.st.SetConfig(localEncap, idx, true); err != nil {
		h.t.Fatal(err)
	}
	return idx
}

// run feeds one packet to prog as if it arrived on ifindex.
func (h *harness) run(prog *ebpf.Program, ifindex uint32, pkt []byte) (uint32, []byte) {
	h.t.Helper()
	out := make([]byte, len(pkt)+512)
	opts := &ebpf.RunOptions{
		Data:    pkt,
		DataOut: out,
		Context: skbCtx{IngressIfindex: ifindex, Ifindex: ifindex},
	}
	ret, err := prog.Run(opts)
	if err != nil {
		h.t.Fatalf("test run: %v", err)
	}
	return ret, opts.DataOut
}

// work reads the per-packet state of the last run (CPU 0).
func (h *harness) work() *maps.DatapathOvnbpfWork {
	h.t.Helper()
	var per []maps.DatapathOvnbpfWork
	if err := h.d.Objs.OvnbpfScratch.Lookup(uint32(0), &per); err != nil {
		h.t.Fatal(err)
	}
	return &per[0]
}

func (h *harness) drops() map[string]uint64 {
	h.t.Helper()
	d, err := h.st.Drops()
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// topology is a logical network built by real ovn-northd and compiled.
type topology struct {
	snap *sbjson.Snapshot
	comp *pipeline.Compiler
	dp   map[string]uint32
}

// northd builds a topology with ovn-nbctl commands in a real central and
// compiles its Southbound logical flows.
func northd(t testing.TB, cmds ...[]string) *topology {
	t.Helper()
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// the snapshot is all the tests need: the central goes once it is taken
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	for _, cmd := range cmds {
		if _, err := c.NBCtl(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.NBCtl("--wait=sb", "sync"); err != nil {
		t.Fatal(err)
	}
	snapshot := map[string]json.RawMessage{}
	for _, tbl := range sbjson.Tables {
		out, err := c.SBCtl("--format=json", "list", tbl)
		if err != nil {
			t.Fatal(err)
		}
		snapshot[tbl] = json.RawMessage(out)
	}
	raw, err := json.Marshal(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sbjson.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	comp, rep := sbjson.Compile(snap)
	if len(rep.Errors) > 0 {
		t.Logf("compiler: %d lflows not compiled:\n%s", len(rep.Errors), rep)
	}
	tp := &topology{snap: snap, comp: comp, dp: map[string]uint32{}}
	for k, n := range snap.DPNames {
		tp.dp[n] = k
	}
	return tp
}

func (tp *topology) port(t testing.TB, name string) (uint32, uint32) {
	t.Helper()
	dp, key, ok := tp.snap.Port(name)
	if !ok {
		t.Fatalf("no port %s", name)
	}
	return dp, key
}

// install applies every compiled table.
func (h *harness) install(tp *topology) *maps.ApplyReport {
	h.t.Helper()
	h.tp = tp
	changes := map[maps.TableID][]pipeline.Rule{}
	for _, k := range tp.comp.Tables() {
		changes[maps.TableID{Datapath: k.Datapath, Pipeline: k.Pipeline, Table: k.Table}] = tp.comp.Table(k)
	}
	rep, err := h.inst.Apply(changes)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range rep.Errors {
		h.t.Errorf("rule not installed: %v", e)
	}
	return rep
}

// vif binds logical port name to a new device dev (vlan: nested container
// tag on dev, which must exist already).
func (h *harness) vif(name, dev string, vlan uint16) uint32 {
	h.t.Helper()
	dp, key := h.tp.port(h.t, name)
	idx, ok := h.devs[dev]
	if !ok {
		idx = h.dev(dev)
	}
	if err := h.st.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortVIF, Ifindex: idx, VLAN: vlan}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.BindVIF(idx, vlan, dp, key, 0); err != nil {
		h.t.Fatal(err)
	}
	return idx
}

func (h *harness) remote(name string, chassis netip.Addr) {
	h.t.Helper()
	dp, key := h.tp.port(h.t, name)
	if err := h.st.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortRemote, Chassis: chassis}); err != nil {
		h.t.Fatal(err)
	}
}

// patch joins two patch ports (both directions).
func (h *harness) patch(a, b string) {
	h.t.Helper()
	adp, akey := h.tp.port(h.t, a)
	bdp, bkey := h.tp.port(h.t, b)
	for _, p := range []maps.Port{
		{Datapath: adp, Key: akey, Type: maps.PortPatch, PeerDatapath: bdp, PeerKey: bkey},
		{Datapath: bdp, Key: bkey, Type: maps.PortPatch, PeerDatapath: adp, PeerKey: akey},
	} {
		if err := h.st.SetPort(p); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) mcast(dp, group string, local []string, remote []netip.Addr) {
	h.t.Helper()
	dpk := h.tp.dp[dp]
	key, ok := h.tp.snap.MulticastGroup(dpk, group)
	if !ok {
		h.t.Fatalf("no multicast group %s on %s", group, dp)
	}
	var ports []uint32
	for _, n := range local {
		_, k := h.tp.port(h.t, n)
		ports = append(ports, k)
	}
	if err := h.st.SetMulticastGroup(dpk, key, ports, remote); err != nil {
		h.t.Fatal(err)
	}
}

// Packets.

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func icmpPacket(t testing.TB, src, dst net.HardwareAddr, sip, dip string, ttl uint8) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: layers.IPProtocolICMPv4, Id: 7,
		SrcIP: net.ParseIP(sip).To4(), DstIP: net.ParseIP(dip).To4()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}
	return serialize(t, eth, ip, icmp, gopacket.Payload([]byte("ovnbpf-test-payload")))
}

func arpRequest(t testing.TB, src net.HardwareAddr, sip, tip string) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
		ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: src,
		SourceProtAddress: net.ParseIP(sip).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(tip).To4()}
	return serialize(t, eth, arp)
}
