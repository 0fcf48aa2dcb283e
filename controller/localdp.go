package controller

import (
	"sort"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// LocalDatapaths returns the datapaths this chassis must run: those with a
// port bound here (main or additional), closed over patch ports (a packet
// crosses a patch port into the peer datapath's ingress on the same chassis)
// and l3gateway peers. missing lists peer ports whose Port_Binding is not
// known yet (not monitored): the monitor must ask for them by name.
func LocalDatapaths(ports map[string]*sbdb.PortBinding, roles map[string]Role) (local map[string]bool, missing []string) {
	local = map[string]bool{}
	var queue []string
	add := func(dp string) {
		if dp != "" && !local[dp] {
			local[dp] = true
			queue = append(queue, dp)
		}
	}
	for name, r := range roles {
		if r == RoleMain || r == RoleAdditional {
			if pb, ok := ports[name]; ok {
				add(pb.Datapath)
			}
		}
	}
	// Ports by datapath, for the walk.
	byDP := map[string][]*sbdb.PortBinding{}
	for _, pb := range ports {
		byDP[pb.Datapath] = append(byDP[pb.Datapath], pb)
	}
	seenMissing := map[string]bool{}
	for len(queue) > 0 {
		dp := queue[0]
		queue = queue[1:]
		for _, pb := range byDP[dp] {
			if pb.Type != "patch" && !(pb.Type == "l3gateway" && roles[pb.LogicalPort] == RoleMain) {
				continue
			}
			peer := pb.Options["peer"]
			if peer == "" {
				continue
			}
			if p, ok := ports[peer]; ok {
				add(p.Datapath)
			} else if !seenMissing[peer] {
				seenMissing[peer] = true
				missing = append(missing, peer)
			}
		}
	}
	sort.Strings(missing)
	return local, missing
}
