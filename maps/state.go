package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Port types, as the datapath sees them from this chassis.
const (
	PortVIF       = uint8(DatapathOvnbpfPortTypeOVNBPF_PORT_VIF)
	PortRemote    = uint8(DatapathOvnbpfPortTypeOVNBPF_PORT_REMOTE)
	PortPatch     = uint8(DatapathOvnbpfPortTypeOVNBPF_PORT_PATCH)
	PortLocalnet  = uint8(DatapathOvnbpfPortTypeOVNBPF_PORT_LOCALNET)
	PortLocalport = uint8(DatapathOvnbpfPortTypeOVNBPF_PORT_LOCALPORT)
	PortRedirect  = uint8(DatapathOvnbpfPortTypeOVNBPF_PORT_REDIRECT)
)

// BE32 stores a 4-byte address as the datapath keeps it (network order in
// memory) in a Go uint32 field of a generated type.
func BE32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

// Port describes one logical port for the output stage.
type Port struct {
	Datapath, Key uint32
	Type          uint8
	Ifindex       uint32     // VIF, localport, localnet: the device
	VLAN          uint16     // nested container tag, or localnet VLAN
	PeerDatapath  uint32     // patch
	PeerKey       uint32     // patch; redirect: the distributed port (same datapath)
	Chassis       netip.Addr // remote: the chassis' Geneve endpoint
}

// State writes the datapath's non-classifier maps: bindings, ports,
// multicast groups, port security, MAC bindings, settings.
type State struct{ m *DatapathMaps }

// NewState wraps the loaded maps.
func NewState(m *DatapathMaps) *State { return &State{m: m} }

// SetConfig writes the chassis-wide settings.
func (s *State) SetConfig(encapIP netip.Addr, underlayIfindex uint32, udpCsum bool) error {
	c := DatapathOvnbpfConfig{EncapIp: BE32(encapIP), UnderlayIfindex: underlayIfindex}
	if udpCsum {
		c.UdpCsum = 1
	}
	if err := s.m.OvnbpfCfg.Update(uint32(0), &c, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return s.bump()
}

// SetPort adds or replaces a port.
func (s *State) SetPort(p Port) error {
	k := DatapathOvnbpfPortKey{Dp: p.Datapath, Port: p.Key}
	v := DatapathOvnbpfPort{Type: p.Type, Vlan: p.VLAN, Ifindex: p.Ifindex, PeerDp: p.PeerDatapath, PeerPort: p.PeerKey}
	if p.Chassis.IsValid() {
		v.ChassisIp = BE32(p.Chassis)
	}
	if err := s.m.OvnbpfPorts.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing port %d/%d: %w", p.Datapath, p.Key, err)
	}
	return s.bump()
}

// DeletePort removes a port.
func (s *State) DeletePort(dp, key uint32) error {
	return s.deleteKey(s.m.OvnbpfPorts, &DatapathOvnbpfPortKey{Dp: dp, Port: key}, "port")
}

// FlagNested is OVN's nested-container flag (flags bit 5).
const FlagNested = 1 << 5

// BindVIF makes packets arriving on ifindex (with VLAN tag vlan, 0 for
// untagged) enter datapath dp as port key; a tagged binding is a nested
// container (the tag comes off, flags.nested-container is set). Until then
// the device forwards nothing.
func (s *State) BindVIF(ifindex uint32, vlan uint16, dp, key uint32, ctZone uint16) error {
	var flags uint16
	if vlan != 0 {
		flags = FlagNested
	}
	return s.bind(ifindex, vlan, dp, key, ctZone, flags)
}

// BindLocalnet makes packets arriving on a physical network device (with
// the localnet port's VLAN tag, which comes off) enter datapath dp as the
// localnet port key.
func (s *State) BindLocalnet(ifindex uint32, vlan uint16, dp, key uint32) error {
	return s.bind(ifindex, vlan, dp, key, 0, 0)
}

func (s *State) bind(ifindex uint32, vlan uint16, dp, key uint32, ctZone, flags uint16) error {
	k := DatapathOvnbpfVifKey{Ifindex: ifindex, Vlan: vlan}
	v := DatapathOvnbpfVif{Dp: dp, Port: key, CtZone: ctZone, Flags: flags}
	if err := s.m.OvnbpfVifs.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("binding device %d vlan %d: %w", ifindex, vlan, err)
	}
	return s.bump()
}

// UnbindVIF removes a device binding.
func (s *State) UnbindVIF(ifindex uint32, vlan uint16) error {
	return s.deleteKey(s.m.OvnbpfVifs, &DatapathOvnbpfVifKey{Ifindex: ifindex, Vlan: vlan}, "device binding")
}

