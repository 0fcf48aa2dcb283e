package controller

import (
	"fmt"
	"net"
)

// fdbKey is an FDB entry's key: the datapath and the MAC, canonical.
type fdbKey struct {
	dp  uint32
	mac string
}

// applyFDB writes the Southbound's FDB rows of the local datapaths (the MACs
// that chassis learnt behind ports with unknown addresses) into the FDB map
// that get_fdb and lookup_fdb read, so this chassis delivers to a learnt MAC
// instead of flooding it. The map is also where this chassis' own put_fdb
// learns: a row that goes away removes the entry only while it still holds
// what was written from it, never a MAC the datapath has learnt since.
func (b *BPFDatapath) applyFDB(s *State) error {
	want := make(map[fdbKey]uint32, len(s.FDBs))
	for _, f := range s.FDBs {
		hw, err := net.ParseMAC(f.MAC)
		if err != nil || len(hw) != 6 || f.DpKey <= 0 || f.PortKey <= 0 {
			continue // northd writes only valid rows; another writer's bad row is not ours to fix
		}
		if _, ok := s.Datapaths[f.DpKey]; !ok {
			continue
		}
		want[fdbKey{uint32(f.DpKey), hw.String()}] = uint32(f.PortKey)
	}
	for k, port := range want {
		if old, ok := b.fdbs[k]; ok && old == port {
			continue
		}
		hw, _ := net.ParseMAC(k.mac)
		if err := b.st.SetFDB(k.dp, hw, port); err != nil {
			return err
		}
		b.fdbs[k] = port
	}
	for k, port := range b.fdbs {
		if _, ok := want[k]; ok {
			continue
		}
		hw, _ := net.ParseMAC(k.mac)
		now, ok, err := b.st.FDBPort(k.dp, hw)
		if err != nil {
			return fmt.Errorf("removing the FDB entry of %s on datapath %d: %w", k.mac, k.dp, err)
		}
		if ok && now == port {
			if err := b.st.DeleteFDB(k.dp, hw); err != nil {
				return err
			}
		}
		delete(b.fdbs, k)
	}
	return nil
}
