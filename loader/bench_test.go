package loader_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// BenchmarkDatapath measures ns per packet through the loaded programs
// (BPF_PROG_TEST_RUN, the kernel's own timing), beside a floor run in turn
// with each case (floor-ns/pkt): a program that only redirects, or for the
// flood one that only sends the same copies to the same devices. Each packet
// is one test run (repeat 1), because a repeated run would feed the program
// its own output (an encapsulated or TTL-decremented packet). Tables are
// northd's.
//
//	go test ./loader -run '^$' -bench BenchmarkDatapath
func BenchmarkDatapath(b *testing.B) {
	h := looptest.New(b)
	cmds := standardCmds()
	// a switch with nine local ports for the 8-way flood
	cmds = append(cmds, []string{"ls-add", "swf"})
	for i := 0; i <= 8; i++ {
		cmds = append(cmds, []string{"lsp-add", "swf", fmt.Sprintf("f%d", i)},
			[]string{"lsp-set-addresses", fmt.Sprintf("f%d", i), fmt.Sprintf("00:00:00:00:0f:%02x 10.9.0.%d", i, i+1)})
	}
	h.InstallTopology(looptest.Northd(b, cmds...))
	bindStandard(b, h)
	var flood []string
	for i := 0; i <= 8; i++ {
		flood = append(flood, vifName(h, fmt.Sprintf("f%d", i)))
	}
	for _, g := range []string{"_MC_flood", "_MC_flood_l2"} {
		h.Mcast("swf", g, flood, nil)
	}
	// Benchmark runs have no context: packets arrive on "lo" (ifindex 1);
	// bind the sending port there.
	bindLo := func(port string) {
		dp, key := h.Topo.Port(b, port)
		if err := h.St.BindVIF(1, 0, dp, key, 0); err != nil {
			b.Fatal(err)
		}
	}
	floor := loadFloor(b, h, flood[1:])
	defer floor.Close()

	// interleaved flows: 64 UDP flows (source ports) to one destination in
	// turn, so that no packet follows one of its own flow: the per-CPU memo
	// of the last hit misses every time and the flow cache's hash answers
	interleaved := func(dst []byte, dip string) [][]byte {
		var pkts [][]byte
		for i := 0; i < 64; i++ {
			pkts = append(pkts, udpPacket(b, vm1MAC, dst, "10.0.0.1", dip, uint16(20000+i)))
		}
		return pkts
	}
	cases := []struct {
		name, sender string
		prog         *ebpf.Program
		pkt          []byte
		pkts         [][]byte // several packets in turn (pkt unused)
	}{
		{"L2Local", "vm1", h.D.Objs.OvnbpfVifIngress, icmpPacket(b, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64), nil},
		{"L2RemoteGeneve", "vm1", h.D.Objs.OvnbpfVifIngress, icmpPacket(b, vm1MAC, vm3MAC, "10.0.0.1", "10.0.0.3", 64), nil},
		{"Routed", "vm1", h.D.Objs.OvnbpfVifIngress, icmpPacket(b, vm1MAC, r0sw0, "10.0.0.1", "10.0.1.4", 64), nil},
		{"Flood8", "f0", h.D.Objs.OvnbpfVifIngress, arpRequest(b, mac("00:00:00:00:0f:00"), "10.9.0.1", "10.9.0.99"), nil},
		// decap from a remote chassis to vm1 (outer UDP checksum on, as OVS
		// sends it): a small inner packet and a 1400-byte one
		{"GeneveDecap", "", h.D.Objs.OvnbpfUnderlayIngress, ovsGeneveFrame(b, looptest.RemoteMAC, icmpPacket(b, vm3MAC, vm1MAC, "10.0.0.3", "10.0.0.1", 64)), nil},
		{"GeneveDecap1400", "", h.D.Objs.OvnbpfUnderlayIngress, ovsGeneveFrame(b, looptest.RemoteMAC, udpPayloadPacket(b, vm3MAC, vm1MAC, "10.0.0.3", "10.0.0.1", 1400)), nil},
		// the same without the outer UDP checksum (a sender with csum=false):
		// the decap's own work, which a receiving NIC's checksum check
		// (CHECKSUM_UNNECESSARY) also comes down to; test_run's skbs carry
		// no checksum state, so the cases above sum the datagram in BPF
		{"GeneveDecapNoCsum", "", h.D.Objs.OvnbpfUnderlayIngress, noOuterCsum(ovsGeneveFrame(b, looptest.RemoteMAC, icmpPacket(b, vm3MAC, vm1MAC, "10.0.0.3", "10.0.0.1", 64))), nil},
		{"L2LocalInterleaved", "vm1", h.D.Objs.OvnbpfVifIngress, nil, interleaved(vm2MAC, "10.0.0.2")},
		{"L2RemoteGeneveInterleaved", "vm1", h.D.Objs.OvnbpfVifIngress, nil, interleaved(vm3MAC, "10.0.0.3")},
	}
	// the pipeline itself: every packet a new flow (UDP source ports cycle
	// through more flows than the test's flow cache holds)
	udpFlows := func(dst []byte, dip string) [][]byte {
		var pkts [][]byte
		for i := 0; i < 4096; i++ {
			pkts = append(pkts, udpPacket(b, vm1MAC, dst, "10.0.0.1", dip, uint16(10000+i)))
		}
		return pkts
	}
	for _, c := range []struct {
		name string
		pkts [][]byte
	}{
		{"L2LocalPipeline", udpFlows(vm2MAC, "10.0.0.2")},
		{"RoutedPipeline", udpFlows(r0sw0, "10.0.1.4")},
	} {
		b.Run(c.name, func(b *testing.B) {
			looptest.EnterNetNS(b, h.NS)
			bindLo("vm1")
			prog := h.D.Objs.OvnbpfVifIngress
			_, miss0, _, _ := h.St.CacheStats()
			var total, floorTotal int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt := c.pkts[i%len(c.pkts)]
				ret, d, err := prog.Benchmark(pkt, 1, nil)
				if err != nil || ret != looptest.ActRedirect {
					b.Fatalf("verdict %d (%v), drops %v", ret, err, h.Drops())
				}
				total += d.Nanoseconds()
				floorTotal += runFloor(b, floor.OvnbpfFloor, pkt)
			}
			reportFloor(b, total, floorTotal)
			_, miss1, _, _ := h.St.CacheStats()
			b.ReportMetric(float64(miss1-miss0)/float64(b.N), "miss/pkt")
		})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// sub-benchmarks run on their own goroutine: into the namespace
			// (copies must go to its devices) and onto CPU 0 again
			looptest.EnterNetNS(b, h.NS)
			if c.sender != "" {
				bindLo(c.sender)
			}
			pkts := c.pkts
			if pkts == nil {
				pkts = [][]byte{c.pkt}
			}
			for _, pkt := range pkts {
				ret, _, err := c.prog.Benchmark(pkt, 1, nil)
				if err != nil || ret != looptest.ActRedirect {
					b.Fatalf("verdict %d (%v), drops %v", ret, err, h.Drops())
				}
			}
			floorProg := floor.OvnbpfFloor
			if c.name == "Flood8" {
				if n := len(h.Outputs()); n != 8 {
					b.Fatalf("%d copies, want 8", n)
				}
				floorProg = floor.OvnbpfFloorFlood
			}
			// the floor runs interleaved with the case, so that the ratio holds
			// however loaded the machine is
			var total, floorTotal int64
			_, miss0, _, _ := h.St.CacheStats()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt := pkts[i%len(pkts)]
				_, d, err := c.prog.Benchmark(pkt, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d.Nanoseconds()
				floorTotal += runFloor(b, floorProg, pkt)
			}
			reportFloor(b, total, floorTotal)
			if c.pkts != nil {
				// flow cache hits, memo misses: say so beside the figure
				_, miss1, _, _ := h.St.CacheStats()
				b.ReportMetric(float64(miss1-miss0)/float64(b.N), "miss/pkt")
			}
		})
	}
}

