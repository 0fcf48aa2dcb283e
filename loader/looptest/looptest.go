// Package looptest runs the loaded datapath on packets inside a throwaway
// network namespace, for the datapath's tests (loader's, the VM smoke test,
// the differential harness): build a topology with a real ovn-northd, load
// and pin, install compiled tables, bind ports to veth devices, feed one
// packet to a program with BPF_PROG_TEST_RUN and read back every copy it
// produced, with the copy's bytes.
//
// Copies sent with bpf_clone_redirect really leave through their veth device
// and are captured on its peer; the copy the program returns as its verdict
// is BPF_PROG_TEST_RUN's output data.
package looptest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// TC verdicts.
const (
	ActOK       = 0
	ActShot     = 2
	ActRedirect = 7
)

// Copy kinds (enum ovnbpf_out_kind).
const (
	KindDevice = 1
	KindTunnel = 2
)

// skbCtx is the head of struct __sk_buff as BPF_PROG_TEST_RUN takes it
// (TestSkbCtxMatchesKernelBTF checks it against the kernel's BTF).
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

// Harness is one loaded datapath in its own network namespace. The calling
// goroutine's thread is moved into the namespace and pinned to CPU 0 (so the
// per-CPU state of the last packet can be read back) until the test ends.
type Harness struct {
	T    testing.TB
	NS   string
	D    *loader.Datapath
	Inst *maps.Installer
	St   *maps.State
	Devs map[string]uint32 // device name -> ifindex
	Topo *Topology         // the topology InstallTopology installed
	caps map[uint32]int    // device ifindex -> capture socket on its peer
}

// SmallMaps keeps test maps small.
var SmallMaps = map[string]uint32{
	"ovnbpf_rules": 16384, "ovnbpf_rules_w": 4096, "ovnbpf_ops": 16384, "ovnbpf_masks": 4096, "ovnbpf_lflows": 8192,
	"ovnbpf_tables": 4096, "ovnbpf_dirs": 1024, "ovnbpf_flows": 1024, "ovnbpf_flows4": 1024,
}