// SetDatapath writes per-datapath facts.
func (s *State) SetDatapath(dp uint32, localnetPort uint32) error {
	v := DatapathOvnbpfDatapath{LocalnetPort: localnetPort}
	if err := s.m.OvnbpfDps.Update(dp, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing datapath %d: %w", dp, err)
	}
	return s.bump()
}

// SetMulticastGroup writes a group: its local member ports and the remote
// chassis that have members.
func (s *State) SetMulticastGroup(dp, key uint32, local []uint32, remote []netip.Addr) error {
	var v DatapathOvnbpfMcastGroup
	if len(local) > len(v.Ports) || len(remote) > len(v.Chassis) {
		return fmt.Errorf("multicast group %d/%d: %d local ports, %d chassis: at most %d and %d",
			dp, key, len(local), len(remote), len(v.Ports), len(v.Chassis))
	}
	v.N_ports = uint16(copy(v.Ports[:], local))
	for i, a := range remote {
		v.Chassis[i] = BE32(a)
	}
	v.N_chassis = uint16(len(remote))
	k := DatapathOvnbpfPortKey{Dp: dp, Port: key}
	if err := s.m.OvnbpfMcast.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing multicast group %d/%d: %w", dp, key, err)
	}
	return s.bump()
}

// PortSecurityEntry is one "MAC [IP/plen ...]" of Port_Binding.port_security.
type PortSecurityEntry struct {
	MAC      net.HardwareAddr
	Prefixes []netip.Prefix
}

// SetPortSecurity writes a port's port_security (nil removes it).
func (s *State) SetPortSecurity(dp, key uint32, entries []PortSecurityEntry) error {
	k := DatapathOvnbpfPortKey{Dp: dp, Port: key}
	if len(entries) == 0 {
		return s.deleteKey(s.m.OvnbpfPortsec, &k, "port security")
	}
	var v DatapathOvnbpfPortsecVal
	if len(entries) > len(v.E) {
		return fmt.Errorf("port %d/%d: %d port security entries, at most %d", dp, key, len(entries), len(v.E))
	}
	for i, e := range entries {
		d := &v.E[i]
		if len(e.MAC) != 6 {
			return fmt.Errorf("port %d/%d: bad MAC %q", dp, key, e.MAC)
		}
		copy(d.Mac[:], e.MAC)
		for _, p := range e.Prefixes {
			if p.Addr().Is4() {
				if int(d.N_ip4) >= len(d.Ip4) {
					return fmt.Errorf("port %d/%d: too many IPv4 addresses for %s", dp, key, e.MAC)
				}
				var m [4]byte
				for b := 0; b < p.Bits(); b++ {
					m[b/8] |= 0x80 >> (b % 8)
				}
				d.Ip4[d.N_ip4].Addr = BE32(p.Masked().Addr())
				d.Ip4[d.N_ip4].Mask = binary.NativeEndian.Uint32(m[:])
				d.N_ip4++
			} else {
				if int(d.N_ip6) >= len(d.Ip6) {
					return fmt.Errorf("port %d/%d: too many IPv6 addresses for %s", dp, key, e.MAC)
				}
				d.Ip6[d.N_ip6].Addr = p.Masked().Addr().As16()
				d.Ip6[d.N_ip6].Plen = uint8(p.Bits())
				d.N_ip6++
			}
		}
	}
	v.N = uint32(len(entries))
	if err := s.m.OvnbpfPortsec.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing port security of %d/%d: %w", dp, key, err)
	}
	return s.bump()
}

// macbindKey is the key of a MAC binding: kind 0 holds an IPv4 address in
// the first 4 bytes, kind 1 an IPv6 address.
func macbindKey(dp, port uint32, ip netip.Addr) DatapathOvnbpfMacbindKey {
	k := DatapathOvnbpfMacbindKey{Dp: dp, Port: port}
	if ip.Is4() {
		a := ip.As4()
		copy(k.Ip[:], a[:])
	} else {
		k.Kind = 1
		k.Ip = ip.As16()
	}
	return k
}

// SetMACBinding writes a MAC binding (logical port, IP) -> MAC. A pinned one
// (an overriding Static_MAC_Binding) is not replaced by what the datapath
// learns.
func (s *State) SetMACBinding(dp, port uint32, ip netip.Addr, mac net.HardwareAddr, pinned bool) error {
	k := macbindKey(dp, port, ip)
	var v DatapathOvnbpfMacbindVal
	copy(v.Mac[:], mac)
	if pinned {
		v.Flags = uint8(DatapathOvnbpfMacbindFlagOVNBPF_MACBIND_PINNED)
	}
	if err := s.m.OvnbpfMacbind.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing MAC binding %s on %d/%d: %w", ip, dp, port, err)
	}
	return s.bump()
}