// noOuterCsum zeroes the outer UDP checksum of an Ethernet/IPv4/UDP frame
// (0: none, as UDP over IPv4 allows).
func noOuterCsum(frame []byte) []byte {
	frame[14+20+6], frame[14+20+7] = 0, 0
	return frame
}

// loadFloor loads the floor programs; the flood's sends its copies to the
// devices of copies.
func loadFloor(b *testing.B, h *looptest.Harness, copies []string) *loader.FloorObjects {
	spec, err := loader.LoadFloor()
	if err != nil {
		b.Fatal(err)
	}
	var ifindex [16]uint32
	for i, dev := range copies {
		ifindex[i] = h.Devs[dev]
	}
	if err := spec.Variables["floor_copies"].Set(uint32(len(copies))); err != nil {
		b.Fatal(err)
	}
	if err := spec.Variables["floor_copy_ifindex"].Set(ifindex); err != nil {
		b.Fatal(err)
	}
	var objs loader.FloorObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		b.Fatal(err)
	}
	return &objs
}

// runFloor runs the floor program once on pkt (in turn with the case, so
// that the ratio holds however loaded the machine is).
func runFloor(b *testing.B, prog *ebpf.Program, pkt []byte) int64 {
	ret, d, err := prog.Benchmark(pkt, 1, nil)
	if err != nil || ret != looptest.ActRedirect {
		b.Fatalf("floor: verdict %d (%v)", ret, err)
	}
	return d.Nanoseconds()
}

func reportFloor(b *testing.B, total, floorTotal int64) {
	b.ReportMetric(float64(total)/float64(b.N), "ns/pkt")
	b.ReportMetric(float64(floorTotal)/float64(b.N), "floor-ns/pkt")
	b.ReportMetric(float64(total)/float64(floorTotal), "x-floor")
}

func udpPacket(t testing.TB, src, dst net.HardwareAddr, sip, dip string, sport uint16) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.ParseIP(sip).To4(), DstIP: net.ParseIP(dip).To4()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 9}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, u, gopacket.Payload([]byte("ovnbpf")))
}

func udpPayloadPacket(t testing.TB, src, dst net.HardwareAddr, sip, dip string, size int) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.ParseIP(sip).To4(), DstIP: net.ParseIP(dip).To4()}
	u := &layers.UDP{SrcPort: 5001, DstPort: 5201}
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth, ip, u, gopacket.Payload(make([]byte, size)))
}

// vifName binds a logical port to a new device of the same name.
func vifName(h *looptest.Harness, port string) string {
	h.Vif(port, port, 0)
	return port
}
