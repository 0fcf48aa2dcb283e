package controller

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	gomaps "maps"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

// BPFDatapath is the Datapath the daemon runs: it compiles the local
// datapaths' logical flows with pipeline.Compiler (incrementally: only new,
// changed or invalidated flows are recompiled, only changed tables are
// written), installs them with maps.Installer, writes the port, binding and
// multicast maps with maps.State, and attaches the programs (loader) to the
// VIFs and the underlay device. Apply returns once the maps hold the state.
type BPFDatapath struct {
	// mu keeps a dump (control socket) from reading the maps mid-apply.
	mu   sync.Mutex
	dp   *loader.Datapath
	inst *maps.Installer
	st   *maps.State
	comp *pipeline.Compiler
	res  *stateResolver

	// rows remembers, per lflow handed to the compiler, which Southbound row
	// (and local datapaths) it was converted from, so that an unchanged row
	// is not converted again, and the signature of what was compiled.
	rows map[string]flowRow
	// the State maps and local datapaths the rows were derived from: the
	// controller hands the same maps while nothing in them changed
	lastFlows, lastGroups unsafe.Pointer
	lastDPKeys            map[string]uint32
	// full is set for a pass that rewrites everything and deletes what it
	// did not write: an operator's recompute, and the first pass after
	// start (the pins may hold state from a previous run).
	full     bool
	applied  bool
	dps      map[uint32]uint32 // local datapath -> its localnet port (0: none) written
	ports    map[[2]uint32]maps.Port
	binds    map[vifKey]binding // device binding -> port
	lnErr    []string           // localnet ports that could not be bound, from the last Apply
	mcast    map[[2]uint32]mcastMembers
	macs     map[maps.MACBindingKey]macBinding // MAC binding -> what was written
	fdbs     map[fdbKey]uint32                 // Southbound FDB row -> port written
	portsec  map[[2]uint32]string              // (dp, port) -> port_security written
	psErrs   []string                          // malformed port_security, from the last Apply
	cfgErr   string                            // the underlay could not be set up fully
	neighs   map[netip.Addr]neighRef           // remote chassis -> the managed neighbour entry made for it
	neighErr []string
	attached map[string]int // ifname -> ifindex carrying a program
	underlay string
	config   string
	zones    map[string]uint16 // logical port -> conntrack zone
	tables   map[maps.TableID]bool
	// ruleErrs are the rules the installer could not hold, per table, as of
	// the last apply that handed it the table
	ruleErrs map[maps.TableID][]maps.RuleError
	// Unsupported lists the lflows the compiler could not handle (uuid:
	// reason), from the last Apply; they are skipped, the rest is installed.
	Unsupported []string
	stats       ApplyStats
	// portsIn are the State maps the ports, bindings, port security,
	// multicast groups and MAC bindings were last written from, in full
	// (zero: not since the last reset): the same maps again write nothing
	portsIn portInputs
	// moved are the ports (dp, key) whose name came, went or changed key
	// in this Apply (invalidate): multicast groups naming them are
	// resolved again
	moved map[[2]uint32]bool
	// byUUID: the ports' names by Port_Binding uuid, of the State's Ports
	// map byUUIDOf
	byUUID      map[string]string
	byUUIDOf    unsafe.Pointer
	byUUIDPorts map[string]*sbdb.PortBinding // the map byUUIDOf names
	// portIdx: how the ports of portsIn were made, per port (portpatch.go;
	// nil: walk them all), and the RemoteChassis map they were made with
	portIdx     *portIndex
	portsRemote map[string]string
	stages      lflowStages // the compiler's errors and their stage names (lflowstage.go)
}

// ApplyStats says what the last Apply did with the flows: lflows handed to
// the compiler, tables handed to the installer (and skipped by it as
// installed from the same rules), classifier entries written and deleted.
type ApplyStats struct {
	Upserts, Tables, TablesSkipped, EntriesWritten, EntriesDeleted int
	RuleErrors                                                     int // rules the installer left out
	FirstError                                                     string
	// Ports says how the ports were applied: "kept" (the same maps),
	// "patched" (the changed ports alone) or "walked" (every port)
	Ports string
}

// LastApply returns what the last Apply did (for the daemon's debug log).
func (b *BPFDatapath) LastApply() ApplyStats { return b.stats }

type flowRow struct {
	row *sbdb.LogicalFlow
	dps []uint32
	sig flowHash
}

type vifKey struct {
	ifindex uint32
	vlan    uint16
}

// binding is what a device (and VLAN) enters: a VIF's port, or a localnet
// port (no conntrack zone, no nested-container flag).
type binding struct {
	dp, key  uint32
	localnet bool
}

// NewBPFDatapath loads (or re-attaches to) the datapath pinned for this
// chassis under loader.PinDir(systemID), with its maps sized for
// lflowCapacity logical flows (0: loader.DefaultLflowCapacity).
func NewBPFDatapath(systemID string, lflowCapacity uint32) (*BPFDatapath, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &fs); err != nil || fs.Type != unix.BPF_FS_MAGIC {
		// `ip netns exec` mounts a fresh /sys without it; pins made on a
		// private bpffs would vanish with the daemon, and so would the
		// datapath.
		return nil, fmt.Errorf("/sys/fs/bpf is not the host's bpffs (mount -t bpf bpf /sys/fs/bpf; " +
			"inside a network namespace start ovnbpfd with `nsenter --net=/run/netns/NAME`, not `ip netns exec`, which remounts /sys)")
	}
	var opts *loader.Options
	if lflowCapacity != 0 && lflowCapacity != loader.DefaultLflowCapacity {
		opts = &loader.Options{MaxEntries: loader.Capacity(lflowCapacity)}
	}
	d, err := loader.Load(loader.PinDir(systemID), opts)
	if err != nil {
		return nil, fmt.Errorf("loading the datapath: %w", err)
	}
	inst, err := maps.NewInstaller(&d.Objs.DatapathMaps)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("reading the installed tables: %w", err)
	}
	res := &stateResolver{}
	b := &BPFDatapath{dp: d, inst: inst, st: maps.NewState(&d.Objs.DatapathMaps),
		comp: pipeline.NewCompiler(res), res: res, rows: map[string]flowRow{}, ruleErrs: map[maps.TableID][]maps.RuleError{},
		neighs: map[netip.Addr]neighRef{}, attached: map[string]int{}, zones: map[string]uint16{}}
	b.resetWritten()
	for _, id := range inst.InstalledTables() {
		b.tables[id] = true // read back from the pins: the first pass removes those no longer wanted
	}
	return b, nil
}

