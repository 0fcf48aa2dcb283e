package loader_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// realOVSCapture is where a Geneve frame captured from a real OVS chassis
// goes (first packet of a pcap, taken on the receiving chassis' underlay):
// sw0 = vni 1, from vm3 (inport 1) to vm1 (outport 2), as the standard
// topology numbers them.
const realOVSCapture = "testdata/ovs-geneve-vni1-in1-out2.pcap"

// ovsGeneveFrame is the frame a real OVS chassis sends (REFERENCE.md: "vni
// 0x1, options [class OVN (0x102) type 0x80(C) len 8 data 00010002]",
// UDP checksum on, Geneve C flag) around inner. Used until the capture exists.
func ovsGeneveFrame(t testing.TB, dstMAC net.HardwareAddr, inner []byte) []byte {
	t.Helper()
	g := []byte{0x02, 0x40, 0x65, 0x58, 0, 0, 1, 0, 0x01, 0x02, 0x80, 0x01, 0x00, 0x01, 0x00, 0x02}
	udpLen := 8 + len(g) + len(inner)
	b := make([]byte, 0, 14+20+udpLen)
	b = append(b, dstMAC...)
	b = append(b, looptest.RemoteMAC...)
	b = append(b, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
	ip = append(ip, looptest.RemoteEncap.AsSlice()...)
	ip = append(ip, looptest.LocalEncap.AsSlice()...)
	binary.BigEndian.PutUint16(ip[10:], ^looptest.OnesSum(ip))
	b = append(b, ip...)
	udp := []byte{0xd4, 0x31, 0x17, 0xc1, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	seg := append(append(udp, g...), inner...)
	pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), udp[4:6]...)
	binary.BigEndian.PutUint16(seg[6:], ^looptest.OnesSum(append(pseudo, seg...)))
	return append(b, seg...)
}

// readdress rewrites the outer IPv4 addresses of an Ethernet/IPv4/UDP frame
// and recomputes the IPv4 header and UDP checksums.
func readdress(frame, src, dst []byte) {
	ip := frame[14 : 14+20]
	copy(ip[12:16], src)
	copy(ip[16:20], dst)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^looptest.OnesSum(ip))
	seg := frame[14+20:]
	seg[6], seg[7] = 0, 0
	pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), seg[4:6]...)
	binary.BigEndian.PutUint16(seg[6:], ^looptest.OnesSum(append(pseudo, seg...)))
}

func readCapture(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v, want Ethernet", path, r.LinkType())
	}
	data, _, err := r.ReadPacketData()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return data
}

func TestPrivilegedGeneveFromOVSDelivered(t *testing.T) {
	h := standard(t)
	frame, inner := ovsFrame(t, h)
	ret, out := h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], frame)
	expectRedirect(t, h, ret)
	if !bytes.Equal(out, inner) {
		t.Errorf("delivered frame\n got %x\nwant %x", out, inner)
	}
	if o := h.Outputs(); len(o) != 1 || o[0].Kind != 1 || o[0].Ifindex != h.Devs["vm1"] {
		t.Errorf("copies %+v, want one to vm1 (ifindex %d)", o, h.Devs["vm1"])
	}
	w := h.Work()
	if w.Cur.FromTunnel != 1 {
		t.Errorf("packet not marked as from a tunnel")
	}

	// Not ours: the host keeps it (another UDP port, another address).
	other := append([]byte{}, frame...)
	binary.BigEndian.PutUint16(other[36:], 4789)
	if ret, _ := h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], other); ret != looptest.ActOK {
		t.Errorf("non-Geneve UDP: verdict %d, want pass to the host", ret)
	}
}

