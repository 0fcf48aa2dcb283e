package difftrace

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
)

// Port is a logical switch port of a test topology.
type Port struct {
	Name, Switch string
	MAC          string
	IP4, IP6     string
	Remote       bool   // bound to the remote chassis (ch2)
	Parent       string // nested container: the parent VIF
	Tag          uint16
	Localport    bool
	PortSec      bool // port security = its address
	Unknown      bool // also has the "unknown" address
}

// RouterPort joins a router to a switch.
type RouterPort struct {
	Router, Switch string
	MAC            string
	Net4, Net6     string // 198.51.100.1/24
}

// Topo is one test topology.
type Topo struct {
	Name   string
	Ports  []Port
	RPorts []RouterPort
	Extra  [][]string // further ovn-nbctl commands (routes, ACLs, router-to-router links)
	// Other addresses worth aiming at (across static routes).
	Far []string
}

// NB is the ovn-nbctl commands that build t.
func (t *Topo) NB() [][]string {
	var cmds [][]string
	seen := map[string]bool{}
	for _, p := range t.Ports {
		if !seen[p.Switch] {
			seen[p.Switch] = true
			cmds = append(cmds, []string{"ls-add", p.Switch})
		}
	}
	for _, r := range t.RPorts {
		if !seen[r.Router] {
			seen[r.Router] = true
			cmds = append(cmds, []string{"lr-add", r.Router})
		}
		if !seen[r.Switch] {
			seen[r.Switch] = true
			cmds = append(cmds, []string{"ls-add", r.Switch})
		}
		lrp := r.Router + "-" + r.Switch
		args := []string{"lrp-add", r.Router, lrp, r.MAC}
		for _, n := range []string{r.Net4, r.Net6} {
			if n != "" {
				args = append(args, n)
			}
		}
		sp := r.Switch + "-" + r.Router
		cmds = append(cmds, args, []string{"lsp-add", r.Switch, sp, "--", "lsp-set-type", sp, "router",
			"--", "lsp-set-addresses", sp, "router", "--", "lsp-set-options", sp, "router-port=" + lrp})
	}
	for _, p := range t.Ports {
		add := []string{"lsp-add", p.Switch, p.Name}
		if p.Parent != "" {
			add = append(add, p.Parent, fmt.Sprint(p.Tag))
		}
		addr := strings.TrimSpace(strings.Join([]string{p.MAC, p.IP4, p.IP6}, " "))
		cmd := append(add, "--", "lsp-set-addresses", p.Name, addr)
		if p.Unknown {
			cmd = append(cmd, "unknown")
		}
		if p.Localport {
			cmd = append(cmd, "--", "lsp-set-type", p.Name, "localport")
		}
		if p.PortSec {
			cmd = append(cmd, "--", "lsp-set-port-security", p.Name, addr)
		}
		cmds = append(cmds, cmd)
	}
	return append(cmds, t.Extra...)
}

// SB is the ovn-sbctl commands that place ports on chassis: ch1 (the
// datapath under test) and ch2 (remote, 192.0.2.2).
func (t *Topo) SB() [][]string {
	cmds := [][]string{{"chassis-add", "ch2", "geneve", "192.0.2.2"}}
	for _, p := range t.Ports {
		if p.Localport {
			continue
		}
		ch := "ch1"
		if p.Remote {
			ch = "ch2"
		}
		cmds = append(cmds, []string{"lsp-bind", p.Name, ch})
	}
	return cmds
}

// Port returns the named port.
func (t *Topo) Port(name string) *Port {
	for i := range t.Ports {
		if t.Ports[i].Name == name {
			return &t.Ports[i]
		}
	}
	return nil
}

