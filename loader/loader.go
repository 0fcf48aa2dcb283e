// Package loader loads the ovnbpf datapath, pins its maps and links under
// /sys/fs/bpf/ovnbpf/<system-id>/ and attaches it to devices with TCX.
//
// Layout of a chassis' pin directory:
//
//	/sys/fs/bpf/ovnbpf/<system-id>/<map>        every map (bpftool map dump pinned ...)
//	/sys/fs/bpf/ovnbpf/<system-id>/links/<dev>  one TCX link per attached device
//
// A restart loads the new programs against the pinned maps and swaps each
// pinned link's program in place (link.Update): no gap, no second attachment.
package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/maps"
)

// PinRoot is where every chassis keeps its pins, one directory per system-id.
const PinRoot = "/sys/fs/bpf/ovnbpf"

// PinDir is the pin directory of a chassis.
func PinDir(systemID string) string { return filepath.Join(PinRoot, systemID) }

// Datapath is a loaded datapath: its programs and (pinned) maps.
type Datapath struct {
	PinDir string
	Objs   maps.DatapathObjects
	// Replaced names the pinned maps that were left from a datapath of
	// another layout (an upgrade): all maps then start empty, for the daemon
	// to program again.
	Replaced []string
}

// Options change what Load does.
type Options struct {
	// MaxEntries overrides map sizes by map name (tests keep them small).
	MaxEntries map[string]uint32
	// LogVerifier keeps the verifier's statistics in each program's log.
	LogVerifier bool
	// FullVerifierLog asks for the verifier's whole branch log, so that a
	// program it refuses can be debugged (large and slow).
	FullVerifierLog bool
}

// Load loads the datapath with its maps pinned in pinDir (reusing the maps
// already pinned there) and wires its tail calls.
func Load(pinDir string, opts *Options) (*Datapath, error) {
	if opts == nil {
		opts = &Options{}
	}
	spec, err := maps.LoadDatapath()
	if err != nil {
		return nil, fmt.Errorf("loading datapath spec: %w", err)
	}
	for name, n := range opts.MaxEntries {
		ms, ok := spec.Maps[name]
		if !ok {
			return nil, fmt.Errorf("no map %q to resize", name)
		}
		ms.MaxEntries = n
	}
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating pin directory: %w", err)
	}
	replaced, err := dropIncompatiblePins(spec, pinDir)
	if err != nil {
		return nil, err
	}
	d := &Datapath{PinDir: pinDir, Replaced: replaced}
	copts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}
	if opts.LogVerifier {
		copts.Programs.LogLevel = ebpf.LogLevelStats
	}
	if opts.FullVerifierLog {
		copts.Programs.LogLevel = ebpf.LogLevelBranch | ebpf.LogLevelStats
		copts.Programs.LogSizeStart = 1 << 26
	}
	if err := spec.LoadAndAssign(&d.Objs, copts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading datapath: %w\n%s", err, strings.Join(tail(ve.Log, 80), "\n"))
		}
		return nil, fmt.Errorf("loading datapath: %w", err)
	}
	if err := d.Objs.OvnbpfJmp.Put(uint32(0), d.Objs.OvnbpfEmit); err != nil {
		d.Close()
		return nil, fmt.Errorf("wiring emit tail call: %w", err)
	}
	return d, nil
}

// dropIncompatiblePins removes every pinned map of pinDir when one of them
// no longer matches the spec (its key, value or size changed between
// versions): reusing it would refuse the load, and keeping the others would
// leave tables that point into entries that are gone. The links stay, so the
// old programs forward until the new ones replace them.
func dropIncompatiblePins(spec *ebpf.CollectionSpec, pinDir string) ([]string, error) {
	var incompatible []string
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, name), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading pinned map %s: %w", name, err)
		}
		err = ms.Compatible(m)
		m.Close()
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			incompatible = append(incompatible, name)
		} else if err != nil {
			return nil, fmt.Errorf("checking pinned map %s: %w", name, err)
		}
	}
	if len(incompatible) == 0 {
		return nil, nil
	}
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		if err := os.Remove(filepath.Join(pinDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing pinned map %s of an older layout: %w", name, err)
		}
	}
	sort.Strings(incompatible)
	return incompatible, nil
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// Close releases the loaded objects; pinned maps and links stay (the
// datapath keeps forwarding when the daemon exits).
func (d *Datapath) Close() error { return d.Objs.Close() }

// Unpin removes every pin of the chassis (maps and links): used when a
// chassis is removed for good, and by tests.
func Unpin(pinDir string) error {
	if err := os.RemoveAll(pinDir); err != nil {
		return fmt.Errorf("removing pins: %w", err)
	}
	return nil
}

// DefaultLflowCapacity is the number of logical flows the maps are built for
// (the size of ovnbpf_lflows in bpf/lib/maps.h).
const DefaultLflowCapacity = 131072

// Capacity sizes the maps that grow with the logical flows for n of them, in
// the proportions of bpf/lib/maps.h: per lflow a counter and a name, 8
// classifier entries, 2 wide ones and 2 op slots, and a logical port and a
// subtable mask per 2 lflows (northd writes about 4 lflows per port; a
// changed table holds its old and new masks until the swap, so a recompute
// that rewrites every table needs twice those in use: at 1000 x 100 more
// than the default 65,536). A size other than the pinned one starts the
// maps afresh (Datapath.Replaced).
func Capacity(n uint32) map[string]uint32 {
	return map[string]uint32{
		"ovnbpf_lflows": n, "ovnbpf_lfnames": n,
		"ovnbpf_rules": 8 * n, "ovnbpf_rules_w": 2 * n, "ovnbpf_ops": 2 * n,
		"ovnbpf_ports": n / 2, "ovnbpf_masks": n / 2,
	}
}