// Problems returns what the last Apply skipped: lflows the compiler could
// not handle (with uuid and reason) and malformed port security.
func (b *BPFDatapath) Problems() []string {
	p := append([]string(nil), b.psErrs...)
	if b.cfgErr != "" {
		p = append(p, b.cfgErr)
	}
	p = append(p, b.neighErr...)
	p = append(p, b.lnErr...)
	if n, first := b.installErrors(); n > 0 {
		p = append(p, fmt.Sprintf("%d classifier rules are not installed (the rest of their tables are): %s", n, first))
	}
	return append(p, b.Unsupported...)
}

// installErrors counts the rules the installer left out of the tables it
// holds, and names the first (by table) for the log.
func (b *BPFDatapath) installErrors() (int, string) {
	n, first := 0, ""
	var firstID maps.TableID
	for id, errs := range b.ruleErrs {
		n += len(errs)
		if first == "" || id.Datapath < firstID.Datapath || id.Datapath == firstID.Datapath &&
			(id.Pipeline < firstID.Pipeline || id.Pipeline == firstID.Pipeline && id.Table < firstID.Table) {
			first, firstID = errs[0].Error(), id
		}
	}
	return n, first
}

// Devices names the devices the datapath has programs on (the underlay
// device and the bound VIF and localnet devices): their link changes
// matter to it.
func (b *BPFDatapath) Devices() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.attached)+1)
	if b.underlay != "" {
		out = append(out, b.underlay)
	}
	for name := range b.attached {
		out = append(out, name)
	}
	return out
}

// PinDir is where the datapath is pinned.
func (b *BPFDatapath) PinDir() string { return b.dp.PinDir }

// ReplacedMaps names the pinned maps found with another layout (an upgrade)
// at load: every map then started empty.
func (b *BPFDatapath) ReplacedMaps() []string { return b.dp.Replaced }

// Close releases the loaded objects; the pins stay (the datapath forwards).
func (b *BPFDatapath) Close() error { return b.dp.Close() }

// Cleanup removes every pin of this chassis (--cleanup-on-exit).
func (b *BPFDatapath) Cleanup(context.Context) error {
	for ifname := range b.attached {
		_ = b.dp.Detach(ifname, loader.HookVIF)
	}
	if b.underlay != "" {
		_ = b.dp.Detach(b.underlay, loader.HookUnderlay)
	}
	b.applyNeighbours(nil) // the managed neighbour entries go too
	b.dp.Close()
	return loader.Unpin(b.dp.PinDir)
}

// resetWritten forgets what was written to the state maps: the next pass
// writes everything again.
func (b *BPFDatapath) resetWritten() {
	b.dps, b.ports, b.binds = map[uint32]uint32{}, map[[2]uint32]maps.Port{}, map[vifKey]binding{}
	b.mcast, b.macs, b.portsec = map[[2]uint32]mcastMembers{}, map[maps.MACBindingKey]macBinding{}, map[[2]uint32]string{}
	b.portsIn = portInputs{}
	b.fdbs = map[fdbKey]uint32{}
	if b.tables == nil {
		b.tables = map[maps.TableID]bool{}
	}
	b.config = ""
}

// DumpMaps renders the maps canonically (ovnbpfctl dump-maps).
func (b *BPFDatapath) DumpMaps() (*maps.Dump, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.DumpMaps(&b.dp.Objs.DatapathMaps)
}

// Apply makes the datapath forward s.
func (b *BPFDatapath) Apply(ctx context.Context, s *State) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.full = s.Full || !b.applied
	if b.full {
		b.resetWritten()
	}
	if s.Resync {
		if err := b.inst.Resync(); err != nil {
			return fmt.Errorf("reading the installed tables back: %w", err)
		}
	}
	if err := b.apply(s); err != nil {
		return err
	}
	if b.full {
		if err := b.prune(b.res.facts); err != nil {
			return err
		}
	}
	b.applied = true
	return nil
}

func (b *BPFDatapath) apply(s *State) error {
	old := b.res.facts
	if b.full {
		old = nil
	}
	facts := newResolverFacts(s, old)
	b.res.set(facts)
	b.moved = map[[2]uint32]bool{}
	if b.full {
		b.comp.InvalidateAll()
	}
	if err := b.applyConfig(s); err != nil {
		return err
	}
	if err := b.applyFlows(s, old, facts); err != nil {
		return err
	}
	in := portInputsOf(s, b.underlay)
	b.stats.Ports = "kept"
	if b.full || !in.same(&b.portsIn) || len(b.lnErr) > 0 || len(b.neighErr) > 0 {
		patched := false
		var err error
		if !b.full {
			patched, err = b.patchPorts(s, facts)
		}
		b.portsIn = portInputs{}
		b.stats.Ports = "patched"
		if !patched && err == nil {
			b.stats.Ports = "walked"
			err = b.applyPorts(s, facts)
		}
		if err != nil {
			b.portIdx = nil
			// what moved in this pass is not known to the next: it
			// resolves every multicast group again
			for k, m := range b.mcast {
				m.row = nil
				b.mcast[k] = m
			}
			return err
		}
		b.portsIn = in
	}
	return b.applyFDB(s)
}

// portInputs identify what applyPorts reads: the State's maps (by
// identity: the controller hands the same maps while their rows are the
// same, and a State is never modified), this chassis and the underlay.
type portInputs struct {
	ports, localPorts, portChassis, remoteChassis, datapaths unsafe.Pointer
	mcast, macs, staticMACs                                  unsafe.Pointer
	bridgeMappings                                           map[string]string
	chassis, underlay                                        string
}

func portInputsOf(s *State, underlay string) portInputs {
	return portInputs{ports: mapPointer(s.Ports), localPorts: mapPointer(s.LocalPorts), portChassis: mapPointer(s.PortChassis),
		remoteChassis: mapPointer(s.RemoteChassis), datapaths: mapPointer(s.Datapaths), mcast: mapPointer(s.MulticastGroups),
		macs: mapPointer(s.MACBindings), staticMACs: mapPointer(s.StaticMACBindings),
		bridgeMappings: s.BridgeMappings, chassis: s.Chassis, underlay: underlay}
}

func (p *portInputs) same(o *portInputs) bool {
	return p.ports != nil && p.ports == o.ports && p.localPorts == o.localPorts && p.portChassis == o.portChassis &&
		p.remoteChassis == o.remoteChassis && p.datapaths == o.datapaths && p.mcast == o.mcast && p.macs == o.macs &&
		p.staticMACs == o.staticMACs && p.chassis == o.chassis && p.underlay == o.underlay &&
		mapsEqual(p.bridgeMappings, o.bridgeMappings)
}