// New loads the datapath, pinned under a directory of its own, in a new
// network namespace.
func New(t testing.TB) *Harness {
	t.Helper()
	testutil.Privileged(t)
	testutil.Need(t, "ip")
	ns := testutil.NetNS(t)
	testutil.MustRun(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	EnterNetNS(t, ns)
	return load(t, ns, "")
}

// Peer loads a second datapath (another chassis) in h's namespace, pinned
// apart. Its devices must have names of their own.
func (h *Harness) Peer(name string) *Harness {
	h.T.Helper()
	return load(h.T, h.NS, "-"+name)
}

func load(t testing.TB, ns, suffix string) *Harness {
	t.Helper()
	dir := loader.PinDir(fmt.Sprintf("test-%d-%s%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"), suffix))
	t.Cleanup(func() {
		if err := loader.Unpin(dir); err != nil {
			t.Error(err)
		}
	})
	d, err := loader.Load(dir, &loader.Options{MaxEntries: SmallMaps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	inst, err := maps.NewInstaller(&d.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{T: t, NS: ns, D: d, Inst: inst, St: maps.NewState(&d.Objs.DatapathMaps),
		Devs: map[string]uint32{}, caps: map[uint32]int{}}
	t.Cleanup(func() {
		for _, fd := range h.caps {
			unix.Close(fd)
		}
	})
	return h
}

// EnterNetNS moves the calling goroutine's thread into ns and onto CPU 0
// until the test ends (a sub-benchmark runs on a goroutine of its own).
func EnterNetNS(t testing.TB, ns string) {
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

// IP runs `ip -n <ns> args...`.
func (h *Harness) IP(args ...string) string {
	h.T.Helper()
	return testutil.MustRun(h.T, append([]string{"ip", "-n", h.NS}, args...)...)
}

// Dev makes a veth pair name/name+"p", both up, with a capture socket on the
// peer, and returns name's ifindex.
func (h *Harness) Dev(name string) uint32 {
	h.T.Helper()
	if idx, ok := h.Devs[name]; ok {
		return idx
	}
	h.IP("link", "add", name, "type", "veth", "peer", "name", name+"p")
	h.IP("link", "set", name, "up")
	h.IP("link", "set", name+"p", "up")
	idx := h.ifindex(name)
	h.Devs[name] = idx
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		h.T.Fatalf("capture socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: int(h.ifindex(name + "p"))}); err != nil {
		unix.Close(fd)
		h.T.Fatalf("binding capture socket to %sp: %v", name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		unix.Close(fd)
		h.T.Fatalf("PACKET_AUXDATA: %v", err)
	}
	h.caps[idx] = fd
	h.drain(idx)
	return idx
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (h *Harness) ifindex(name string) uint32 {
	h.T.Helper()
	out := h.IP("-o", "link", "show", "dev", name)
	idx, err := strconv.Atoi(strings.SplitN(out, ":", 2)[0])
	if err != nil {
		h.T.Fatalf("ifindex of %s from %q: %v", name, out, err)
	}
	return uint32(idx)
}

// Underlay addresses: this chassis and the remote chassis of every test.
var (
	LocalEncap  = netip.MustParseAddr("192.0.2.1")
	RemoteEncap = netip.MustParseAddr("192.0.2.2")
	RemoteMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// Underlay makes ul0 (LocalEncap) with RemoteEncap a permanent neighbour.
func (h *Harness) Underlay() uint32 {
	h.T.Helper()
	idx := h.Dev("ul0")
	h.IP("addr", "add", LocalEncap.String()+"/24", "dev", "ul0")
	testutil.MustRun(h.T, "ip", "netns", "exec", h.NS, "sysctl", "-qw", "net.ipv4.conf.ul0.forwarding=1")
	h.IP("neigh", "add", RemoteEncap.String(), "lladdr", RemoteMAC.String(), "dev", "ul0", "nud", "permanent")
	if err := h.St.SetConfig(LocalEncap, idx, true); err != nil {
		h.T.Fatal(err)
	}
	return idx
}

// PeerUnderlay makes device dev the underlay of a peer chassis whose Geneve
// endpoint is encap. The device gets no address (the namespace's routes
// stay the first chassis'): the peer only receives tunnel packets, fed to
// its underlay program with RunProg.
func (h *Harness) PeerUnderlay(dev string, encap netip.Addr) uint32 {
	h.T.Helper()
	idx := h.Dev(dev)
	if err := h.St.SetConfig(encap, idx, true); err != nil {
		h.T.Fatal(err)
	}
	return idx
}

// Install applies every table of a compiled topology.
func (h *Harness) Install(comp *pipeline.Compiler) *maps.ApplyReport {
	h.T.Helper()
	changes := map[maps.TableID][]pipeline.Rule{}
	for _, k := range comp.Tables() {
		changes[maps.TableID{Datapath: k.Datapath, Pipeline: k.Pipeline, Table: k.Table}] = comp.Table(k)
	}
	rep, err := h.Inst.Apply(changes)
	if err != nil {
		h.T.Fatal(err)
	}
	for _, e := range rep.Errors {
		h.T.Errorf("rule not installed: %v", e)
	}
	return rep
}

// Topology is a logical network built by a real ovn-northd and compiled.
type Topology struct {
	Snap *sbjson.Snapshot
	Comp *pipeline.Compiler
	DP   map[string]uint32 // logical datapath name -> tunnel key
}

// Northd builds a topology with ovn-nbctl commands in a real central and
// compiles the Southbound logical flows northd wrote.
func Northd(t testing.TB, cmds ...[]string) *Topology {
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
	tp := &Topology{Snap: snap, Comp: comp, DP: map[string]uint32{}}
	for k, n := range snap.DPNames {
		tp.DP[n] = k
	}
	return tp
}

// Port is a logical port's datapath and tunnel key.
func (tp *Topology) Port(t testing.TB, name string) (dp, key uint32) {
	t.Helper()
	dp, key, ok := tp.Snap.Port(name)
	if !ok {
		t.Fatalf("no port %s", name)
	}
	return dp, key
}

// InstallTopology installs tp's tables; the port helpers below name its ports.
func (h *Harness) InstallTopology(tp *Topology) *maps.ApplyReport {
	h.T.Helper()
	h.Topo = tp
	return h.Install(tp.Comp)
}

// Vif binds logical port name to device dev, made when new (vlan: a nested
// container's tag on dev).
func (h *Harness) Vif(name, dev string, vlan uint16) uint32 {
	h.T.Helper()
	dp, key := h.Topo.Port(h.T, name)
	idx := h.Dev(dev)
	if err := h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortVIF, Ifindex: idx, VLAN: vlan}); err != nil {
		h.T.Fatal(err)
	}
	if err := h.St.BindVIF(idx, vlan, dp, key, 0); err != nil {
		h.T.Fatal(err)
	}
	return idx
}

// Remote makes logical port name reside on the chassis at Geneve endpoint chassis.
func (h *Harness) Remote(name string, chassis netip.Addr) {
	h.T.Helper()
	dp, key := h.Topo.Port(h.T, name)
	if err := h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortRemote, Chassis: chassis}); err != nil {
		h.T.Fatal(err)
	}
}

// Patch joins two patch ports (both directions).
func (h *Harness) Patch(a, b string) {
	h.T.Helper()
	adp, akey := h.Topo.Port(h.T, a)
	bdp, bkey := h.Topo.Port(h.T, b)
	for _, p := range []maps.Port{
		{Datapath: adp, Key: akey, Type: maps.PortPatch, PeerDatapath: bdp, PeerKey: bkey},
		{Datapath: bdp, Key: bkey, Type: maps.PortPatch, PeerDatapath: adp, PeerKey: akey},
	} {
		if err := h.St.SetPort(p); err != nil {
			h.T.Fatal(err)
		}
	}
}

// Mcast programs multicast group group of datapath dp: local member ports
// and remote chassis.
func (h *Harness) Mcast(dp, group string, local []string, remote []netip.Addr) {
	h.T.Helper()
	dpk := h.Topo.DP[dp]
	key, ok := h.Topo.Snap.MulticastGroup(dpk, group)
	if !ok {
		h.T.Fatalf("no multicast group %s on %s", group, dp)
	}
	var ports []uint32
	for _, n := range local {
		_, k := h.Topo.Port(h.T, n)
		ports = append(ports, k)
	}
	if err := h.St.SetMulticastGroup(dpk, key, ports, remote); err != nil {
		h.T.Fatal(err)
	}
}

// TxPackets is how many packets a device sent.
func (h *Harness) TxPackets(dev string) int {
	h.T.Helper()
	var links []struct {
		Stats struct {
			TX struct {
				Packets int `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(h.IP("-s", "-j", "link", "show", "dev", dev)), &links); err != nil || len(links) != 1 {
		h.T.Fatalf("stats of %s: %v", dev, err)
	}
	return links[0].Stats.TX.Packets
}

// Exec feeds one packet to prog as arriving on ifindex and returns the
// verdict and the output data (the packet as the program left it), nothing
// more: see Run for every copy.
func (h *Harness) Exec(prog *ebpf.Program, ifindex uint32, pkt []byte) (uint32, []byte) {
	h.T.Helper()
	return h.exec(prog, pkt, skbCtx{IngressIfindex: ifindex, Ifindex: ifindex})
}

// ExecGSO is Exec for a packet that GRO merged from segs segments of
// gsoSize bytes. BPF_PROG_TEST_RUN sets no GSO type: helpers that need one
// (bpf_skb_adjust_room) refuse such a packet.
func (h *Harness) ExecGSO(prog *ebpf.Program, ifindex uint32, pkt []byte, gsoSize, segs uint32) (uint32, []byte) {
	h.T.Helper()
	return h.exec(prog, pkt, skbCtx{IngressIfindex: ifindex, Ifindex: ifindex, GSOSize: gsoSize, GSOSegs: segs})
}

func (h *Harness) exec(prog *ebpf.Program, pkt []byte, ctx skbCtx) (uint32, []byte) {
	h.T.Helper()
	out := make([]byte, len(pkt)+512)
	opts := &ebpf.RunOptions{Data: pkt, DataOut: out, Context: ctx}
	ret, err := prog.Run(opts)
	if err != nil {
		h.T.Fatalf("test run: %v", err)
	}
	return ret, opts.DataOut
}

// Copy is one packet the datapath produced.
type Copy struct {
	maps.DatapathOvnbpfOut
	// Frame is the copy as it left: for a device copy the Ethernet frame
	// (without the nested container's tag, see Vlan), for a tunnel copy the
	// whole Geneve packet.
	Frame []byte
	// Tag is the 802.1Q VID the frame carried (0: none).
	Tag uint16
	// TagUnseen: the copy is the program's verdict packet, and a tag the
	// program pushed (bpf_skb_vlan_push keeps it out of band) is not in
	// BPF_PROG_TEST_RUN's output data, so Tag says nothing about it.
	TagUnseen bool
}

// Result is what one packet became.
type Result struct {
	Verdict uint32
	Copies  []Copy
	Drops   map[string]uint64 // drop counters that moved, by reason
	Err     error             // the copies could not all be matched with their bytes
}

// Run feeds pkt to the VIF program as arriving on device ifindex and reads
// back every copy.
func (h *Harness) Run(ifindex uint32, pkt []byte) Result {
	return h.RunProg(h.D.Objs.OvnbpfVifIngress, ifindex, pkt)
}

// RunProg feeds pkt to prog as arriving on ifindex.
func (h *Harness) RunProg(prog *ebpf.Program, ifindex uint32, pkt []byte) Result {
	h.T.Helper()
	before := h.Drops()
	ret, dataOut := h.Exec(prog, ifindex, pkt)
	res := Result{Verdict: ret, Drops: map[string]uint64{}}
	for k, v := range h.Drops() {
		if v != before[k] {
			res.Drops[k] = v - before[k]
		}
	}
	outs := h.Outputs()
	// frames really sent, per device (FIFO)
	sent := map[uint32][][]byte{}
	tags := map[uint32][]uint16{}
	want := len(outs)
	if ret == ActRedirect {
		want--
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for n := 0; ; {
		for idx := range h.caps {
			for _, f := range h.drainTagged(idx) {
				sent[idx] = append(sent[idx], f.b)
				tags[idx] = append(tags[idx], f.tag)
				n++
			}
		}
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	verdictUsed := ret != ActRedirect
	ul := h.Devs["ul0"]
	for _, o := range outs {
		c := Copy{DatapathOvnbpfOut: o}
		dev := o.Ifindex
		if o.Kind == KindTunnel {
			dev = ul
		}
		if q := sent[dev]; len(q) > 0 {
			c.Frame, c.Tag = q[0], tags[dev][0]
			sent[dev], tags[dev] = q[1:], tags[dev][1:]
		} else if !verdictUsed {
			c.Frame = append([]byte(nil), dataOut...)
			if len(c.Frame) >= 18 && binary.BigEndian.Uint16(c.Frame[12:]) == 0x8100 {
				c.Tag = binary.BigEndian.Uint16(c.Frame[14:]) & 0xfff
				c.Frame = append(c.Frame[:12:12], c.Frame[16:]...)
			} else {
				c.TagUnseen = true
			}
			verdictUsed = true
		} else {
			res.Err = errors.Join(res.Err, fmt.Errorf("copy %+v: no frame was sent for it", o.Kind))
		}
		res.Copies = append(res.Copies, c)
	}
	for idx, q := range sent {
		if len(q) > 0 {
			res.Err = errors.Join(res.Err, fmt.Errorf("%d frames sent on ifindex %d that no copy accounts for", len(q), idx))
		}
	}
	return res
}

type frame struct {
	b   []byte
	tag uint16
}

func (h *Harness) drain(idx uint32) { h.drainTagged(idx) }

// drainTagged reads every frame captured on idx's peer; a VLAN tag the
// kernel carried out of band (PACKET_AUXDATA) or inline is taken off.
func (h *Harness) drainTagged(idx uint32) []frame {
	fd := h.caps[idx]
	var fs []frame
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			return fs
		}
		f := frame{b: append([]byte(nil), buf[:n]...)}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 20 {
					// struct tpacket_auxdata: status, len, snaplen, mac, net (u16), vlan_tci, vlan_tpid
					status := binary.NativeEndian.Uint32(m.Data[0:])
					if status&unix.TP_STATUS_VLAN_VALID != 0 {
						f.tag = binary.NativeEndian.Uint16(m.Data[16:]) & 0xfff
					}
				}
			}
		}
		if f.tag == 0 && len(f.b) >= 18 && binary.BigEndian.Uint16(f.b[12:]) == 0x8100 {
			f.tag = binary.BigEndian.Uint16(f.b[14:]) & 0xfff
			f.b = append(f.b[:12:12], f.b[16:]...)
		}
		fs = append(fs, f)
	}
}

// Outputs lists the copies the last packet produced (devices, then tunnels).
func (h *Harness) Outputs() []maps.DatapathOvnbpfOut {
	w := h.Work()
	var out []maps.DatapathOvnbpfOut
	dev := w.N_out - w.N_tun
	for i := uint32(0); i < dev; i++ {
		out = append(out, w.Out[i])
	}
	for i := uint32(0); i < w.N_tun; i++ {
		out = append(out, w.Out[len(w.Out)-1-int(i)])
	}
	return out
}

// Work reads the per-packet state of the last run (CPU 0).
func (h *Harness) Work() *maps.DatapathOvnbpfWork {
	h.T.Helper()
	var per []maps.DatapathOvnbpfWork
	if err := h.D.Objs.OvnbpfScratch.Lookup(uint32(0), &per); err != nil {
		h.T.Fatal(err)
	}
	return &per[0]
}

// Drops reads the drop counters by reason.
func (h *Harness) Drops() map[string]uint64 {
	h.T.Helper()
	d, err := h.St.Drops()
	if err != nil {
		h.T.Fatal(err)
	}
	return d
}

// ForgetLearned empties what the datapath learned from packets (FDB and MAC
// bindings), so that every packet meets the same state.
func (h *Harness) ForgetLearned() {
	h.T.Helper()
	for _, m := range []*ebpf.Map{h.D.Objs.OvnbpfFdb, h.D.Objs.OvnbpfMacbind} {
		var keys [][]byte
		it := m.Iterate()
		k := make([]byte, m.KeySize())
		v := make([]byte, m.ValueSize())
		for it.Next(&k, &v) {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				h.T.Fatalf("forgetting learned state: %v", err)
			}
		}
	}
}

// ChassisIp4 is a tunnel copy's remote chassis.
func (c Copy) ChassisIp4() netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], c.ChassisIp)
	return netip.AddrFrom4(b)
}

// OnesSum is the folded ones'-complement sum of b's 16-bit big-endian words
// (an odd last byte padded with zero): 0xffff over a header or datagram (with
// its pseudo-header) whose Internet checksum is right; ^OnesSum over the rest
// is the checksum to write.
func OnesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
