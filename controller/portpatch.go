package controller

import (
	"maps"
	"slices"

	"github.com/ovnbpf/ovnbpf/loader"
	ovnmaps "github.com/ovnbpf/ovnbpf/maps"
)

// portOut is what one logical port (other than a localnet port) makes of the
// datapath's ports: its port entry, its device binding and the device that
// carries the VIF program.
type portOut struct {
	hasPort bool
	key     [2]uint32
	port    ovnmaps.Port
	hasBind bool
	vk      vifKey
	bind    binding
	dev     string
	idx     int
	// ref is the port whose key this one's entry reads (a patch port's
	// peer, a chassisredirect port's distributed port)
	ref string
}

// portIndex is how the last port phase's result was made, per logical port,
// so that a State that changes a few ports (State.PortDelta) is applied by
// looking at those alone and the ports whose entries read theirs.
type portIndex struct {
	outs    map[string]portOut
	refBy   map[string]map[string]bool // port -> the ports whose entries read it
	devUse  map[string]int             // device -> ports bound to it
	keyOf   map[[2]uint32]string       // port entry -> its port
	bindOf  map[vifKey]string          // device binding -> its port
	remotes int                        // PortRemote entries
	// localnet names the localnet ports (an index is kept only without
	// them: they depend on each other and on the VIFs' bindings)
	localnet map[string]bool
}

func newPortIndex() *portIndex {
	return &portIndex{outs: map[string]portOut{}, refBy: map[string]map[string]bool{}, devUse: map[string]int{},
		keyOf: map[[2]uint32]string{}, bindOf: map[vifKey]string{}, localnet: map[string]bool{}}
}

func (x *portIndex) add(name string, o portOut) {
	if o.ref != "" {
		if x.refBy[o.ref] == nil {
			x.refBy[o.ref] = map[string]bool{}
		}
		x.refBy[o.ref][name] = true
	}
	if !o.hasPort && !o.hasBind {
		if o.ref != "" {
			x.outs[name] = o
		}
		return
	}
	x.outs[name] = o
	if o.hasPort {
		x.keyOf[o.key] = name
		if o.port.Type == ovnmaps.PortRemote {
			x.remotes++
		}
	}
	if o.hasBind {
		x.bindOf[o.vk] = name
		x.devUse[o.dev]++
	}
}

func (x *portIndex) remove(name string) {
	o, ok := x.outs[name]
	if !ok {
		return
	}
	delete(x.outs, name)
	if o.ref != "" {
		delete(x.refBy[o.ref], name)
		if len(x.refBy[o.ref]) == 0 {
			delete(x.refBy, o.ref)
		}
	}
	if o.hasPort && x.keyOf[o.key] == name {
		delete(x.keyOf, o.key)
		if o.port.Type == ovnmaps.PortRemote {
			x.remotes--
		}
	}
	if o.hasBind {
		if x.bindOf[o.vk] == name {
			delete(x.bindOf, o.vk)
		}
		if x.devUse[o.dev]--; x.devUse[o.dev] <= 0 {
			delete(x.devUse, o.dev)
		}
	}
}

// derivePort is the port phase's decision for one port that is not a
// localnet port.
func (b *BPFDatapath) derivePort(s *State, f *resolverFacts, name string) portOut {
	pb, ok := s.Ports[name]
	if !ok {
		return portOut{}
	}
	pk, ok := f.ports[name]
	if !ok {
		return portOut{}
	}
	key := [2]uint32{pk.dp, pk.key}
	remote := func(o portOut) portOut {
		if ip, ok := remoteIP(s, name); ok {
			o.hasPort, o.key = true, key
			o.port = ovnmaps.Port{Datapath: pk.dp, Key: pk.key, Type: ovnmaps.PortRemote, Chassis: ip}
		}
		return o
	}
	lp, local := s.LocalPorts[name]
	switch pb.Type {
	case "", "localport":
		if local && lp.Ifindex > 0 {
			typ := ovnmaps.PortVIF
			if pb.Type == "localport" {
				typ = ovnmaps.PortLocalport
			}
			return portOut{hasPort: true, key: key,
				port:    ovnmaps.Port{Datapath: pk.dp, Key: pk.key, Type: typ, Ifindex: uint32(lp.Ifindex), VLAN: uint16(lp.Tag)},
				hasBind: true, vk: vifKey{uint32(lp.Ifindex), uint16(lp.Tag)}, bind: binding{dp: pk.dp, key: pk.key},
				dev: lp.Ifname, idx: lp.Ifindex}
		}
		if pb.Type == "" {
			return remote(portOut{})
		}
	case "patch", "l3gateway":
		o := portOut{ref: pb.Options["peer"]}
		peer, ok := f.ports[o.ref]
		if ok && (pb.Type == "patch" || s.PortChassis[name] == s.Chassis) {
			o.hasPort, o.key = true, key
			o.port = ovnmaps.Port{Datapath: pk.dp, Key: pk.key, Type: ovnmaps.PortPatch, PeerDatapath: peer.dp, PeerKey: peer.key}
			return o
		}
		return remote(o)
	case "chassisredirect", "external", "l2gateway":
		if pb.Type == "chassisredirect" && s.PortChassis[name] == s.Chassis {
			// the active gateway: output to it is output to its
			// distributed port on the same datapath (OVN drops it
			// when that port is missing or elsewhere)
			o := portOut{ref: pb.Options["distributed-port"]}
			if d, ok := f.ports[o.ref]; ok && d.dp == pk.dp {
				o.hasPort, o.key = true, key
				o.port = ovnmaps.Port{Datapath: pk.dp, Key: pk.key, Type: ovnmaps.PortRedirect, PeerDatapath: pk.dp, PeerKey: d.key}
			}
			return o
		}
		o := portOut{}
		if pb.Type == "chassisredirect" {
			o.ref = pb.Options["distributed-port"]
		}
		return remote(o)
	}
	return portOut{}
}