// invalidate tells the compiler which names changed meaning.
func (b *BPFDatapath) invalidate(old, nw *resolverFacts) {
	if old == nil {
		return
	}
	// Facts taken over from the previous pass (newResolverFacts) are the
	// same maps: nothing in them changed meaning.
	portNames, residentNames := gomaps.Keys(nw.ports), gomaps.Keys(nw.resident) // and old's
	oldPortNames, oldResidentNames := gomaps.Keys(old.ports), gomaps.Keys(old.resident)
	if nw.portsFrom != nil && nw.portsFrom == mapPointer(old.ports) {
		portNames, residentNames = slices.Values(nw.portsChanged), slices.Values(nw.portsChanged)
		oldPortNames, oldResidentNames = slices.Values(nw.portsChanged), slices.Values(nw.portsChanged)
	}
	if mapPointer(nw.ports) != mapPointer(old.ports) {
		for name := range portNames {
			v, ok := nw.ports[name]
			if !ok {
				continue
			}
			if o, ok := old.ports[name]; !ok || o != v {
				b.comp.InvalidatePort(name)
				b.moved[[2]uint32{v.dp, v.key}] = true
				if ok {
					b.moved[[2]uint32{o.dp, o.key}] = true
				}
			}
		}
		for name := range oldPortNames {
			o, ok := old.ports[name]
			if !ok {
				continue
			}
			if _, ok := nw.ports[name]; !ok {
				b.comp.InvalidatePort(name)
				b.moved[[2]uint32{o.dp, o.key}] = true
			}
		}
	}
	if mapPointer(nw.resident) != mapPointer(old.resident) {
		for name := range residentNames {
			if v := nw.resident[name]; v && old.resident[name] != v {
				b.comp.InvalidateChassisResident(name)
			}
		}
		for name := range oldResidentNames {
			if old.resident[name] && !nw.resident[name] {
				b.comp.InvalidateChassisResident(name)
			}
		}
	}
	if mapPointer(nw.addrSets) != mapPointer(old.addrSets) {
		diffSets(old.addrSets, nw.addrSets, b.comp.InvalidateAddressSet)
	}
	if mapPointer(nw.portGroups) != mapPointer(old.portGroups) {
		diffSets(old.portGroups, nw.portGroups, b.comp.InvalidatePortGroup)
	}
	invalidateTemplateVars(b.comp, old.templates, nw.templates)
	for k, v := range nw.mcast {
		if o, ok := old.mcast[k]; !ok || o != v {
			b.comp.InvalidateDatapath(k.dp)
		}
	}
	for dp, r := range nw.routers {
		if old.routers[dp] != r {
			b.comp.InvalidateDatapath(dp)
		}
	}
}

func diffSets(old, nw map[string][]string, inval func(string)) {
	for n, v := range nw {
		if o, ok := old[n]; !ok || !slices.Equal(o, v) {
			inval(n)
		}
	}
	for n := range old {
		if _, ok := nw[n]; !ok {
			inval(n)
		}
	}
}

// applyConfig writes the chassis settings and attaches the underlay program
// to the device that holds the encap IP.
func (b *BPFDatapath) applyConfig(s *State) error {
	if len(s.EncapIPs) == 0 {
		return fmt.Errorf("no encap IP")
	}
	ip, err := netip.ParseAddr(s.EncapIPs[0])
	if err != nil {
		return fmt.Errorf("encap IP %q: %w", s.EncapIPs[0], err)
	}
	link, err := linkWithAddr(ip)
	if err != nil {
		return err
	}
	a := link.Attrs()
	sig := fmt.Sprint(ip, a.Index)
	if sig != b.config {
		if err := b.st.SetConfig(ip, uint32(a.Index), true); err != nil {
			return err
		}
		if err := b.dp.Attach(a.Name, a.Index, loader.HookUnderlay); err != nil {
			return err
		}
		b.config, b.underlay = sig, a.Name
		b.cfgErr = ""
		if err := enableForwarding(a.Name); err != nil {
			b.cfgErr = err.Error()
		}
	}
	return nil
}

// enableForwarding turns IPv4 forwarding on for the underlay device (in the
// daemon's network namespace): bpf_fib_lookup answers only for a device
// that forwards (BPF_FIB_LKUP_RET_FWD_DISABLED otherwise), and without its
// answer every Geneve packet takes bpf_redirect_neigh, which serves one
// copy only (a group with several remote chassis loses the others) and
// costs a route lookup per packet. The side effect: the host routes IPv4
// packets that arrive on that device for other hosts (as any router; its
// firewall still applies). Not fatal: without it the datapath still
// forwards, through the kernel's neighbour path.
func enableForwarding(dev string) error {
	p := "/proc/sys/net/ipv4/conf/" + dev + "/forwarding"
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IPv4 forwarding on the underlay device %s (bpf_fib_lookup needs it; tunnel copies of a packet to several chassis are dropped without it): %w", dev, err)
	}
	return nil
}

// linkWithAddr finds the device carrying ip (the Geneve underlay).
func linkWithAddr(ip netip.Addr) (netlink.Link, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP.To4()); ok && got == ip {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("underlay device: %w", err)
			}
			return l, nil
		}
	}
	return nil, fmt.Errorf("ovn-encap-ip %s is on no device of this host: add it to the underlay device, or set external_ids:ovn-encap-ip to this host's address", ip)
}