// Topologies is the set the harness runs.
func Topologies() []*Topo {
	return []*Topo{
		{Name: "switch-portsec-unknown", Ports: []Port{
			{Name: "a1", Switch: "ls1", MAC: "02:00:00:00:01:01", IP4: "198.51.100.11", PortSec: true},
			{Name: "a2", Switch: "ls1", MAC: "02:00:00:00:01:02", IP4: "198.51.100.12"},
			{Name: "a3", Switch: "ls1", MAC: "02:00:00:00:01:03", IP4: "198.51.100.13", Remote: true},
			{Name: "au", Switch: "ls1", MAC: "02:00:00:00:01:04", IP4: "198.51.100.14", Unknown: true},
		}},
		{Name: "router-two-switches", Ports: []Port{
			{Name: "b1", Switch: "lsb1", MAC: "02:00:00:00:02:01", IP4: "198.51.100.21", PortSec: true},
			{Name: "b2", Switch: "lsb1", MAC: "02:00:00:00:02:02", IP4: "198.51.100.22", Remote: true},
			{Name: "b3", Switch: "lsb2", MAC: "02:00:00:00:02:03", IP4: "203.0.113.23"},
			{Name: "b4", Switch: "lsb2", MAC: "02:00:00:00:02:04", IP4: "203.0.113.24", Remote: true},
		}, RPorts: []RouterPort{
			{Router: "rb", Switch: "lsb1", MAC: "02:00:5e:00:02:01", Net4: "198.51.100.1/24"},
			{Router: "rb", Switch: "lsb2", MAC: "02:00:5e:00:02:02", Net4: "203.0.113.1/24"},
		}},
		{Name: "two-routers-static", Ports: []Port{
			{Name: "c1", Switch: "lsc1", MAC: "02:00:00:00:03:01", IP4: "10.1.0.11"},
			{Name: "c2", Switch: "lsc2", MAC: "02:00:00:00:03:02", IP4: "10.2.0.12"},
			{Name: "c3", Switch: "lsc2", MAC: "02:00:00:00:03:03", IP4: "10.2.0.13", Remote: true},
		}, RPorts: []RouterPort{
			{Router: "rc1", Switch: "lsc1", MAC: "02:00:5e:00:03:01", Net4: "10.1.0.1/24"},
			{Router: "rc1", Switch: "lscj", MAC: "02:00:5e:00:03:a1", Net4: "10.255.0.1/24"},
			{Router: "rc2", Switch: "lscj", MAC: "02:00:5e:00:03:a2", Net4: "10.255.0.2/24"},
			{Router: "rc2", Switch: "lsc2", MAC: "02:00:5e:00:03:02", Net4: "10.2.0.1/24"},
		}, Extra: [][]string{
			{"lr-route-add", "rc1", "10.2.0.0/24", "10.255.0.2"},
			{"lr-route-add", "rc2", "10.1.0.0/24", "10.255.0.1"},
			{"lr-route-add", "rc1", "10.9.0.0/16", "10.255.0.2"},
		}, Far: []string{"10.9.1.1", "10.255.0.2", "10.255.0.1", "10.3.0.1"}},
		{Name: "acl-stateless", Ports: []Port{
			{Name: "d1", Switch: "lsd", MAC: "02:00:00:00:04:01", IP4: "192.0.2.41"},
			{Name: "d2", Switch: "lsd", MAC: "02:00:00:00:04:02", IP4: "192.0.2.42"},
			{Name: "d3", Switch: "lsd", MAC: "02:00:00:00:04:03", IP4: "192.0.2.43", Remote: true},
		}, Extra: [][]string{
			{"acl-add", "lsd", "from-lport", "1000", "ip4 && tcp.dst == 22", "drop"},
			{"acl-add", "lsd", "from-lport", "900", "ip4.src == 192.0.2.41 && udp", "allow-stateless"},
			{"acl-add", "lsd", "to-lport", "1000", `outport == "d2" && icmp4`, "drop"},
			{"acl-add", "lsd", "to-lport", "800", "udp.dst == 53", "drop"},
		}},
		{Name: "acl-stateful", Ports: []Port{
			{Name: "s1", Switch: "lss", MAC: "02:00:00:00:08:01", IP4: "192.0.2.81"},
			{Name: "s2", Switch: "lss", MAC: "02:00:00:00:08:02", IP4: "192.0.2.82"},
		}, Extra: [][]string{
			{"acl-add", "lss", "from-lport", "1000", "ip4 && tcp", "allow-related"},
			{"acl-add", "lss", "to-lport", "900", "udp.dst == 53", "drop"},
		}},
		{Name: "localport", Ports: []Port{
			{Name: "lp", Switch: "lse", MAC: "02:00:00:00:05:fe", IP4: "198.51.100.254", Localport: true},
			{Name: "e1", Switch: "lse", MAC: "02:00:00:00:05:01", IP4: "198.51.100.51"},
			{Name: "e2", Switch: "lse", MAC: "02:00:00:00:05:02", IP4: "198.51.100.52", Remote: true},
		}},
		{Name: "nested-containers", Ports: []Port{
			{Name: "f1", Switch: "lsf", MAC: "02:00:00:00:06:01", IP4: "203.0.113.61", PortSec: true},
			{Name: "f1c1", Switch: "lsf", MAC: "02:00:00:00:06:11", IP4: "203.0.113.71", Parent: "f1", Tag: 10},
			{Name: "f1c2", Switch: "lsf", MAC: "02:00:00:00:06:12", IP4: "203.0.113.72", Parent: "f1", Tag: 20, PortSec: true},
			{Name: "f2", Switch: "lsf", MAC: "02:00:00:00:06:02", IP4: "203.0.113.62"},
			{Name: "f3", Switch: "lsf", MAC: "02:00:00:00:06:03", IP4: "203.0.113.63", Remote: true},
		}},
		{Name: "ipv6-switch-router", Ports: []Port{
			{Name: "g1", Switch: "lsg1", MAC: "02:00:00:00:07:01", IP4: "10.7.1.11", IP6: "2001:db8:1::11", PortSec: true},
			{Name: "g2", Switch: "lsg1", MAC: "02:00:00:00:07:02", IP6: "2001:db8:1::12"},
			{Name: "g3", Switch: "lsg2", MAC: "02:00:00:00:07:03", IP6: "2001:db8:2::13"},
			{Name: "g4", Switch: "lsg2", MAC: "02:00:00:00:07:04", IP6: "2001:db8:2::14", Remote: true},
		}, RPorts: []RouterPort{
			{Router: "rg", Switch: "lsg1", MAC: "02:00:5e:00:07:01", Net4: "10.7.1.1/24", Net6: "2001:db8:1::1/64"},
			{Router: "rg", Switch: "lsg2", MAC: "02:00:5e:00:07:02", Net6: "2001:db8:2::1/64"},
		}},
	}
}