// ovsFrame is the real OVS capture addressed to this chassis (or, until the
// capture exists, the frame built per REFERENCE.md) and the inner frame it
// carries: vni 1 from vm3 (inport 1) to vm1 (outport 2).
func ovsFrame(t *testing.T, h *looptest.Harness) (frame, inner []byte) {
	t.Helper()
	ul, err := net.InterfaceByIndex(int(h.Devs["ul0"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(realOVSCapture); err == nil {
		frame = readCapture(t, filepath.Clean(realOVSCapture))
		inner = frame[14+20+8+16:]
		g := frame[14+20+8:]
		if vni, opt := g[4:7], g[12:16]; !bytes.Equal(vni, []byte{0, 0, 1}) || !bytes.Equal(opt, []byte{0, 1, 0, 2}) {
			t.Fatalf("capture is not vni 1, inport 1, outport 2: vni %x option %x", vni, opt)
		}
		// OVS's own outer UDP checksum holds over the bytes captured
		pseudo := append(append(append([]byte{}, frame[26:34]...), 0, 17), frame[38:40]...)
		if looptest.OnesSum(append(pseudo, frame[34:]...)) != 0xffff {
			t.Fatalf("capture's outer UDP checksum does not verify")
		}
		// The capture was taken on another underlay: address it to this
		// chassis (MACs, outer IPs, their checksums); the Geneve header and
		// the inner frame stay as OVS sent them.
		copy(frame[0:6], ul.HardwareAddr)
		copy(frame[6:12], looptest.RemoteMAC)
		readdress(frame, looptest.RemoteEncap.AsSlice(), looptest.LocalEncap.AsSlice())
		t.Logf("using the real OVS capture %s", realOVSCapture)
	} else {
		inner = icmpPacket(t, vm3MAC, vm1MAC, "10.0.0.3", "10.0.0.1", 64)
		frame = ovsGeneveFrame(t, ul.HardwareAddr, inner)
		t.Logf("no real OVS capture yet (%s): using a frame built per REFERENCE.md", realOVSCapture)
	}
	// the keys the frame carries must be the standard topology's
	if _, vm1 := h.Topo.Port(t, "vm1"); vm1 != 2 || h.Topo.DP["sw0"] != 1 {
		t.Fatalf("topology keys changed: sw0 %d vm1 %d", h.Topo.DP["sw0"], vm1)
	}
	return frame, inner
}

// resum recomputes a frame's outer IPv4 header and UDP checksums (over
// whatever lengths the headers claim).
func resum(frame []byte) []byte {
	readdress(frame, append([]byte{}, frame[26:30]...), append([]byte{}, frame[30:34]...))
	return frame
}

// The host's IPv4 and UDP receive would drop these before a tunnel saw them
// (and OVS's Geneve vport with them): so does the datapath, counting each by
// reason, delivering nothing. Built from the real OVS capture.
func TestPrivilegedGeneveMalformedOuterDropped(t *testing.T) {
	h := standard(t)
	orig, inner := ovsFrame(t, h)
	if binary.BigEndian.Uint16(orig[14+20+6:]) == 0 {
		t.Fatalf("the capture has no outer UDP checksum to verify")
	}
	const ip, udp, gnv = 14, 14 + 20, 14 + 20 + 8
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, orig...)) }
	cases := []struct {
		name, reason string
		pkt          []byte
	}{
		// one inner payload byte flipped, the outer checksum kept
		{"udp-checksum", "tunnel_csum", edit(func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b })},
		{"udp-checksum-field", "tunnel_csum", edit(func(b []byte) []byte { b[udp+6] ^= 0x01; return b })},
		{"ipv4-header-checksum", "tunnel_ip4", edit(func(b []byte) []byte { b[ip+8]--; return b })}, // TTL changed, checksum kept
		{"ipv4-ihl", "tunnel_ip4", edit(func(b []byte) []byte { b[ip] = 0x44; return b })},
		{"ipv4-total-length", "tunnel_ip4", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ip+2:], uint16(len(b)-14+1))
			return resum(b)
		})},
		{"udp-length-beyond", "tunnel_udp", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[udp+4:], uint16(len(b)-udp+8))
			return resum(b)
		})},
		{"udp-length-short", "tunnel_udp", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[udp+4:], uint16(len(b)-udp-2))
			return resum(b)
		})},
		{"geneve-version", "parse_geneve", edit(func(b []byte) []byte { b[gnv] |= 0x40; return resum(b) })},
		{"geneve-protocol", "parse_geneve", edit(func(b []byte) []byte { b[gnv+3] = 0x00; return resum(b) })},           // 0x6500
		{"geneve-opt-len", "parse_geneve", edit(func(b []byte) []byte { b[gnv] = b[gnv]&0xc0 | 1; return resum(b) })},   // 4 bytes: the OVN option overruns them
		{"geneve-critical-option", "geneve_option", edit(func(b []byte) []byte { b[gnv+8+1] = 0x77; return resum(b) })}, // class 0x0177
	}
	for _, tc := range cases {
		before := h.Drops()
		ret, _ := h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], tc.pkt)
		after := h.Drops()
		if ret != looptest.ActShot {
			t.Errorf("%s: verdict %d, want drop", tc.name, ret)
		}
		for reason, n := range after {
			want := before[reason]
			if reason == tc.reason {
				want++
			}
			if n != want {
				t.Errorf("%s: %s counted %d times, want %d (drops %v)", tc.name, reason, n-before[reason], want-before[reason], after)
			}
		}
	}

	// A datagram longer than one 512-byte block (summed in place, the tail
	// copied out): a flipped byte in the first block and one in the tail.
	bigInner := udpPayloadPacket(t, vm3MAC, vm1MAC, "10.0.0.3", "10.0.0.1", 1401) // an odd datagram length
	big := ovsGeneveFrame(t, orig[0:6], bigInner)
	for _, at := range []int{udp + 100, len(big) - 3, len(big) - 1} {
		bad := append([]byte{}, big...)
		bad[at] ^= 0x10
		before := h.Drops()["tunnel_csum"]
		if ret, _ := h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], bad); ret != looptest.ActShot || h.Drops()["tunnel_csum"] != before+1 {
			t.Errorf("1401-byte payload, byte %d flipped: verdict %d drops %v", at, ret, h.Drops())
		}
	}

	// the original, the same without an outer checksum (valid over IPv4),
	// and the long one are delivered to vm1 unchanged
	noSum := edit(func(b []byte) []byte { b[udp+6], b[udp+7] = 0, 0; return b })
	for _, c := range []struct {
		name       string
		pkt, inner []byte
	}{{"original", orig, inner}, {"zero checksum", noSum, inner}, {"1401 bytes", big, bigInner}} {
		name := c.name
		ret, out := h.Exec(h.D.Objs.OvnbpfUnderlayIngress, h.Devs["ul0"], c.pkt)
		expectRedirect(t, h, ret)
		if !bytes.Equal(out, c.inner) {
			t.Errorf("%s: delivered frame\n got %x\nwant %x", name, out, c.inner)
		}
		if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm1"] {
			t.Errorf("%s: copies %+v, want one to vm1", name, o)
		}
	}
}