// applyFlows compiles what changed and installs the tables that changed.
// Unchanged rows are recognised by identity (the mirror stores a new row
// for every update), so a pass after a small change costs little more than
// a walk of the flows, and none at all when the flows, the datapath groups
// and the local datapaths are those of the previous pass.
//
// Names whose meaning changed (old -> f) are invalidated after the flows'
// own changes: a flow whose datapaths shrank must first lose the datapaths
// it left, or an invalidation would recompile it there again.
func (b *BPFDatapath) applyFlows(s *State, old, f *resolverFacts) error {
	flowsPtr, groupsPtr := mapPointer(s.Flows), mapPointer(s.DPGroups)
	dpsSame := sameKeys(b.lastDPKeys, f.dpKey)
	var upserts []pipeline.LogicalFlow
	if d := s.FlowDelta; d != nil && d.Base == b.lastFlows && b.lastFlows != nil && groupsPtr == b.lastGroups && dpsSame {
		// The controller says which flows differ from those of the last
		// pass: only they are looked at (a pass after one lsp-add visits
		// tens of flows, not the 43k of the reference scale).
		for _, uuid := range d.Changed {
			prev, had := b.rows[uuid]
			lf, ok := s.Flows[uuid]
			var dps []uint32
			if ok {
				dps = localDatapaths(lf, s, f)
			}
			if len(dps) == 0 {
				if had {
					b.comp.Delete(uuid)
					delete(b.rows, uuid)
				}
				continue
			}
			if had && prev.row == lf && slices.Equal(prev.dps, dps) {
				continue
			}
			pf := toPipelineFlow(lf, dps)
			sig := flowSig(pf)
			if !had || prev.sig != sig {
				upserts = append(upserts, pf)
			}
			b.rows[uuid] = flowRow{row: lf, dps: dps, sig: sig}
		}
		b.lastFlows = flowsPtr
	} else if flowsPtr != b.lastFlows || groupsPtr != b.lastGroups || !dpsSame {
		groupsSame := groupsPtr == b.lastGroups && dpsSame
		rows := make(map[string]flowRow, len(s.Flows))
		for uuid, lf := range s.Flows {
			prev, had := b.rows[uuid]
			if had && prev.row == lf && (lf.LogicalDpGroup == nil && dpsSame || groupsSame) {
				rows[uuid] = prev
				continue
			}
			dps := localDatapaths(lf, s, f)
			if len(dps) == 0 {
				continue
			}
			if had && prev.row == lf && slices.Equal(prev.dps, dps) {
				rows[uuid] = flowRow{row: lf, dps: prev.dps, sig: prev.sig}
				continue
			}
			pf := toPipelineFlow(lf, dps)
			sig := flowSig(pf)
			if !had || prev.sig != sig {
				upserts = append(upserts, pf)
			}
			rows[uuid] = flowRow{row: lf, dps: dps, sig: sig}
		}
		for uuid := range b.rows {
			if _, ok := rows[uuid]; !ok {
				b.comp.Delete(uuid)
			}
		}
		b.rows = rows
		b.lastFlows, b.lastGroups, b.lastDPKeys = flowsPtr, groupsPtr, f.dpKey
	}
	sort.Slice(upserts, func(i, j int) bool { return upserts[i].UUID < upserts[j].UUID })
	b.comp.UpsertBatch(upserts)
	b.invalidate(old, f)
	keys := b.comp.Flush()
	// Views, not Table: the installer reads each table's rules one at a
	// time, so a pass never holds the changed tables materialised.
	changes := map[maps.TableID]maps.RuleSource{}
	for _, k := range keys {
		id := maps.TableID{Datapath: k.Datapath, Pipeline: k.Pipeline, Table: k.Table}
		if v, ok := b.comp.View(k); ok {
			changes[id] = v
		} else {
			changes[id] = nil // absent or pruned: the table goes
		}
	}
	if b.full {
		// After InvalidateAll every table the compiler has was flushed
		// (changes holds them all); what it no longer has goes.
		for id := range b.tables {
			if _, ok := changes[id]; !ok {
				changes[id] = nil
			}
		}
	}
	if len(changes) > 0 {
		rep, err := b.inst.ApplySources(changes)
		if err != nil {
			return fmt.Errorf("installing tables: %w", err)
		}
		for id, rules := range changes {
			if rules == nil || rules.Len() == 0 {
				delete(b.tables, id)
			} else {
				b.tables[id] = true
			}
			delete(b.ruleErrs, id) // handed again: its errors are this apply's
		}
		for _, e := range rep.Errors {
			b.ruleErrs[e.Table] = append(b.ruleErrs[e.Table], e)
		}
		b.stats = ApplyStats{Upserts: len(upserts), Tables: len(changes), TablesSkipped: rep.Skipped,
			EntriesWritten: rep.Written, EntriesDeleted: rep.Deleted, RuleErrors: len(rep.Errors)}
		if len(rep.Errors) > 0 {
			b.stats.FirstError = rep.Errors[0].Error()
		}
	} else {
		b.stats = ApplyStats{Upserts: len(upserts)}
	}
	b.setUnsupported(b.comp.Errors())
	return nil
}

// mapPointer identifies a map (not its contents).
func mapPointer[K comparable, V any](m map[K]V) unsafe.Pointer {
	return reflect.ValueOf(m).UnsafePointer()
}

func sameKeys(a, b map[string]uint32) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// flowHash is a 128-bit digest of what the compiler is given for a flow:
// 16 bytes a flow rather than its text.
type flowHash [2]uint64

var flowSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func flowSig(f pipeline.LogicalFlow) flowHash {
	var out flowHash
	var num [8]byte
	for i := range out {
		var h maphash.Hash
		h.SetSeed(flowSeeds[i])
		binary.LittleEndian.PutUint64(num[:], uint64(len(f.Datapaths))<<32|uint64(f.Pipeline)<<24|uint64(f.Table)<<16|uint64(f.Priority))
		h.Write(num[:])
		for _, d := range f.Datapaths {
			binary.LittleEndian.PutUint32(num[:4], d)
			h.Write(num[:4])
		}
		for _, s := range []string{f.Stage, f.Match, f.Actions} {
			h.WriteString(s)
			h.WriteByte(0)
		}
		out[i] = h.Sum64()
	}
	return out
}

// localDatapaths returns the tunnel keys of the local datapaths lf runs on.
func localDatapaths(lf *sbdb.LogicalFlow, s *State, f *resolverFacts) []uint32 {
	var dps []uint32
	if lf.LogicalDatapath != nil {
		if k, ok := f.dpKey[*lf.LogicalDatapath]; ok {
			dps = append(dps, k)
		}
	}
	if lf.LogicalDpGroup != nil {
		if g, ok := s.DPGroups[*lf.LogicalDpGroup]; ok {
			for _, d := range g.Datapaths {
				if k, ok := f.dpKey[d]; ok {
					dps = append(dps, k)
				}
			}
		}
	}
	sort.Slice(dps, func(i, j int) bool { return dps[i] < dps[j] })
	return dps
}

// toPipelineFlow converts an SB flow for its local datapaths.
func toPipelineFlow(lf *sbdb.LogicalFlow, dps []uint32) pipeline.LogicalFlow {
	pl := pipeline.Ingress
	if lf.Pipeline == sbdb.LogicalFlowPipelineEgress {
		pl = pipeline.Egress
	}
	return pipeline.LogicalFlow{UUID: lf.UUID, Datapaths: dps, Pipeline: pl, Table: uint8(lf.TableID),
		Priority: uint16(lf.Priority), Match: lf.Match, Actions: lf.Actions, Stage: lf.ExternalIDs["stage-name"]}
}