// Generate makes n packets for t, deterministic for a seed.
func Generate(t *Topo, seed uint64, n int) []Packet {
	r := rand.New(rand.NewPCG(seed, 0x0d1ff7ace))
	var local []*Port
	for i := range t.Ports {
		if !t.Ports[i].Remote {
			local = append(local, &t.Ports[i])
		}
	}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	randMAC := func() net.HardwareAddr {
		return net.HardwareAddr{0x02, 0xde, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}
	}
	ttls := []uint8{64, 64, 64, 0, 1, 2, 255, 128}
	var out []Packet
	for len(out) < n {
		in := local[r.IntN(len(local))]
		p := Packet{InPort: in.Name, EthSrc: mustMAC(in.MAC)}
		src4, src6 := in.IP4, in.IP6
		if r.IntN(20) == 0 {
			p.EthSrc, p.Name = randMAC(), "spoofed-mac/"
		} else if r.IntN(20) == 0 {
			src4, src6, p.Name = "198.51.100.199", "2001:db8:99::99", "spoofed-ip/"
		}
		// who else is there
		var peers []*Port
		for i := range t.Ports {
			if q := &t.Ports[i]; q != in {
				peers = append(peers, q)
			}
		}
		peer := peers[r.IntN(len(peers))]
		var gw *RouterPort
		for i := range t.RPorts {
			if t.RPorts[i].Switch == in.Switch {
				gw = &t.RPorts[i]
			}
		}
		ipv6 := src6 != "" && (src4 == "" || r.IntN(2) == 0)
		if ipv6 && src4 != "" && src6 == "" {
			ipv6 = false
		}
		srcIP := src4
		if ipv6 {
			srcIP = src6
		}
		if srcIP == "" {
			srcIP = "0.0.0.0"
		}
		ipPkt := func(dst string) *IP {
			ip := &IP{Src: netip.MustParseAddr(srcIP), Dst: netip.MustParseAddr(dst), TTL: ttls[r.IntN(len(ttls))],
				SrcPort: uint16(1024 + r.IntN(60000)), DstPort: uint16([]int{22, 53, 80, 443, 8080, 5000}[r.IntN(6)])}
			switch r.IntN(3) {
			case 0:
				ip.Proto, ip.TCPFlags = "tcp", []uint16{0x002, 0x010, 0x012, 0x011}[r.IntN(4)]
			case 1:
				ip.Proto = "udp"
			default:
				ip.Proto, ip.ICMPType = "icmp", 8
				if ip.Src.Is6() {
					ip.ICMPType = 128
				}
			}
			return ip
		}
		peerIP := func(q *Port) string {
			if ipv6 {
				if q.IP6 != "" {
					return q.IP6
				}
				return "2001:db8:1::77"
			}
			if q.IP4 != "" {
				return q.IP4
			}
			return "10.7.1.77"
		}
		k := r.IntN(100)
		switch {
		case k < 25: // to a peer by its MAC
			p.Name += "unicast"
			p.EthDst = mustMAC(peer.MAC)
			p.IP = ipPkt(peerIP(peer))
		case k < 45 && gw != nil: // through the router
			p.Name += "routed"
			p.EthDst = mustMAC(gw.MAC)
			dsts := []string{}
			for _, q := range peers {
				if ip := peerIP(q); ip != "" {
					dsts = append(dsts, ip)
				}
			}
			for _, rp := range t.RPorts {
				for _, n := range []string{rp.Net4, rp.Net6} {
					if n != "" && strings.Contains(n, ":") == ipv6 {
						dsts = append(dsts, strings.Split(n, "/")[0])
					}
				}
			}
			if !ipv6 {
				dsts = append(dsts, t.Far...)
				dsts = append(dsts, "203.0.113.250", "192.0.2.250")
			} else {
				dsts = append(dsts, "2001:db8:2::99", "2001:db8:5::5")
			}
			p.IP = ipPkt(pick(dsts))
		case k < 55: // ARP request
			if ipv6 && src4 == "" {
				p.Name += "nd-ns"
				p.EthDst = mustMAC("33:33:ff:00:00:01")
				tgt := peerIP(peer)
				if gw != nil && r.IntN(2) == 0 && gw.Net6 != "" {
					tgt = strings.Split(gw.Net6, "/")[0]
				}
				p.IP = &IP{Src: netip.MustParseAddr(srcIP), Dst: netip.MustParseAddr("ff02::1:ff00:1"), TTL: 255, Proto: "ns",
					Target: netip.MustParseAddr(tgt), LLA: p.EthSrc}
				break
			}
			p.Name += "arp-request"
			p.EthDst = layersBroadcast
			tpa := []string{peer.IP4, "198.51.100.250"}
			if gw != nil && gw.Net4 != "" {
				tpa = append(tpa, strings.Split(gw.Net4, "/")[0])
			}
			tp := pick(tpa)
			if tp == "" {
				tp = "10.7.1.99"
			}
			sp := src4
			if sp == "" {
				sp = "10.7.1.98"
			}
			p.ARP = &ARP{Op: 1, SHA: p.EthSrc, THA: net.HardwareAddr{0, 0, 0, 0, 0, 0}, SPA: netip.MustParseAddr(sp), TPA: netip.MustParseAddr(tp)}
		case k < 62: // ARP reply / ND NA
			if ipv6 {
				p.Name += "nd-na"
				p.EthDst = mustMAC(peer.MAC)
				p.IP = &IP{Src: netip.MustParseAddr(srcIP), Dst: netip.MustParseAddr(peerIP(peer)), TTL: 255, Proto: "na",
					Target: netip.MustParseAddr(srcIP), LLA: p.EthSrc}
				break
			}
			p.Name += "arp-reply"
			dst := peer
			p.EthDst = mustMAC(dst.MAC)
			sp, tp := src4, dst.IP4
			if sp == "" {
				sp = "10.7.1.98"
			}
			if tp == "" {
				tp = "10.7.1.97"
			}
			if gw != nil && r.IntN(2) == 0 && gw.Net4 != "" {
				p.EthDst, tp = mustMAC(gw.MAC), strings.Split(gw.Net4, "/")[0]
			}
			p.ARP = &ARP{Op: 2, SHA: p.EthSrc, THA: p.EthDst, SPA: netip.MustParseAddr(sp), TPA: netip.MustParseAddr(tp)}
		case k < 70: // broadcast / multicast IP
			if ipv6 {
				p.Name += "multicast6"
				p.EthDst = mustMAC("33:33:00:00:00:01")
				p.IP = ipPkt("ff02::1")
				if p.IP.Proto == "tcp" {
					p.IP.Proto = "udp"
				}
			} else if r.IntN(2) == 0 {
				p.Name += "broadcast"
				p.EthDst = layersBroadcast
				p.IP = ipPkt("255.255.255.255")
				p.IP.Proto = "udp"
			} else {
				p.Name += "multicast4"
				p.EthDst = mustMAC("01:00:5e:01:02:03")
				p.IP = ipPkt("239.1.2.3")
				p.IP.Proto = "udp"
			}
		case k < 80: // unknown destination
			p.Name += "unknown-dst"
			p.EthDst = randMAC()
			p.IP = ipPkt(peerIP(peer))
		case k < 86: // VLAN-tagged frame from the port itself
			p.Name += "vlan-tagged"
			p.EthDst = mustMAC(peer.MAC)
			p.VLAN = uint16(100 + r.IntN(3000))
			p.IP = ipPkt(peerIP(peer))
		case k < 90: // another Ethernet type
			p.Name += "ethertype"
			p.EthDst = mustMAC(pick([]string{peer.MAC, "ff:ff:ff:ff:ff:ff"}))
			p.EthType = uint16(pick2(r, []uint16{0x88b5, 0x88b6, 0x1234, 0x0807}))
		default: // to a peer's MAC with another peer's address
			p.Name += "mixed"
			other := peers[r.IntN(len(peers))]
			p.EthDst = mustMAC(peer.MAC)
			p.IP = ipPkt(peerIP(other))
		}
		if p.EthDst == nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

var layersBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func pick2(r *rand.Rand, s []uint16) uint16 { return s[r.IntN(len(s))] }

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// SBRows reads the Port_Binding and Multicast_Group rows of a snapshot
// (`ovn-sbctl --format=json list` per table).
type SBRows struct {
	Ports  map[string]SBPort // by logical_port
	Groups []SBGroup
}

// SBPort is the part of a Port_Binding the runner binds from.
type SBPort struct {
	UUID, Type, Datapath, Peer string
	PortSecurity               []string
}

// SBGroup is a Multicast_Group: its datapath uuid, name and member uuids.
type SBGroup struct {
	Datapath, Name string
	Members        []string
}

// ParseSBRows reads the rows of a snapshot.
func ParseSBRows(raw []byte) (*SBRows, error) {
	var top map[string]struct {
		Headings []string `json:"headings"`
		Data     [][]any  `json:"data"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decoding snapshot: %w", err)
	}
	rows := func(tbl string) []map[string]any {
		t := top[tbl]
		var out []map[string]any
		for _, d := range t.Data {
			m := map[string]any{}
			for i, h := range t.Headings {
				if i < len(d) {
					m[h] = d[i]
				}
			}
			out = append(out, m)
		}
		return out
	}
	s := &SBRows{Ports: map[string]SBPort{}}
	for _, r := range rows("Port_Binding") {
		p := SBPort{UUID: atomStr(r["_uuid"]), Type: atomStr(r["type"]), Datapath: atomStr(r["datapath"]),
			PortSecurity: setStrs(r["port_security"])}
		p.Peer = mapStrs(r["options"])["peer"]
		s.Ports[atomStr(r["logical_port"])] = p
	}
	for _, r := range rows("Multicast_Group") {
		s.Groups = append(s.Groups, SBGroup{Datapath: atomStr(r["datapath"]), Name: atomStr(r["name"]), Members: setStrs(r["ports"])})
	}
	return s, nil
}

// atomStr reads a string or ["uuid", x] datum.
func atomStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		if len(v) == 2 {
			if tag, _ := v[0].(string); tag == "uuid" {
				s, _ := v[1].(string)
				return s
			}
		}
	}
	return ""
}

func setStrs(v any) []string {
	if a, ok := v.([]any); ok && len(a) == 2 {
		if tag, _ := a[0].(string); tag == "set" {
			var out []string
			for _, e := range a[1].([]any) {
				out = append(out, atomStr(e))
			}
			return out
		}
	}
	if s := atomStr(v); s != "" {
		return []string{s}
	}
	return nil
}

func mapStrs(v any) map[string]string {
	out := map[string]string{}
	if a, ok := v.([]any); ok && len(a) == 2 {
		if pairs, ok := a[1].([]any); ok {
			for _, p := range pairs {
				if kv, ok := p.([]any); ok && len(kv) == 2 {
					out[atomStr(kv[0])] = atomStr(kv[1])
				}
			}
		}
	}
	return out
}