// patchPorts applies a State whose ports differ from the last applied ones
// only in s.PortDelta's: it looks at those and at the ports whose entries
// read theirs. false (having written nothing): it cannot, walk them all.
func (b *BPFDatapath) patchPorts(s *State, f *resolverFacts) (bool, error) {
	x := b.portIdx
	in := b.portsIn
	d := s.PortDelta
	if x == nil || d == nil || in.ports == nil || d.Base != in.ports || len(b.lnErr) > 0 || len(b.neighErr) > 0 ||
		in.datapaths != mapPointer(s.Datapaths) || in.underlay != b.underlay || in.chassis != s.Chassis || !mapsEqual(in.bridgeMappings, s.BridgeMappings) ||
		(in.remoteChassis != mapPointer(s.RemoteChassis) && !maps.Equal(b.portsRemote, s.RemoteChassis)) {
		return false, nil
	}
	look := map[string]bool{}
	for _, name := range d.Changed {
		if pb, ok := s.Ports[name]; ok && pb.Type == "localnet" {
			return false, nil // localnet ports depend on each other: walk them all
		}
		look[name] = true
		for r := range x.refBy[name] {
			look[r] = true
		}
	}
	names := slices.Sorted(maps.Keys(look))
	nw := make(map[string]portOut, len(names))
	for _, name := range names {
		nw[name] = b.derivePort(s, f, name)
	}
	// An entry or binding of a port not looked at, taken by one that is,
	// or two looked at that take one (the walk keeps either): walk them all.
	keys, vks := map[[2]uint32]bool{}, map[vifKey]bool{}
	for _, name := range names {
		o := nw[name]
		if o.hasPort {
			if owner, ok := x.keyOf[o.key]; (ok && !look[owner]) || keys[o.key] {
				return false, nil
			}
			keys[o.key] = true
		}
		if o.hasBind {
			if owner, ok := x.bindOf[o.vk]; (ok && !look[owner]) || vks[o.vk] {
				return false, nil
			}
			vks[o.vk] = true
		}
	}
	var oldKeys [][2]uint32
	var oldVKs []vifKey
	var oldDevs []string
	remotes := x.remotes > 0
	for _, name := range names {
		if o, ok := x.outs[name]; ok {
			if o.hasPort {
				oldKeys = append(oldKeys, o.key)
			}
			if o.hasBind {
				oldVKs, oldDevs = append(oldVKs, o.vk), append(oldDevs, o.dev)
			}
		}
		x.remove(name)
	}
	for _, name := range names {
		x.add(name, nw[name])
	}
	remotes = remotes || x.remotes > 0

	// The same order as a walk: ports, programs, bindings, then what went.
	changed := make(map[[2]uint32]bool, len(b.moved))
	for k := range b.moved {
		changed[k] = true
	}
	for _, name := range names {
		o := nw[name]
		if !o.hasPort {
			continue
		}
		if old, ok := b.ports[o.key]; !ok || old != o.port {
			if err := b.st.SetPort(o.port); err != nil {
				return true, err
			}
			b.ports[o.key] = o.port
			changed[o.key] = true
		}
	}
	for _, k := range oldKeys {
		if _, ok := x.keyOf[k]; !ok {
			if _, ok := b.ports[k]; ok {
				if err := b.st.DeletePort(k[0], k[1]); err != nil {
					return true, err
				}
				delete(b.ports, k)
				changed[k] = true
			}
		}
	}
	for _, name := range names {
		o := nw[name]
		if !o.hasBind {
			continue
		}
		if b.attached[o.dev] != o.idx {
			if err := b.dp.Attach(o.dev, o.idx, loader.HookVIF); err != nil {
				return true, err
			}
			b.attached[o.dev] = o.idx
		}
	}
	for _, name := range names {
		o := nw[name]
		if !o.hasBind {
			continue
		}
		if old, ok := b.binds[o.vk]; ok && old == o.bind {
			continue
		}
		if err := b.st.BindVIF(o.vk.ifindex, o.vk.vlan, o.bind.dp, o.bind.key, b.zone(o.bind)); err != nil {
			return true, err
		}
		b.binds[o.vk] = o.bind
	}
	for _, k := range oldVKs {
		if _, ok := x.bindOf[k]; !ok {
			if _, ok := b.binds[k]; ok {
				if err := b.st.UnbindVIF(k.ifindex, k.vlan); err != nil {
					return true, err
				}
				delete(b.binds, k)
			}
		}
	}
	for _, dev := range oldDevs {
		if _, ok := x.devUse[dev]; !ok {
			if _, ok := b.attached[dev]; ok {
				if err := b.dp.Detach(dev, loader.HookVIF); err != nil {
					return true, err
				}
				delete(b.attached, dev)
			}
		}
	}
	if err := b.applyPortSecurity(s, f); err != nil {
		return true, err
	}
	if remotes {
		b.applyNeighbours(b.ports)
	}
	b.portsRemote = s.RemoteChassis
	return true, b.applyMulticast(s, f, b.ports, changed)
}
