package loader

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/maps"
)

var processedRe = regexp.MustCompile(`processed (\d+) insns`)

// VerifierStats loads every program of the datapath once, with the
// verifier's statistics, and returns the instructions it processed per
// program (what docs/datapath.md reports).
func VerifierStats() (map[string]int, error) {
	spec, err := maps.LoadDatapath()
	if err != nil {
		return nil, fmt.Errorf("loading datapath spec: %w", err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
	})
	if err != nil {
		return nil, fmt.Errorf("loading datapath: %w", err)
	}
	defer coll.Close()
	out := map[string]int{}
	for name, p := range coll.Programs {
		m := processedRe.FindStringSubmatch(p.VerifierLog)
		if m == nil {
			return nil, fmt.Errorf("%s: no instruction count in the verifier log", name)
		}
		n, _ := strconv.Atoi(m[1])
		out[name] = n
	}
	return out, nil
}