// SetFDB writes a learnt (datapath, MAC) -> port.
func (s *State) SetFDB(dp uint32, mac net.HardwareAddr, port uint32) error {
	k := DatapathOvnbpfFdbKey{Dp: dp}
	copy(k.Mac[:], mac)
	v := DatapathOvnbpfFdbVal{Port: port}
	if err := s.m.OvnbpfFdb.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing FDB entry %s: %w", mac, err)
	}
	return s.bump()
}

// Drops returns the drop counters by reason name, summed over CPUs.
func (s *State) Drops() (map[string]uint64, error) {
	out := map[string]uint64{}
	for r := uint32(1); r < uint32(DatapathOvnbpfDropReasonOVNBPF_DROP__MAX); r++ {
		var per []uint64
		if err := s.m.OvnbpfDrops.Lookup(r, &per); err != nil {
			return nil, fmt.Errorf("reading drop counter %d: %w", r, err)
		}
		var sum uint64
		for _, c := range per {
			sum += c
		}
		if sum > 0 {
			out[DropReason(r)] = sum
		}
	}
	return out, nil
}

// LflowStats returns the per-lflow counters of one counter index.
func (s *State) LflowStats(idx uint32) (hits, unsupported uint64, err error) {
	var per []DatapathOvnbpfLflowStats
	if err := s.m.OvnbpfLflows.Lookup(idx, &per); err != nil {
		return 0, 0, fmt.Errorf("reading lflow counter %d: %w", idx, err)
	}
	for _, c := range per {
		hits += c.Hits
		unsupported += c.Unsupported
	}
	return hits, unsupported, nil
}

var dropNames = sync.OnceValue(func() map[uint32]string {
	names := map[uint32]string{}
	spec, err := LoadDatapath()
	if err != nil {
		return names
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName("ovnbpf_drop_reason", &e); err != nil {
		return names
	}
	const prefix = "OVNBPF_DROP_"
	for _, v := range e.Values {
		if strings.HasPrefix(v.Name, prefix) {
			names[uint32(v.Value)] = strings.ToLower(v.Name[len(prefix):])
		}
	}
	return names
})

// DropReason names a drop reason: the C enum's name (from the object's
// BTF), lower case, without its prefix.
func DropReason(r uint32) string {
	if n, ok := dropNames()[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", r)
}

func (s *State) deleteKey(m *ebpf.Map, k any, what string) error {
	if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing %s: %w", what, err)
	}
	return s.bump()
}

// bump invalidates the flow cache: every cached flow was computed from the
// state before this write.
func (s *State) bump() error {
	idx := uint32(DatapathOvnbpfGenIdxOVNBPF_GEN_CONTROL)
	var v uint32
	if err := s.m.OvnbpfGen.Lookup(idx, &v); err != nil {
		return fmt.Errorf("reading control epoch: %w", err)
	}
	if err := s.m.OvnbpfGen.Update(idx, v+1, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("bumping control epoch: %w", err)
	}
	return nil
}

// CacheStats returns the flow cache's hits, misses and inserts (all CPUs).
func (s *State) CacheStats() (hits, misses, inserts uint64, err error) {
	var out [3]uint64
	for i := range out {
		var per []uint64
		if err := s.m.OvnbpfStats.Lookup(uint32(i), &per); err != nil {
			return 0, 0, 0, fmt.Errorf("reading datapath stat %d: %w", i, err)
		}
		for _, c := range per {
			out[i] += c
		}
	}
	return out[0], out[1], out[2], nil
}

// FDBPort returns the port an FDB entry (datapath, MAC) holds, learnt or
// written, if any.
func (s *State) FDBPort(dp uint32, mac net.HardwareAddr) (uint32, bool, error) {
	k := DatapathOvnbpfFdbKey{Dp: dp}
	copy(k.Mac[:], mac)
	var v DatapathOvnbpfFdbVal
	err := s.m.OvnbpfFdb.Lookup(&k, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading FDB entry %s: %w", mac, err)
	}
	return v.Port, true, nil
}

// DeleteFDB removes the FDB entry (datapath, MAC).
func (s *State) DeleteFDB(dp uint32, mac net.HardwareAddr) error {
	k := DatapathOvnbpfFdbKey{Dp: dp}
	copy(k.Mac[:], mac)
	if err := s.m.OvnbpfFdb.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deleting FDB entry %s: %w", mac, err)
	}
	return s.bump()
}
