package e2e

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/internal/lab"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/maps"
)

// A bulk TCP transfer across chassis, both ways. Where both chassis are
// ovnbpf it is unpaced and the segments a VM sends must cross the tunnel as
// GSO packets (GRO on the VIF, an encapsulation and a decapsulation that keep
// GSO): frames longer than the MTU reach the receiving VM. On every ovnbpf
// chassis no packet may be lost building, routing or removing Geneve (a GSO
// packet once met a next-hop lookup that took its whole length for one
// frame's and dropped it).
func TestPrivilegedTCPBulk(t *testing.T) { scenario(t, tcpBulk) }

func tcpBulk(e *env) {
	t := e.t
	allOVNBPF := len(e.flavours) == 1 && e.flavours[lab.FlavourOVNBPF]
	for _, pair := range [][2]string{{"vm1", "vm2"}, {"vm2", "vm1"}} {
		from, to := pair[0], pair[1]
		before := e.tunnelDrops()
		args := []string{"-t", "2"}
		var larger func() int
		if allOVNBPF {
			larger = e.capture(to, "tcp and greater 1600")
		} else {
			args = append(args, "-b", "200M") // see TestPrivilegedTCPIperf
		}
		out, err := e.iperf(from, to, args...)
		if err != nil {
			t.Fatalf("iperf3 %s -> %s: %v\n%s", from, to, err, lastLines(out))
		}
		if larger != nil {
			if n := larger(); n == 0 {
				t.Errorf("%s -> %s: no frame longer than the MTU arrived: GSO did not survive the tunnel", from, to)
			}
		}
		after := e.tunnelDrops()
		for k, n := range after {
			if n != before[k] {
				t.Errorf("%s -> %s: %d %s drops", from, to, n-before[k], k)
			}
		}
	}
}

// tunnelDrops reads, per ovnbpf chassis, the drop counters of the Geneve
// path: encapsulation, next hop, redirect, decapsulation.
func (e *env) tunnelDrops() map[string]uint64 {
	e.t.Helper()
	reasons := []maps.DatapathOvnbpfDropReason{
		maps.DatapathOvnbpfDropReasonOVNBPF_DROP_ENCAP, maps.DatapathOvnbpfDropReasonOVNBPF_DROP_NO_NEIGH,
		maps.DatapathOvnbpfDropReasonOVNBPF_DROP_REDIRECT, maps.DatapathOvnbpfDropReasonOVNBPF_DROP_DECAP,
	}
	out := map[string]uint64{}
	for _, c := range e.lab.Chassis {
		if c.Flavour != lab.FlavourOVNBPF {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(loader.PinDir(lab.SystemID(labName, c.Name)), "ovnbpf_drops"), nil)
		if err != nil {
			e.t.Fatalf("drop counters of %s: %v", c.Name, err)
		}
		for _, r := range reasons {
			var per []uint64
			if err := m.Lookup(uint32(r), &per); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				m.Close()
				e.t.Fatalf("drop counter %s of %s: %v", maps.DropReason(uint32(r)), c.Name, err)
			}
			for _, n := range per {
				out[c.Name+" "+maps.DropReason(uint32(r))] += n
			}
		}
		m.Close()
	}
	return out
}