// applyPorts writes ports, device bindings and multicast groups, removes
// what went away, and attaches the VIF program to bound devices.
func (b *BPFDatapath) applyPorts(s *State, f *resolverFacts) error {
	ports := map[[2]uint32]maps.Port{}
	binds := map[vifKey]binding{}
	devs := map[string]int{}
	localnet := map[uint32]uint32{} // dp -> its localnet port bound here
	b.lnErr = b.lnErr[:0]
	x := newPortIndex()
	for name, pb := range s.Ports {
		if pb.Type != "localnet" {
			o := b.derivePort(s, f, name)
			x.add(name, o)
			if o.hasPort {
				ports[o.key] = o.port
			}
			if o.hasBind {
				binds[o.vk] = o.bind
				devs[o.dev] = o.idx
			}
			continue
		}
		pk, ok := f.ports[name]
		if !ok {
			continue
		}
		x.localnet[name] = true
		key := [2]uint32{pk.dp, pk.key}
		if _, local := s.LocalPorts[name]; !local {
			continue
		}
		p, err := b.localnetPort(s, pb, pk)
		if err != nil {
			b.lnErr = append(b.lnErr, fmt.Sprintf("localnet port %s: %v", name, err))
			continue
		}
		k := vifKey{p.Ifindex, p.VLAN}
		if other, ok := binds[k]; ok && !other.localnet {
			b.lnErr = append(b.lnErr, fmt.Sprintf("localnet port %s: device %d VLAN %d is a VIF's", name, p.Ifindex, p.VLAN))
			continue
		}
		if other, ok := localnet[pk.dp]; ok && other < pk.key {
			continue // two localnet ports on one switch: the lowest key, whatever the map order
		}
		ports[key] = p
		binds[k] = binding{dp: pk.dp, key: pk.key, localnet: true}
		devs[s.BridgeMappings[pb.Options["network_name"]]] = int(p.Ifindex)
		localnet[pk.dp] = pk.key
	}
	if len(x.localnet) == 0 {
		b.portIdx, b.portsRemote = x, s.RemoteChassis
	} else {
		b.portIdx = nil // localnet ports depend on each other: walk them all
	}
	for dp := range s.Datapaths {
		ln := localnet[uint32(dp)]
		if old, ok := b.dps[uint32(dp)]; !ok || old != ln {
			if err := b.st.SetDatapath(uint32(dp), ln); err != nil {
				return err
			}
			b.dps[uint32(dp)] = ln
		}
	}
	for dp := range b.dps {
		if _, ok := s.Datapaths[int(dp)]; !ok {
			if err := b.st.DeleteDatapath(dp); err != nil {
				return err
			}
			delete(b.dps, dp)
		}
	}
	// ports written, deleted or renamed: the multicast groups naming them
	// are resolved again
	changed := make(map[[2]uint32]bool, len(b.moved))
	for k := range b.moved {
		changed[k] = true
	}
	for k, p := range ports {
		if old, ok := b.ports[k]; !ok || old != p {
			if err := b.st.SetPort(p); err != nil {
				return err
			}
			changed[k] = true
		}
	}
	for k := range b.ports {
		if _, ok := ports[k]; !ok {
			if err := b.st.DeletePort(k[0], k[1]); err != nil {
				return err
			}
			delete(b.ports, k)
			changed[k] = true
		}
	}
	for k, p := range ports {
		b.ports[k] = p
	}
	// Programs first, then bindings: a bound device forwards at once.
	for name, idx := range devs {
		if b.attached[name] != idx {
			if err := b.dp.Attach(name, idx, loader.HookVIF); err != nil {
				return err
			}
			b.attached[name] = idx
		}
	}
	for k, v := range binds {
		if old, ok := b.binds[k]; ok && old == v {
			continue
		}
		var err error
		if v.localnet {
			err = b.st.BindLocalnet(k.ifindex, k.vlan, v.dp, v.key)
		} else {
			err = b.st.BindVIF(k.ifindex, k.vlan, v.dp, v.key, b.zone(v))
		}
		if err != nil {
			return err
		}
	}
	for k := range b.binds {
		if _, ok := binds[k]; !ok {
			if err := b.st.UnbindVIF(k.ifindex, k.vlan); err != nil {
				return err
			}
		}
	}
	b.binds = binds
	for name := range b.attached {
		if _, ok := devs[name]; !ok {
			if err := b.dp.Detach(name, loader.HookVIF); err != nil {
				return err
			}
			delete(b.attached, name)
		}
	}
	if err := b.applyPortSecurity(s, f); err != nil {
		return err
	}
	b.applyNeighbours(ports)
	return b.applyMulticast(s, f, ports, changed)
}

// neighRef is a managed neighbour entry made for a remote chassis.
type neighRef struct {
	ifindex int
	ip      net.IP
}

// applyNeighbours keeps the next hop of every remote chassis resolved, with
// a managed neighbour entry (the kernel refreshes it by itself):
// bpf_fib_lookup answers only with a resolved neighbour; otherwise a Geneve
// packet goes through bpf_redirect_neigh, which routes by the packet's
// protocol and so loses an ARP frame (and more than one tunnel copy of a
// flood). Best effort: a failure is reported, forwarding still works for IP.
func (b *BPFDatapath) applyNeighbours(ports map[[2]uint32]maps.Port) {
	want := map[netip.Addr]bool{}
	for _, p := range ports {
		if p.Type == maps.PortRemote && p.Chassis.IsValid() {
			want[p.Chassis] = true
		}
	}
	b.neighErr = b.neighErr[:0]
	for ip := range want {
		if _, ok := b.neighs[ip]; ok {
			continue
		}
		ref, err := managedNeighbour(ip)
		if err != nil {
			b.neighErr = append(b.neighErr, err.Error())
			continue
		}
		b.neighs[ip] = ref
	}
	for ip, ref := range b.neighs {
		if want[ip] {
			continue
		}
		shared := false
		for other, r := range b.neighs {
			if other != ip && r.ifindex == ref.ifindex && r.ip.Equal(ref.ip) {
				shared = true // another chassis behind the same gateway
			}
		}
		if !shared {
			_ = netlink.NeighDel(&netlink.Neigh{LinkIndex: ref.ifindex, IP: ref.ip})
		}
		delete(b.neighs, ip)
	}
}

// managedNeighbour asks the kernel to keep the next hop towards chassis
// resolved (NTF_EXT_MANAGED, Linux 5.16+).
func managedNeighbour(chassis netip.Addr) (neighRef, error) {
	routes, err := netlink.RouteGet(chassis.AsSlice())
	if err != nil || len(routes) == 0 {
		return neighRef{}, fmt.Errorf("no route to chassis %s: %v", chassis, err)
	}
	r := routes[0]
	nh := net.IP(chassis.AsSlice())
	if r.Gw != nil {
		nh = r.Gw
	}
	n := &netlink.Neigh{LinkIndex: r.LinkIndex, IP: nh, State: netlink.NUD_NONE, FlagsExt: netlink.NTF_EXT_MANAGED}
	if err := netlink.NeighSet(n); err != nil {
		return neighRef{}, fmt.Errorf("managed neighbour entry for chassis %s (next hop %s): %w", chassis, nh, err)
	}
	return neighRef{ifindex: r.LinkIndex, ip: nh}, nil
}