func TestPrivilegedNestedContainer(t *testing.T) {
	h := standard(t)
	// from the container: tagged 42 on its parent's device, tag stripped
	plain := icmpPacket(t, vm1cMAC, vm2MAC, "10.0.0.11", "10.0.0.2", 64)
	tagged := vlanTag(plain, 42)
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], tagged)
	expectRedirect(t, h, ret)
	if !bytes.Equal(out, plain) {
		t.Errorf("container's packet at vm2\n got %x\nwant %x (tag stripped)", out, plain)
	}
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm2"] {
		t.Errorf("copies %+v, want one to vm2", o)
	}
	_, vm1c := h.Topo.Port(t, "vm1c")
	if w := h.Work(); binary.BigEndian.Uint32(be(w.Cur.Key.Inport)) != vm1c {
		t.Errorf("inport %d, want vm1c (%d)", binary.BigEndian.Uint32(be(w.Cur.Key.Inport)), vm1c)
	}
	// to the container: delivered on the parent with its tag pushed
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm2"], icmpPacket(t, vm2MAC, vm1cMAC, "10.0.0.2", "10.0.0.11", 64))
	expectRedirect(t, h, ret)
	if o := h.Outputs(); len(o) != 1 || o[0].Ifindex != h.Devs["vm1"] || o[0].Vlan != 42 {
		t.Errorf("copies %+v, want one to vm1 with VLAN 42", o)
	}
	// a tag no container uses is the parent's own traffic: port security
	// (vlan.present is dropped by northd's port security stage) stops it
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], vlanTag(icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64), 7))
	if ret != looptest.ActShot {
		t.Errorf("unknown tag 7 on vm1: verdict %d, want drop", ret)
	}
}

// be returns the memory bytes of a network-order field held in a uint32.
func be(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

func vlanTag(frame []byte, vid uint16) []byte {
	out := append([]byte{}, frame[:12]...)
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, frame[12:]...)
}

// A flow cache hit must checksum the outer UDP datagram with the copy's own
// inner addresses, not those of whatever packet took the slow path last: OVS
// drops a Geneve packet with a bad UDP checksum (coverage
// datapath_drop_tunnel_pop_error), which stalled TCP from an ovnbpf chassis
// to an ovs one as soon as any other flow interleaved.
func TestPrivilegedGeneveChecksumOnCacheHit(t *testing.T) {
	h := standard(t)
	_, vm1 := h.Topo.Port(t, "vm1")
	_, vm3 := h.Topo.Port(t, "vm3")
	tcp := tcpPacket(t, "10.0.0.1", 5201)
	copy(tcp[0:6], vm3MAC)
	tcp[33] = 3 // to 10.0.0.3, remote
	tcp = fixIPv4(t, tcp)
	hits := func() uint64 {
		n, _, _, err := h.St.CacheStats()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ret, out := h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], tcp)
	expectRedirect(t, h, ret)
	checkGeneve(t, h, out, h.Topo.DP["sw0"], vm1, vm3)
	// another flow (other addresses, protocol, length) through the pipeline
	ret, _ = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], icmpPacket(t, vm1MAC, vm2MAC, "10.0.0.1", "10.0.0.2", 64))
	expectRedirect(t, h, ret)
	before := hits()
	ret, out = h.Exec(h.D.Objs.OvnbpfVifIngress, h.Devs["vm1"], tcp)
	expectRedirect(t, h, ret)
	if hits() != before+1 {
		t.Fatalf("the repeated TCP packet was not a flow cache hit")
	}
	if inner := checkGeneve(t, h, out, h.Topo.DP["sw0"], vm1, vm3); !bytes.Equal(inner, tcp) {
		t.Errorf("inner frame changed on the cache hit")
	}
}
