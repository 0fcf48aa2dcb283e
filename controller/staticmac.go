package controller

import (
	"net"
	"net/netip"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/maps"
)

// Static_MAC_Binding rows (`ovn-nbctl static-mac-binding-add LOGICAL_PORT IP
// MAC`, copied by northd) feed get_arp/lookup_arp/get_nd/lookup_nd from the
// same map as MAC_Binding rows. ovn-controller installs the dynamic bindings
// at priority 100 and a static one at 150 with override_dynamic_mac, else at
// 50: an overriding static binding wins over a dynamic one of the same port
// and IP, a non-overriding one only fills in where there is none. The
// datapath learns into the same map (put_arp, put_nd): an overriding binding
// is written pinned so that what it learns does not replace it, while a
// filling one gives way as a dynamic binding would.

// macBinding is what a MAC binding's entry holds.
type macBinding struct {
	mac    string
	pinned bool
}

// localStaticMACBindings keeps the rows of the local datapaths (the monitor
// asks for no others, but with ovn-monitor-all it sends every row). The
// previous pass' map is reused while the table and the local datapaths are
// unchanged (reuse says so).
func localStaticMACBindings(v *sbView, local map[string]bool, prev *builtState, reuse bool) map[string]*sbdb.StaticMACBinding {
	if reuse && prev.state.StaticMACBindings != nil {
		return prev.state.StaticMACBindings
	}
	out := map[string]*sbdb.StaticMACBinding{}
	for u, smb := range v.staticMACs {
		if local[smb.Datapath] {
			out[u] = smb
		}
	}
	return out
}

// mergeStaticMACBindings adds the static bindings to want, which holds the
// dynamic ones (MAC_Binding rows) by key, with OVN's precedence. Where two
// static rows name one key (the same address written two ways) the lower MAC
// wins, so the result does not depend on map order.
func mergeStaticMACBindings(s *State, f *resolverFacts, want map[maps.MACBindingKey]macBinding) {
	override := map[maps.MACBindingKey]string{}
	fill := map[maps.MACBindingKey]string{}
	for _, smb := range s.StaticMACBindings {
		pk, ok := f.ports[smb.LogicalPort]
		ip, err := netip.ParseAddr(smb.IP)
		hw, herr := net.ParseMAC(smb.MAC)
		if !ok || err != nil || herr != nil || len(hw) != 6 || ip.Zone() != "" {
			continue // northd checks both when it copies the row; another writer's bad row is skipped as ovn-controller skips it
		}
		k := maps.MACBindingKey{Datapath: pk.dp, Port: pk.key, IP: ip.Unmap()}
		m := fill
		if smb.OverrideDynamicMAC {
			m = override
		}
		if old, dup := m[k]; dup && old < hw.String() {
			continue
		}
		m[k] = hw.String()
	}
	for k, mac := range fill {
		if _, dynamic := want[k]; !dynamic {
			if _, over := override[k]; !over {
				want[k] = macBinding{mac: mac}
			}
		}
	}
	for k, mac := range override {
		want[k] = macBinding{mac: mac, pinned: true}
	}
}