// applyPortSecurity writes Port_Binding.port_security of the VIFs bound
// here into ovnbpf_portsec, which check_in_port_sec / check_out_port_sec
// read (the ingress check runs where the packet enters, the egress check
// where the port is, so only local ports need it), and removes it from
// ports that lost it or went away. A port whose port_security cannot be
// parsed is reported and fails closed: it gets one entry with the zero MAC,
// which no frame carries, rather than none (which would let everything in).
func (b *BPFDatapath) applyPortSecurity(s *State, f *resolverFacts) error {
	want := map[[2]uint32][]maps.PortSecurityEntry{}
	sigs := map[[2]uint32]string{}
	b.psErrs = b.psErrs[:0]
	for name, lp := range s.LocalPorts {
		pb := s.Ports[name]
		pk, ok := f.ports[name]
		if pb == nil || !ok || lp.Ifindex == 0 || len(pb.PortSecurity) == 0 {
			continue
		}
		k := [2]uint32{pk.dp, pk.key}
		entries, err := ParsePortSecurity(pb.PortSecurity)
		if err != nil {
			b.psErrs = append(b.psErrs, fmt.Sprintf("port %s: %v (the port forwards nothing until it is fixed)", name, err))
			entries = []maps.PortSecurityEntry{{MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}}}
		}
		want[k] = entries
		sigs[k] = fmt.Sprint(entries)
	}
	for k, e := range want {
		if b.portsec[k] == sigs[k] {
			continue
		}
		if err := b.st.SetPortSecurity(k[0], k[1], e); err != nil {
			return err
		}
		b.portsec[k] = sigs[k]
	}
	for k := range b.portsec {
		if _, ok := want[k]; !ok {
			if err := b.st.SetPortSecurity(k[0], k[1], nil); err != nil {
				return err
			}
			delete(b.portsec, k)
		}
	}
	return nil
}

// ParsePortSecurity parses Port_Binding.port_security entries, "MAC
// [IP[/plen] ...]", as ovn-controller reads them: an address with host bits
// set (10.0.0.5/24) stands for that host address only, a network prefix
// (10.0.0.0/24) for the whole network.
func ParsePortSecurity(entries []string) ([]maps.PortSecurityEntry, error) {
	var out []maps.PortSecurityEntry
	for _, e := range entries {
		f := strings.Fields(e)
		if len(f) == 0 {
			continue
		}
		mac, err := net.ParseMAC(f[0])
		if err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("port security %q: %q is not an Ethernet address", e, f[0])
		}
		pe := maps.PortSecurityEntry{MAC: mac}
		for _, a := range f[1:] {
			var p netip.Prefix
			if strings.Contains(a, "/") {
				p, err = netip.ParsePrefix(a)
				if err == nil && p.Masked().Addr() != p.Addr() {
					p = netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
				}
			} else {
				var ip netip.Addr
				if ip, err = netip.ParseAddr(a); err == nil && ip.Zone() != "" {
					err = fmt.Errorf("zoned address")
				} else if err == nil {
					p = netip.PrefixFrom(ip, ip.BitLen())
				}
			}
			if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				return nil, fmt.Errorf("port security %q: invalid address %q", e, a)
			}
			pe.Prefixes = append(pe.Prefixes, p)
		}
		out = append(out, pe)
	}
	return out, nil
}

// localnetPort is a localnet port on the device ovn-bridge-mappings names
// for its network: with ovnbpf there is no bridge, the mapping names the
// netdev of the physical network (physnet1:eth1); the port's tag is the
// VLAN its traffic carries there.
func (b *BPFDatapath) localnetPort(s *State, pb *sbdb.PortBinding, pk portKey) (maps.Port, error) {
	network := pb.Options["network_name"]
	dev := s.BridgeMappings[network]
	if dev == "" {
		return maps.Port{}, fmt.Errorf("ovn-bridge-mappings has no device for network %q", network)
	}
	if dev == b.underlay {
		return maps.Port{}, fmt.Errorf("device %s carries the Geneve underlay: give the physical network a device of its own", dev)
	}
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return maps.Port{}, fmt.Errorf("device %s of network %q (ovn-bridge-mappings): %w", dev, network, err)
	}
	p := maps.Port{Datapath: pk.dp, Key: pk.key, Type: maps.PortLocalnet, Ifindex: uint32(link.Attrs().Index)}
	if pb.Tag != nil {
		if *pb.Tag < 1 || *pb.Tag > 4094 {
			return maps.Port{}, fmt.Errorf("tag %d is not a VLAN id", *pb.Tag)
		}
		p.VLAN = uint16(*pb.Tag)
	}
	return p, nil
}

// zone gives each bound port a stable conntrack zone.
func (b *BPFDatapath) zone(v binding) uint16 {
	name := fmt.Sprint(v.dp, "/", v.key)
	if z, ok := b.zones[name]; ok {
		return z
	}
	used := map[uint16]bool{}
	for _, z := range b.zones {
		used[z] = true
	}
	for z := uint16(1); z != 0; z++ {
		if !used[z] {
			b.zones[name] = z
			return z
		}
	}
	return 0
}

func remoteIP(s *State, port string) (netip.Addr, bool) {
	ch, ok := s.PortChassis[port]
	if !ok || ch == s.Chassis {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s.RemoteChassis[ch])
	return ip, err == nil
}

// applyMulticast writes each group: the members that have a port here
// (local devices, patch and localport ports) and the remote chassis that
// have members. A group whose row is the one last written, whose members
// all resolved then and none of whose members' ports changed (changed) is
// not resolved again: a pass after one port's change looks at its groups
// only, not at every member of every group (10,000 at the reference scale).
func (b *BPFDatapath) applyMulticast(s *State, f *resolverFacts, ports map[[2]uint32]maps.Port, changed map[[2]uint32]bool) error {
	wanted := map[[2]uint32]bool{}
	for _, mg := range s.MulticastGroups {
		dp, ok := f.dpKey[mg.Datapath]
		if !ok {
			continue
		}
		k := [2]uint32{dp, uint32(mg.TunnelKey)}
		wanted[k] = true
		old, had := b.mcast[k]
		if had && old.row == mg && old.complete && !slices.ContainsFunc(old.members, func(m [2]uint32) bool { return changed[m] }) {
			continue
		}
		if p := mapPointer(s.Ports); p != b.byUUIDOf {
			if d := s.PortDelta; d != nil && d.Base == b.byUUIDOf && b.byUUIDPorts != nil {
				// the ports the controller names changed: their rows only
				for _, name := range d.Changed {
					if pb, ok := b.byUUIDPorts[name]; ok && b.byUUID[pb.UUID] == name {
						delete(b.byUUID, pb.UUID)
					}
				}
				for _, name := range d.Changed {
					if pb, ok := s.Ports[name]; ok {
						b.byUUID[pb.UUID] = name
					}
				}
			} else {
				b.byUUID = make(map[string]string, len(s.Ports))
				for name, pb := range s.Ports {
					b.byUUID[pb.UUID] = name
				}
			}
			b.byUUIDOf, b.byUUIDPorts = p, s.Ports
		}
		nw := mcastMembers{row: mg, complete: true, members: make([][2]uint32, 0, len(mg.Ports))}
		remote := map[netip.Addr]bool{}
		for _, pu := range mg.Ports {
			name, ok := b.byUUID[pu]
			if !ok {
				nw.complete = false
				continue
			}
			pk, ok := f.ports[name]
			if !ok {
				nw.complete = false
				continue
			}
			key := [2]uint32{pk.dp, pk.key}
			nw.members = append(nw.members, key)
			if p, ok := ports[key]; ok {
				if p.Type == maps.PortRemote {
					remote[p.Chassis] = true
				} else {
					nw.local = append(nw.local, pk.key)
				}
			}
		}
		sort.Slice(nw.local, func(i, j int) bool { return nw.local[i] < nw.local[j] })
		for a := range remote {
			nw.remote = append(nw.remote, a)
		}
		sort.Slice(nw.remote, func(i, j int) bool { return nw.remote[i].Less(nw.remote[j]) })
		if !had || !slices.Equal(old.local, nw.local) || !slices.Equal(old.remote, nw.remote) {
			if err := b.st.SetMulticastGroup(dp, uint32(mg.TunnelKey), nw.local, nw.remote); err != nil {
				return err
			}
		}
		b.mcast[k] = nw
	}
	for k := range b.mcast {
		if !wanted[k] {
			if err := b.st.DeleteMulticastGroup(k[0], k[1]); err != nil {
				return err
			}
			delete(b.mcast, k)
		}
	}
	return b.applyMACBindings(s, f)
}

// mcastMembers are what a multicast group entry was written with, and
// what from: the row, the ports its members resolved to, whether all did.
type mcastMembers struct {
	local  []uint32
	remote []netip.Addr

	row      *sbdb.MulticastGroup
	members  [][2]uint32
	complete bool
}

// applyMACBindings writes the MAC_Binding rows of the local datapaths that
// changed and removes those that went away.
func (b *BPFDatapath) applyMACBindings(s *State, f *resolverFacts) error {
	want := make(map[maps.MACBindingKey]macBinding, len(s.MACBindings))
	for _, mb := range s.MACBindings {
		pk, ok := f.ports[mb.LogicalPort]
		ip, err := netip.ParseAddr(mb.IP)
		hw, herr := net.ParseMAC(mb.MAC)
		if !ok || err != nil || herr != nil || ip.Zone() != "" {
			continue
		}
		k := maps.MACBindingKey{Datapath: pk.dp, Port: pk.key, IP: ip.Unmap()}
		if old, dup := want[k]; dup && old.mac < hw.String() {
			continue // two rows for one IP: the choice must not depend on map order
		}
		want[k] = macBinding{mac: hw.String()}
	}
	mergeStaticMACBindings(s, f, want)
	for k, mb := range want {
		if old, ok := b.macs[k]; ok && old == mb {
			continue
		}
		hw, _ := net.ParseMAC(mb.mac)
		if err := b.st.SetMACBinding(k.Datapath, k.Port, k.IP, hw, mb.pinned); err != nil {
			return err
		}
		b.macs[k] = mb
	}
	for k := range b.macs {
		if _, ok := want[k]; !ok {
			if err := b.st.DeleteMACBinding(k.Datapath, k.Port, k.IP); err != nil {
				return err
			}
			delete(b.macs, k)
		}
	}
	return nil
}

// prune deletes from the state maps what this pass did not write: entries
// a previous run (or a bug) left behind. MAC bindings the datapath learnt
// (put_arp, put_nd) share their map with the Southbound's: those of ports
// that still exist stay.
func (b *BPFDatapath) prune(f *resolverFacts) error {
	p, err := b.st.Programmed()
	if err != nil {
		return err
	}
	for _, dp := range p.Datapaths {
		if _, ok := b.dps[dp]; !ok {
			if err := b.st.DeleteDatapath(dp); err != nil {
				return err
			}
		}
	}
	for _, k := range p.Ports {
		if _, ok := b.ports[k]; !ok {
			if err := b.st.DeletePort(k[0], k[1]); err != nil {
				return err
			}
		}
	}
	for _, k := range p.VIFs {
		if _, ok := b.binds[vifKey{k.Ifindex, k.VLAN}]; !ok {
			if err := b.st.UnbindVIF(k.Ifindex, k.VLAN); err != nil {
				return err
			}
		}
	}
	for _, k := range p.Mcast {
		if _, ok := b.mcast[k]; !ok {
			if err := b.st.DeleteMulticastGroup(k[0], k[1]); err != nil {
				return err
			}
		}
	}
	for _, k := range p.Portsec {
		if _, ok := b.portsec[k]; !ok {
			if err := b.st.SetPortSecurity(k[0], k[1], nil); err != nil {
				return err
			}
		}
	}
	ports := make(map[portKey]bool, len(f.ports))
	for _, pk := range f.ports {
		ports[pk] = true
	}
	for _, k := range p.MACBindings {
		if _, ok := b.macs[k]; !ok && !ports[portKey{k.Datapath, k.Port}] {
			if err := b.st.DeleteMACBinding(k.Datapath, k.Port, k.IP); err != nil {
				return err
			}
		}
	}
	return nil
}

// stateResolver answers the compiler's questions from the latest State.
type stateResolver struct{ facts *resolverFacts }

type portKey struct{ dp, key uint32 }

type mcKey struct {
	dp   uint32
	name string
}

type resolverFacts struct {
	dpKey      map[string]uint32 // Datapath_Binding uuid -> tunnel key
	ports      map[string]portKey
	mcast      map[mcKey]uint32
	addrSets   map[string][]string
	portGroups map[string][]string
	resident   map[string]bool
	routers    map[uint32]bool
	templates  map[string]string // this chassis' template variables (read only)
	src        factSources
	// portsChanged, if portsFrom is set, are the only names whose ports
	// and resident facts can differ from those of the facts whose ports map
	// is portsFrom
	portsFrom    unsafe.Pointer
	portsChanged []string
}

// factSources are the State maps the facts were derived from.
type factSources struct {
	datapaths, ports, portChassis, mcast, addrSets, portGroups unsafe.Pointer
	chassis                                                    string
}

// newResolverFacts derives the compiler's facts from s, taking over the
// parts of old (the previous pass') whose State maps s still has: the
// controller hands the same maps while their rows are the same, and walking
// 10,000 ports a pass for nothing costs more than the rest of a small pass.
func newResolverFacts(s *State, old *resolverFacts) *resolverFacts {
	src := factSources{datapaths: mapPointer(s.Datapaths), ports: mapPointer(s.Ports), portChassis: mapPointer(s.PortChassis),
		mcast: mapPointer(s.MulticastGroups), addrSets: mapPointer(s.AddressSets), portGroups: mapPointer(s.PortGroups),
		chassis: s.Chassis}
	f := &resolverFacts{templates: s.TemplateVars, src: src}
	if old == nil {
		old = &resolverFacts{}
	}
	o := old.src
	switch {
	case o.datapaths == src.datapaths && o.ports == src.ports && o.portChassis == src.portChassis &&
		o.chassis == src.chassis && old.ports != nil:
		f.dpKey, f.routers, f.ports, f.resident = old.dpKey, old.routers, old.ports, old.resident
	case s.PortDelta != nil && s.PortDelta.Base == o.ports && o.datapaths == src.datapaths && o.chassis == src.chassis &&
		old.ports != nil:
		// Only the ports the controller names changed: the others keep
		// their facts (and need no invalidation).
		// A map whose facts the changed ports leave as they were (a claim
		// or up=true moves no port key) is shared, not copied.
		f.dpKey, f.routers = old.dpKey, old.routers
		portsSame, residentSame := true, true
		for _, name := range s.PortDelta.Changed {
			k, ok, res := f.portFacts(s, name)
			if o, had := old.ports[name]; had != ok || o != k {
				portsSame = false
			}
			if res != old.resident[name] {
				residentSame = false
			}
		}
		f.ports, f.resident = old.ports, old.resident
		if !portsSame {
			f.ports = gomaps.Clone(old.ports)
		}
		if !residentSame {
			f.resident = gomaps.Clone(old.resident)
		}
		if !portsSame || !residentSame {
			for _, name := range s.PortDelta.Changed {
				k, ok, res := f.portFacts(s, name)
				if !portsSame {
					delete(f.ports, name)
					if ok {
						f.ports[name] = k
					}
				}
				if !residentSame {
					delete(f.resident, name)
					if res {
						f.resident[name] = true
					}
				}
			}
		}
		f.portsFrom, f.portsChanged = mapPointer(old.ports), s.PortDelta.Changed
	default:
		f.newPorts(s)
	}
	if old.src.mcast == src.mcast && old.mcast != nil && mapPointer(f.dpKey) == mapPointer(old.dpKey) {
		f.mcast = old.mcast
	} else {
		f.mcast = make(map[mcKey]uint32, len(s.MulticastGroups))
		for _, mg := range s.MulticastGroups {
			if dp, ok := f.dpKey[mg.Datapath]; ok {
				f.mcast[mcKey{dp, mg.Name}] = uint32(mg.TunnelKey)
			}
		}
	}
	f.addrSets = old.addrSets
	if old.src.addrSets != src.addrSets || old.addrSets == nil {
		f.addrSets = sortedMembers(s.AddressSets, func(as *sbdb.AddressSet) (string, []string) { return as.Name, as.Addresses })
	}
	f.portGroups = old.portGroups
	if old.src.portGroups != src.portGroups || old.portGroups == nil {
		f.portGroups = sortedMembers(s.PortGroups, func(pg *sbdb.PortGroup) (string, []string) { return pg.Name, pg.Ports })
	}
	return f
}

// sortedMembers maps each row's name to a sorted copy of its members.
func sortedMembers[R any](rows map[string]*R, of func(*R) (string, []string)) map[string][]string {
	out := make(map[string][]string, len(rows))
	for _, r := range rows {
		name, members := of(r)
		out[name] = slices.Sorted(slices.Values(members))
	}
	return out
}

// newPorts derives the datapath and port facts.
func (f *resolverFacts) newPorts(s *State) {
	f.dpKey, f.ports = make(map[string]uint32, len(s.Datapaths)), make(map[string]portKey, len(s.Ports))
	f.resident, f.routers = map[string]bool{}, map[uint32]bool{}
	for key, dp := range s.Datapaths {
		f.dpKey[dp.UUID] = uint32(key)
		if dp.ExternalIDs["logical-router"] != "" {
			f.routers[uint32(key)] = true
		}
	}
	for name := range s.Ports {
		f.addPort(s, name)
	}
}

// addPort derives one port's facts.
func (f *resolverFacts) addPort(s *State, name string) {
	k, ok, res := f.portFacts(s, name)
	if ok {
		f.ports[name] = k
	}
	if res {
		f.resident[name] = true
	}
}

// portFacts are one port's facts: its key (ok: it has one) and whether
// it is resident on this chassis.
func (f *resolverFacts) portFacts(s *State, name string) (k portKey, ok, resident bool) {
	pb, in := s.Ports[name]
	if !in {
		return portKey{}, false, false
	}
	if dp, has := f.dpKey[pb.Datapath]; has {
		k, ok = portKey{dp, uint32(pb.TunnelKey)}, true
	}
	return k, ok, s.PortChassis[name] == s.Chassis
}

func (r *stateResolver) set(f *resolverFacts) { r.facts = f }

func (r *stateResolver) Port(name string) (uint32, uint32, bool) {
	p, ok := r.facts.ports[name]
	return p.dp, p.key, ok
}

func (r *stateResolver) MulticastGroup(dp uint32, name string) (uint32, bool) {
	k, ok := r.facts.mcast[mcKey{dp, name}]
	return k, ok
}

func (r *stateResolver) AddressSet(name string) ([]string, bool) {
	a, ok := r.facts.addrSets[name]
	return a, ok
}

func (r *stateResolver) PortGroup(name string) ([]string, bool) {
	p, ok := r.facts.portGroups[name]
	return p, ok
}

// TemplateVar is this chassis' value of a Chassis_Template_Var variable;
// a flow naming one it does not define is reported unsupported.
func (r *stateResolver) TemplateVar(name string) (string, bool) {
	v, ok := r.facts.templates[name]
	return v, ok
}

func (r *stateResolver) ChassisResident(port string) bool { return r.facts.resident[port] }

func (r *stateResolver) DatapathIsRouter(dp uint32) bool { return r.facts.routers[dp] }
