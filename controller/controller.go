// Package controller is the OVN side of ovnbpf: it reads the chassis
// configuration (local Open_vSwitch external_ids, config file, flags),
// registers the chassis in the Southbound DB, binds logical ports to local
// interfaces, follows the local datapaths, hands the local view to the
// datapath, and reports readiness (Port_Binding.up, ovn-installed) and nb_cfg
// only after the datapath has applied it.
//
// One goroutine runs reconcile: every change (Southbound or local OVSDB cache,
// netlink link message, control-socket request, timer) wakes it, and it
// recomputes the whole local view from the caches. Order inside a pass:
//
//	config -> chassis rows -> VIFs -> binding decisions -> claim/release txn
//	-> local datapaths -> monitor scope -> Datapath.Apply -> up / ovn-installed -> nb_cfg
package controller

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/controller/vswitchd"
)

// Options configure a Controller.
type Options struct {
	// OVSDB is the local Open_vSwitch database remote ("" = none). When it
	// is unreachable at start the controller goes on with the config file
	// and flags, and says so.
	OVSDB string
	// ConfigFile is a JSON file of external_ids-named keys (optional).
	ConfigFile string
	// Flags are the settings given on the command line; they win.
	Flags map[string]string
	// StateDir holds host-id and ports.json (manual bindings).
	StateDir string
	// Datapath is programmed with the local view. nil: the chassis is
	// registered and ports are claimed, but no port is ever reported up and
	// nb_cfg is never acknowledged (nothing forwards).
	Datapath Datapath
	// NewDatapath, if set, makes the Datapath once the system-id is known
	// (the datapath's pins are per chassis); it may return nil for none.
	NewDatapath func(systemID string) (Datapath, error)
	// DatapathType goes to Chassis other_config:datapath-type when the
	// integration bridge does not give one.
	DatapathType string
	Log          *slog.Logger
	// OVSCompat keeps the integration bridge and its tunnel ports in the
	// local OVSDB as ovn-controller would (--ovs-compat).
	OVSCompat bool
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// FullApply, if set, is called in each pass that rebuilds the whole
	// datapath state (a recompute, the first pass) before it builds the
	// State (start true), and once the pass is over (false), after its
	// readiness and nb_cfg writes: a burst of allocation the daemon may
	// want to run under another garbage collector setting than the small
	// passes.
	FullApply func(start bool)
}

// Controller is one chassis' OVN controller.
type Controller struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	hostID string
	manual *ManualBindings
	nd     *netdevs
	wake   chan struct{}

	ovs client.Client // local OVSDB, nil without one

	// Owned by the reconcile goroutine.
	sb            client.Client
	sbMirror      *sbMirror
	sbScope       string
	sbRemotes     string
	cfg           *Config
	reg           registration
	prevVIFs      map[string]VIF
	warnedDup     map[string]bool
	throttle      *ClaimThrottle
	retryAt       time.Time
	lastHeartbeat time.Time
	scope         MonitorScope
	appliedNbCfg  int
	forceApply    bool
	resync        bool // the owed recompute compares with the maps (State.Resync)
	// recomputed are closed once a full recompute has been applied (under mu)
	recomputed []chan struct{}
	lastView   *sbView // the previous pass' view (unchanged tables are shared)
	// justClaimed are the ports this pass claims (main): held here, and
	// down, though the view still shows them as before the claim.
	justClaimed map[string]bool
	// pendingClaims are this pass' claim operations (of the ports
	// pendingClaimed), written with its readiness after the Apply
	// (commitClaims): one transaction and one Southbound update where
	// there were two.
	pendingClaims  []ovsdb.Operation
	pendingClaimed []string
	// claimIdle: the decisions and rows with which claimAndRelease last
	// found nothing to do
	claimIdle claimKey
	// readyIdle: the same for reportReadiness, with the Interfaces it
	// found ovn-installed due
	readyIdle      claimKey
	readyInstalled map[string]string // ready logical port -> its Interface uuid
	lastBuilt      *builtState       // what the previous State was built from
	// decided are the previous pass' binding decisions and local
	// datapaths, reused while their inputs are the same (a pass after one
	// of our own writes, an nb_cfg bump, a flow change)
	decided   *decisions
	published publishedKey // what the status' port list was made from

	mu     sync.Mutex
	status Status
}

// New prepares a controller; Run starts it.
func New(opts Options) (*Controller, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DatapathType == "" {
		opts.DatapathType = "system"
	}
	if opts.StateDir == "" {
		return nil, fmt.Errorf("controller needs a state folder")
	}
	hostID, err := loadHostID(opts.StateDir)
	if err != nil {
		return nil, err
	}
	manual, err := LoadManualBindings(filepath.Join(opts.StateDir, "ports.json"))
	if err != nil {
		return nil, err
	}
	c := &Controller{opts: opts, log: opts.Log, now: opts.Now, hostID: hostID, manual: manual,
		wake: make(chan struct{}, 1), warnedDup: map[string]bool{}, throttle: NewClaimThrottle(),
		appliedNbCfg: -1}
	c.status.OVSDB = opts.OVSDB
	c.status.Datapath = "none"
	if opts.Datapath != nil {
		c.status.Datapath = "attached"
	}
	return c, nil
}

// fatalError stops Run (the datapath cannot be loaded, ...).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// Kick asks for a reconcile pass.
func (c *Controller) Kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Recompute forces the next pass to re-apply the whole state to the datapath
// even when nothing seems to have changed. The channel is closed once the
// datapath holds the recomputed state.
func (c *Controller) Recompute() <-chan struct{} { return c.recompute(false) }

// RecomputeResync is Recompute comparing with what the datapath's maps
// really hold (State.Resync).
func (c *Controller) RecomputeResync() <-chan struct{} { return c.recompute(true) }

func (c *Controller) recompute(resync bool) <-chan struct{} {
	done := make(chan struct{})
	c.mu.Lock()
	c.forceApply = true
	c.resync = c.resync || resync
	c.recomputed = append(c.recomputed, done)
	c.mu.Unlock()
	c.Kick()
	return done
}

// Run runs the controller until ctx ends. It returns an error only for a
// condition that must stop the daemon (a duplicate chassis).
func (c *Controller) Run(ctx context.Context) error {
	nd, err := watchNetdevs(c.Kick)
	if err != nil {
		return err
	}
	c.nd = nd
	defer nd.close()

	if c.opts.OVSDB != "" {
		m, err := ovsClientModel()
		if err != nil {
			return err
		}
		ovs, err := dial(ctx, m, dialOptions{name: "local ovsdb", remotes: []string{c.opts.OVSDB},
			connectTimeout: 3 * time.Second, log: c.log, monitor: ovsMonitor, changed: c.Kick})
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		if err != nil {
			c.log.Warn("no local OVSDB: using the config file and flags only", "ovsdb", c.opts.OVSDB, "err", err)
		} else {
			c.mu.Lock()
			c.ovs = ovs
			c.mu.Unlock()
		}
	}

	// A reconnect brings no cache event when nothing changed meanwhile
	// (monitor_cond_since): watch the connection state to re-run a pass.
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.refreshConnStatus()
			}
		}
	}()

	backoff := time.Second
	for {
		err := c.reconcile(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(0)
		if errors.Is(err, ErrDuplicateChassis) {
			c.log.Error("refusing to run", "err", err)
			return err
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			c.log.Error("cannot run", "err", fatal.err)
			return fatal.err
		}
		// A bad setting only an edit of external_ids can fix is waited
		// for; one from a flag or the config file (or with no OVSDB to
		// edit) stops the daemon with its message.
		var cerr *ConfigError
		if errors.As(err, &cerr) && !cerr.Fixable(c.ovs != nil) {
			c.log.Error("bad configuration", "err", err)
			return err
		}
		reconnecting := errors.Is(err, errReconnecting)
		if reconnecting {
			// refreshConnStatus logged it, and runs a pass once it is back.
			wait = 8 * time.Second
		} else if err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile failed; retrying", "err", err, "retry", backoff)
			wait = backoff
			backoff = min(backoff*2, 8*time.Second)
		} else {
			backoff = time.Second
		}
		c.setStatus(func(s *Status) {
			s.LastReconcile = c.now()
			s.LastError = ""
			if err != nil {
				s.LastError = err.Error()
			}
		})
		var timer <-chan time.Time
		next := c.lastHeartbeat.Add(HeartbeatInterval).Sub(c.now())
		if !c.retryAt.IsZero() {
			next = min(next, c.retryAt.Sub(c.now()))
		}
		if wait > 0 {
			next = min(next, wait)
		}
		timer = time.After(max(next, 10*time.Millisecond))
	waiting:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-c.wake:
				// While libovsdb reconnects, its cache refills row by row:
				// each update wakes the loop, and a pass would only fail
				// again. The pass waits for the connection (or the timer).
				if reconnecting && !c.Status().SBConnected {
					continue
				}
				// Let a burst of cache updates land before recomputing.
				time.Sleep(2 * time.Millisecond)
				break waiting
			case <-timer:
				break waiting
			}
		}
	}
}

// Close closes the database connections (after Run, and Cleanup if any).
func (c *Controller) Close() {
	c.mu.Lock()
	sb, ovs := c.sb, c.ovs
	c.sb, c.ovs = nil, nil
	c.mu.Unlock()
	if sb != nil {
		sb.Close()
	}
	if ovs != nil {
		ovs.Close()
	}
}

// refreshConnStatus records the connections' state and re-runs a pass when
// the Southbound connection comes or goes.
func (c *Controller) refreshConnStatus() {
	c.mu.Lock()
	sb, ovs := c.sb, c.ovs
	c.mu.Unlock()
	now := sb != nil && connectedSoon(sb)
	endpoint := ""
	if now {
		endpoint = sb.CurrentEndpoint()
	}
	ovsUp := ovs != nil && connectedSoon(ovs)
	c.mu.Lock()
	was := c.status.SBConnected
	c.status.SBConnected, c.status.SBEndpoint, c.status.OVSDBConnected = now, endpoint, ovsUp
	c.mu.Unlock()
	if now != was {
		c.log.Info("southbound connection", "connected", now, "endpoint", endpoint)
		c.Kick()
	}
}

// Cleanup removes this chassis from the Southbound DB and the datapath's
// pins (--cleanup-on-exit). It dials the Southbound again if needed.
func (c *Controller) Cleanup(ctx context.Context) error {
	if c.cfg == nil {
		// Stopped before the first pass: resolve the configuration now.
		if c.ovs == nil && c.opts.OVSDB != "" {
			if m, err := ovsClientModel(); err == nil {
				if ovs, err := dial(ctx, m, dialOptions{name: "local ovsdb", remotes: []string{c.opts.OVSDB},
					connectTimeout: 3 * time.Second, log: c.log, monitor: ovsMonitor}); err == nil {
					c.mu.Lock()
					c.ovs = ovs
					c.mu.Unlock()
				}
			}
		}
		cfg, err := c.resolveConfig(ctx)
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		c.cfg = cfg
	}
	var errs []error
	cl := c.sb
	if cl == nil || !isConnected(cl) {
		var err error
		cl, err = c.dialSB(ctx, &MonitorScope{Chassis: c.cfg.SystemID}, nil)
		if err != nil {
			errs = append(errs, err)
		} else {
			defer cl.Close()
		}
	}
	if cl != nil {
		if err := removeChassis(ctx, cl, c.cfg.SystemID); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ovs != nil {
		vifs, _, _ := ovsVIFs(ctx, c.ovs, c.cfg.Bridge)
		var ops []ovsdb.Operation
		for _, v := range vifs {
			if o, err := ovsSetInstalledOps(c.ovs, v.InterfaceUUID, false, c.now()); err == nil {
				ops = append(ops, o...)
			}
		}
		if _, err := transact(ctx, c.ovs, "clearing ovn-installed", ops...); err != nil {
			errs = append(errs, err)
		}
	}
	if c.opts.Datapath != nil {
		if err := c.opts.Datapath.Cleanup(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cleaning up the datapath: %w", err))
		}
	}
	return errors.Join(errs...)
}

// BindPort and UnbindPort manage the manual VIF bindings (hosts without OVSDB).
func (c *Controller) BindPort(ifname, lport string) error {
	if err := c.manual.Bind(ifname, lport); err != nil {
		return err
	}
	c.Kick()
	return nil
}

func (c *Controller) UnbindPort(ifname string) error {
	if err := c.manual.Unbind(ifname); err != nil {
		return err
	}
	c.Kick()
	return nil
}

func (c *Controller) dialSB(ctx context.Context, scope *MonitorScope, mirror *sbMirror) (client.Client, error) {
	m, err := sbClientModel()
	if err != nil {
		return nil, err
	}
	return dial(ctx, m, dialOptions{name: "southbound", remotes: c.cfg.Remotes, probe: c.cfg.ProbeInterval,
		connectTimeout: 10 * time.Second, log: c.log,
		monitor: func(cl client.Client) *client.Monitor { return sbMonitor(cl, scope) },
		changed: c.Kick, mirror: mirror})
}

// resolveConfig merges the sources and logs where each setting came from
// whenever the result changes.
func (c *Controller) resolveConfig(ctx context.Context) (*Config, error) {
	file, err := LoadConfigFile(c.opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	layers := []Layer{file}
	if c.ovs != nil {
		ext, err := ovsExternalIDs(ctx, c.ovs)
		if err != nil {
			return nil, err
		}
		layers = append(layers, Layer{Source: SourceOVSDB, Values: ext})
	}
	layers = append(layers, Layer{Source: SourceFlag, Values: c.opts.Flags})
	cfg, err := Resolve(layers...)
	if err != nil {
		return nil, err
	}
	if c.cfg == nil || !mapsEqual(c.cfg.Raw, cfg.Raw) {
		for _, k := range ConfigKeys {
			if v, ok := cfg.Raw[k]; ok && (c.cfg == nil || c.cfg.Raw[k] != v) {
				c.log.Info("setting", "key", k, "value", v, "source", string(cfg.Sources[k]))
			}
		}
	}
	return cfg, nil
}

func (c *Controller) reconcile(ctx context.Context) error {
	start := c.now()
	defer func() { c.log.Debug("pass", "took", c.now().Sub(start)) }()
	cfg, err := c.resolveConfig(ctx)
	if err != nil {
		c.setStatus(func(s *Status) { s.ConfigError = err.Error() })
		return err
	}
	if c.cfg != nil && c.cfg.SystemID != cfg.SystemID {
		c.log.Warn("system-id changed: registering under the new name", "old", c.cfg.SystemID, "new", cfg.SystemID)
		c.reg = registration{}
	}
	c.cfg = cfg
	if c.opts.Datapath == nil && c.opts.NewDatapath != nil {
		d, err := c.opts.NewDatapath(cfg.SystemID)
		if err != nil {
			return &fatalError{err}
		}
		c.opts.NewDatapath = nil
		if d != nil {
			c.mu.Lock() // the control socket reads it (dump-maps)
			c.opts.Datapath = d
			c.mu.Unlock()
			c.setStatus(func(s *Status) { s.Datapath = "attached" })
		}
	}
	c.setStatus(func(s *Status) {
		s.ConfigError = ""
		s.Chassis = cfg.SystemID
		s.Hostname = cfg.Hostname
		s.Remotes = cfg.Remotes
		s.Config = map[string]ConfigValue{}
		for k, v := range cfg.Raw {
			s.Config[k] = ConfigValue{Value: v, Source: string(cfg.Sources[k])}
		}
	})

	// VIFs: OVSDB Interface rows on the integration bridge, plus manual binds.
	var vifs []VIF
	dpType := c.opts.DatapathType
	if c.ovs != nil {
		v, haveBridge, err := ovsVIFs(ctx, c.ovs, cfg.Bridge)
		if err != nil {
			return err
		}
		if !haveBridge {
			c.setStatus(func(s *Status) {
				s.Warnings = []string{"integration bridge " + cfg.Bridge + " does not exist in the local OVSDB: its Interfaces are the VIFs (ovs-vsctl add-br " + cfg.Bridge + ")"}
			})
		} else {
			c.setStatus(func(s *Status) { s.Warnings = nil })
			var brs []vswitchd.Bridge
			if err := c.ovs.WhereCache(func(b *vswitchd.Bridge) bool { return b.Name == cfg.Bridge }).List(ctx, &brs); err == nil && len(brs) == 1 && brs[0].DatapathType != "" {
				dpType = brs[0].DatapathType
			}
		}
		vifs = append(vifs, v...)
	}
	vifs = append(vifs, c.manual.VIFs()...)
	// Link changes wake a pass only for the devices passes read.
	wanted := map[string]bool{}
	for _, v := range vifs {
		wanted[v.Ifname] = true
	}
	for _, dev := range cfg.BridgeMappings {
		wanted[dev] = true
	}
	if d, ok := c.opts.Datapath.(interface{ Devices() []string }); ok {
		for _, dev := range d.Devices() {
			wanted[dev] = true
		}
	}
	c.nd.want(wanted)
	links := c.nd.generation() // before the lookups: a change after them is a change for the next pass
	for i := range vifs {
		vifs[i].Ifindex, vifs[i].Up = c.nd.lookup(vifs[i].Ifname)
	}
	byID, dups := DedupVIFs(vifs, c.prevVIFs)
	for _, d := range dups {
		key := d.IfaceID + "/" + d.Ifname
		if !c.warnedDup[key] {
			c.warnedDup[key] = true
			c.log.Warn("ignoring interface: another interface has the same iface-id",
				"iface-id", d.IfaceID, "ignored", d.Ifname, "bound", byID[d.IfaceID].Ifname)
		}
	}
	// The logical ports whose VIF came, went or changed (its link too).
	var vifsChanged []string
	for id, v := range byID {
		if o, ok := c.prevVIFs[id]; !ok || o != v {
			vifsChanged = append(vifsChanged, id)
		}
	}
	for id := range c.prevVIFs {
		if _, ok := byID[id]; !ok {
			vifsChanged = append(vifsChanged, id)
		}
	}
	c.prevVIFs = byID

	// Southbound connection, with the monitor following the local scope.
	remotes := fmt.Sprint(cfg.Remotes, cfg.ProbeInterval)
	if c.sb != nil && c.sbRemotes != remotes {
		c.log.Info("ovn-remote changed: reconnecting", "remotes", cfg.Remotes)
		c.sb.Close()
		c.mu.Lock()
		c.sb = nil
		c.mu.Unlock()
	}
	scope := c.scope
	scope.All = cfg.MonitorAll
	scope.Chassis = cfg.SystemID
	scope.ChassisUUID = c.reg.chassisUUID
	if c.sb == nil || c.sbScope != scope.Key() {
		if err := c.remonitor(ctx, &scope); err != nil {
			return err
		}
		c.sbRemotes = remotes
	}
	sb := c.sb
	c.refreshConnStatus()
	if !isConnected(sb) {
		return errReconnecting
	}

	// Chassis registration (and the heartbeat that proves we are alive).
	heartbeat := c.now().Sub(c.lastHeartbeat) >= HeartbeatInterval
	reg, err := ensureChassis(ctx, sb, cfg, c.hostID, dpType, c.now(), heartbeat)
	if err != nil {
		return err
	}
	if heartbeat {
		c.lastHeartbeat = c.now()
	}
	if reg.changed {
		c.log.Info("chassis registered", "name", cfg.SystemID, "uuid", reg.chassisUUID, "encap-ip", cfg.EncapIPs)
	}
	c.reg = reg
	c.setStatus(func(s *Status) { s.ChassisUUID = reg.chassisUUID })
	if reg.chassisUUID == "" || reg.privateUUID == "" {
		return fmt.Errorf("chassis rows not visible yet after registration")
	}
	if scope.ChassisUUID != reg.chassisUUID {
		scope.ChassisUUID = reg.chassisUUID
		c.Kick()
	}

	t0 := c.now()
	view := readSB(c.sbMirror, c.lastView)
	c.lastView = view
	c.log.Debug("read southbound cache", "took", c.now().Sub(t0), "flows", len(view.flows), "ports", len(view.ports))
	if c.opts.OVSCompat && c.ovs != nil {
		// ovn-controller sets local_ip only when the chassis has several.
		local := ""
		if len(cfg.EncapIPs) > 1 {
			local = cfg.EncapIPs[0]
		}
		tunnels := WantedTunnels(cfg.SystemID, local, view.chassis, view.encaps)
		if err := syncOVSCompat(ctx, c.ovs, cfg.Bridge, tunnels); err != nil {
			return fmt.Errorf("--ovs-compat: %w", err)
		}
	}
	in := &BindInput{Self: Self{UUID: reg.chassisUUID, Name: cfg.SystemID, Hostname: cfg.Hostname},
		Chassis: view.chassis, VIFs: byID, BridgeMappings: cfg.BridgeMappings,
		GatewayChassis: view.gateways, HAGroups: view.haGroups, HAChassis: view.haChassis, Ports: view.ports}
	c.mu.Lock()
	rebuild := c.forceApply
	c.mu.Unlock()
	if rebuild {
		// A recompute derives everything from the Southbound view again
		// and reuses nothing of earlier passes, so that it checks what
		// they reused (tests/incremental compares the two).
		c.decided, c.lastBuilt = nil, nil
	}
	fullGC := false // the daemon's full-pass policy is on (FullApply)
	startFullGC := func() {
		if !fullGC && c.opts.FullApply != nil && c.opts.Datapath != nil {
			fullGC = true
			c.opts.FullApply(true)
		}
	}
	defer func() {
		// Back at the end of the pass: what the daemon does then (a
		// collection, returning the garbage to the system: 100-300 ms at
		// the reference scale) must not delay the readiness and nb_cfg
		// writes that follow the Apply.
		if fullGC {
			c.opts.FullApply(false)
		}
	}()
	if rebuild || c.appliedNbCfg < 0 {
		// from here: the State's build allocates as much as the Apply
		startFullGC()
	}
	d := c.decide(view, in, cfg, vifsChanged)
	roles, reasons := d.roles, d.reasons
	if err := c.claimAndRelease(ctx, sb, view, d); err != nil {
		return errors.Join(err, c.commitClaims(ctx, sb, nil))
	}

	// Local datapaths decide what is monitored next.
	local, missing := d.local, d.missing
	next := MonitorScope{All: cfg.MonitorAll, Chassis: cfg.SystemID, ChassisUUID: reg.chassisUUID}
	for dp := range local {
		next.Datapath = append(next.Datapath, dp)
	}
	for g, grp := range view.dpGroups {
		for _, d := range grp.Datapaths {
			if local[d] {
				next.DPGroups = append(next.DPGroups, g)
				break
			}
		}
	}
	ports := map[string]bool{}
	for id := range byID {
		if pb, ok := view.ports[id]; ok && local[pb.Datapath] {
			continue // monitored with its datapath
		}
		ports[id] = true
	}
	for _, p := range missing {
		ports[p] = true
	}
	for p := range ports {
		next.Ports = append(next.Ports, p)
	}
	next.normalise()
	c.scope = next
	if next.Key() != c.sbScope {
		c.Kick() // re-monitor first: the view is incomplete until then
		c.publishPorts(view, roles, reasons, byID, len(local), publishedKey{}, nil)
		return c.commitClaims(ctx, sb, nil)
	}

	prevBuilt := c.lastBuilt
	// The ports' maps are the previous pass' while the decisions and the
	// links are the same, or patched from them when the decisions were
	// patched from that pass' (d.changed: the ports whose rows or VIFs,
	// links included, changed).
	patch := prevBuilt != nil && d.from != nil && d.from == prevBuilt.decided
	if prevBuilt != nil && !patch && (prevBuilt.decided != d || prevBuilt.links != links) {
		prevBuilt = &builtState{view: prevBuilt.view, local: prevBuilt.local, state: prevBuilt.state, portsStale: true}
	}
	var patchNames []string
	if patch {
		patchNames = d.changed
	}
	state := buildState(cfg, view, local, roles, byID, prevBuilt, patchNames)
	// what the previous pass reported readiness from, if this State's
	// ports are patched from its own (then only the changed ones differ)
	var readyFrom claimKey
	var readyChanged []string
	if state.PortDelta != nil {
		readyFrom = claimKey{roles: mapPointer(prevBuilt.decided.roles), ports: mapPointer(prevBuilt.view.ports),
			local: mapPointer(prevBuilt.state.LocalPorts), self: reg.chassisUUID}
		readyChanged = state.PortDelta.Changed
	}
	c.lastBuilt = &builtState{view: view, local: local, state: state, decided: d, links: links}
	d.from, d.fromPorts = nil, nil // used; the previous decisions and view may go
	var publishedFrom publishedKey
	if state.PortDelta != nil {
		publishedFrom = publishedKey{roles: readyFrom.roles, ports: readyFrom.ports, chassis: mapPointer(prevBuilt.view.chassis), self: reg.chassisUUID}
	}
	c.publishPorts(view, roles, reasons, byID, len(local), publishedFrom, readyChanged)
	if c.opts.Datapath == nil {
		c.mu.Lock() // nothing to recompute: do not keep a recompute waiting
		for _, w := range c.recomputed {
			close(w)
		}
		c.recomputed, c.forceApply = nil, false
		c.mu.Unlock()
		return c.commitClaims(ctx, sb, nil)
	}
	c.mu.Lock()
	state.Full = c.forceApply
	state.Resync = c.forceApply && c.resync
	c.forceApply, c.resync = false, false
	waiting := c.recomputed
	c.recomputed = nil
	c.mu.Unlock()
	t1 := c.now()
	if state.Full || c.appliedNbCfg < 0 { // the datapath's first apply rebuilds too
		startFullGC()
	}
	err = c.opts.Datapath.Apply(ctx, state)
	var applied any
	if st, ok := c.opts.Datapath.(interface{ LastApply() ApplyStats }); ok {
		applied = st.LastApply()
	}
	flowDelta := -1 // the whole map was handed
	if state.FlowDelta != nil {
		flowDelta = len(state.FlowDelta.Changed)
	}
	c.log.Debug("datapath apply", "took", c.now().Sub(t1), "full", state.Full, "flows", len(state.Flows),
		"flow-delta", flowDelta, "state-built", t1.Sub(t0), "applied", applied)
	if err != nil {
		c.mu.Lock()
		// the recompute is still owed: the next pass does it
		c.forceApply = c.forceApply || state.Full
		c.resync = c.resync || state.Resync
		c.recomputed = append(waiting, c.recomputed...)
		c.mu.Unlock()
		c.setStatus(func(s *Status) { s.Datapath = "apply failed: " + err.Error() })
		return errors.Join(fmt.Errorf("applying to the datapath: %w", err), c.commitClaims(ctx, sb, nil))
	}
	for _, w := range waiting {
		close(w)
	}
	c.setStatus(func(s *Status) { s.Datapath = "applied"; s.AppliedNbCfg = state.NbCfg })
	c.nameFailingLflows(ctx, sb)
	if p, ok := c.opts.Datapath.(interface{ Problems() []string }); ok {
		problems := p.Problems()
		c.mu.Lock()
		changed := len(problems) != c.status.Skipped
		c.status.Skipped = len(problems)
		c.status.Problems = problems[:min(len(problems), maxStatusProblems)]
		c.mu.Unlock()
		if changed && len(problems) > 0 {
			c.log.Warn("datapath skipped what it cannot handle; the rest is installed",
				"count", len(problems), "first", problems[:min(len(problems), 5)])
		}
	}
	c.appliedNbCfg = state.NbCfg
	if err := c.reportReadiness(ctx, sb, view, roles, state, readyFrom, readyChanged); err != nil {
		return errors.Join(err, c.commitClaims(ctx, sb, nil))
	}
	return c.ackNbCfg(ctx, sb, view, state.NbCfg)
}

// remonitor replaces the Southbound client by one monitoring scope. libovsdb
// v0.7.0 has no monitor_cond_change, so a new scope is a new connection
// whose initial dump fills a fresh cache; the old one is closed after.
func (c *Controller) remonitor(ctx context.Context, scope *MonitorScope) error {
	if old, ok := c.sb.(*conn); ok {
		// The server is busy sending the new connection its dump and the
		// old one hears nothing meanwhile: probing it would start a
		// second download (its reconnect) competing with the first. It is
		// closed once the new one is up; probed again if that fails.
		old.holdProbe(true)
		defer old.holdProbe(false)
	}
	mirror := newSBMirror()
	cl, err := c.dialSB(ctx, scope, mirror)
	if err != nil {
		return err
	}
	c.sbMirror = mirror
	if c.sb != nil {
		c.sb.Close()
	}
	c.mu.Lock() // status readers and tests look at c.sb (and the scope) under mu
	c.sb = cl
	c.sbScope = scope.Key()
	c.mu.Unlock()
	c.log.Debug("southbound monitor", "datapaths", len(scope.Datapath), "ports", len(scope.Ports), "all", scope.All)
	// Decoding a dump leaves garbage several times the size of the rows it
	// brings, and the old connection's rows are garbage now (once the views
	// built from them are dropped): hand it back to the system now rather
	// than over the next minutes.
	c.lastView, c.lastBuilt = nil, nil
	debug.FreeOSMemory()
	return nil
}

// sbView is one consistent read of the Southbound rows (pointers into the
// mirror: read only).
type sbView struct {
	snap      *mirrorSnap
	global    sbdb.SBGlobal
	chassis   map[string]*sbdb.Chassis
	private   map[string]*sbdb.ChassisPrivate // by name
	encaps    map[string]*sbdb.Encap
	datapaths map[string]*sbdb.DatapathBinding
	ports     map[string]*sbdb.PortBinding // by logical port
	gateways  map[string]*sbdb.GatewayChassis
	haGroups  map[string]*sbdb.HAChassisGroup
	haChassis map[string]*sbdb.HAChassis
	dpGroups  map[string]*sbdb.LogicalDPGroup
	flows     map[string]*sbdb.LogicalFlow
	mcGroups  map[string]*sbdb.MulticastGroup
	macs      map[string]*sbdb.MACBinding
	addrSets  map[string]*sbdb.AddressSet
	portGrps  map[string]*sbdb.PortGroup
	lbs       map[string]*sbdb.LoadBalancer
	fdbs      map[string]*sbdb.FDB
	// staticMACs and templateVars: staticmac.go, templatevar.go
	staticMACs   map[string]*sbdb.StaticMACBinding
	templateVars map[string]*sbdb.ChassisTemplateVar
}

// sbTables are the mirrored tables and how a snapshot presents each:
// by uuid, except Chassis_Private (by name) and Port_Binding (by logical
// port).
var sbTables = map[string]tableConv{
	sbdb.SBGlobalTable:        typedTable[sbdb.SBGlobal](),
	sbdb.ChassisTable:         typedTable[sbdb.Chassis](),
	sbdb.EncapTable:           typedTable[sbdb.Encap](),
	sbdb.DatapathBindingTable: typedTable[sbdb.DatapathBinding](),
	sbdb.GatewayChassisTable:  typedTable[sbdb.GatewayChassis](),
	sbdb.HAChassisGroupTable:  typedTable[sbdb.HAChassisGroup](),
	sbdb.HAChassisTable:       typedTable[sbdb.HAChassis](),
	sbdb.LogicalDPGroupTable:  typedTable[sbdb.LogicalDPGroup](),
	sbdb.LogicalFlowTable:     typedTable[sbdb.LogicalFlow](),
	sbdb.MulticastGroupTable:  typedTable[sbdb.MulticastGroup](),
	sbdb.MACBindingTable:      typedTable[sbdb.MACBinding](),
	sbdb.AddressSetTable:      typedTable[sbdb.AddressSet](),
	sbdb.PortGroupTable:       typedTable[sbdb.PortGroup](),
	sbdb.LoadBalancerTable:    typedTable[sbdb.LoadBalancer](),
	sbdb.FDBTable:             typedTable[sbdb.FDB](),

	// staticmac.go, templatevar.go
	sbdb.StaticMACBindingTable:   typedTable[sbdb.StaticMACBinding](),
	sbdb.ChassisTemplateVarTable: typedTable[sbdb.ChassisTemplateVar](),

	sbdb.ChassisPrivateTable: keyedTable(func(p *sbdb.ChassisPrivate) string { return p.Name }),
	sbdb.PortBindingTable:    keyedTable(func(p *sbdb.PortBinding) string { return p.LogicalPort }),
}

// readSB takes the view from the mirror, sharing with prev the maps of the
// tables that did not change. All tables are read in one snapshot, and the
// mirror applies changes in the order the server sent them, so the nb_cfg
// read here is never newer than the rows it covers.
func readSB(m *sbMirror, prev *sbView) *sbView {
	var prevSnap *mirrorSnap
	if prev != nil {
		prevSnap = prev.snap
	}
	snap := m.snapshot(prevSnap, sbTables)
	v := &sbView{
		snap:      snap,
		chassis:   typed[sbdb.Chassis](snap, sbdb.ChassisTable),
		encaps:    typed[sbdb.Encap](snap, sbdb.EncapTable),
		datapaths: typed[sbdb.DatapathBinding](snap, sbdb.DatapathBindingTable),
		gateways:  typed[sbdb.GatewayChassis](snap, sbdb.GatewayChassisTable),
		haGroups:  typed[sbdb.HAChassisGroup](snap, sbdb.HAChassisGroupTable),
		haChassis: typed[sbdb.HAChassis](snap, sbdb.HAChassisTable),
		dpGroups:  typed[sbdb.LogicalDPGroup](snap, sbdb.LogicalDPGroupTable),
		flows:     typed[sbdb.LogicalFlow](snap, sbdb.LogicalFlowTable),
		mcGroups:  typed[sbdb.MulticastGroup](snap, sbdb.MulticastGroupTable),
		macs:      typed[sbdb.MACBinding](snap, sbdb.MACBindingTable),
		addrSets:  typed[sbdb.AddressSet](snap, sbdb.AddressSetTable),
		portGrps:  typed[sbdb.PortGroup](snap, sbdb.PortGroupTable),
		lbs:       typed[sbdb.LoadBalancer](snap, sbdb.LoadBalancerTable),
		fdbs:      typed[sbdb.FDB](snap, sbdb.FDBTable),
		private:   typed[sbdb.ChassisPrivate](snap, sbdb.ChassisPrivateTable),
		ports:     typed[sbdb.PortBinding](snap, sbdb.PortBindingTable),

		staticMACs:   typed[sbdb.StaticMACBinding](snap, sbdb.StaticMACBindingTable),
		templateVars: typed[sbdb.ChassisTemplateVar](snap, sbdb.ChassisTemplateVarTable),
	}
	for _, g := range typed[sbdb.SBGlobal](snap, sbdb.SBGlobalTable) {
		v.global = *g
	}
	return v
}

// unchanged tells whether every table named is the same in v as in prev.
func (v *sbView) unchanged(prev *sbView, tables ...string) bool {
	if prev == nil || prev.snap.mirror != v.snap.mirror {
		return false
	}
	for _, t := range tables {
		if v.snap.gen[t] != prev.snap.gen[t] {
			return false
		}
	}
	return true
}

// claimAndRelease writes the binding decisions: all claims in one
// transaction, each release in its own (a release is conditional on still
// holding the port, and one lost race must not undo the others).
func (c *Controller) claimAndRelease(ctx context.Context, sb client.Client, v *sbView, d *decisions) error {
	roles := d.roles
	self := c.reg.chassisUUID
	now := c.now()
	c.justClaimed = map[string]bool{}
	// The same decisions over the same rows as a pass that found nothing
	// to do (and no throttled claim waiting): nothing to do again, without
	// a walk of every port.
	key := claimKey{roles: mapPointer(roles), ports: mapPointer(v.ports), self: self}
	if key == c.claimIdle && c.retryAt.IsZero() {
		return nil
	}
	// Decisions patched from those of such a pass: only the ports that
	// changed can have something to do.
	candidates := maps.Keys(roles)
	if d.from != nil && c.claimIdle == (claimKey{roles: mapPointer(d.from.roles), ports: d.fromPorts, self: self}) && c.retryAt.IsZero() {
		candidates = slices.Values(d.changed)
	}
	c.claimIdle = claimKey{}
	c.retryAt = time.Time{}
	var claims []ovsdb.Operation
	var claimed []string
	// Only the ports with something to do are sorted (all of them were:
	// 10,000 names a pass at the reference scale).
	var names []string
	for n := range candidates {
		r, ok := roles[n]
		if !ok {
			continue // gone
		}
		pb := v.ports[n]
		mine := pb.Chassis != nil && *pb.Chassis == self
		additional := contains(pb.AdditionalChassis, self)
		switch {
		case r == RoleMain && mine, r == RoleAdditional && additional:
		case r != RoleMain && r != RoleAdditional && !mine && !additional:
			if r == RoleNone {
				c.throttle.Forget(n) // someone else holds it now and we do not want it
			}
		default:
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 && c.retryAt.IsZero() {
		c.claimIdle = key
	}
	var errs []error
	for _, name := range names {
		pb := v.ports[name]
		mine := pb.Chassis != nil && *pb.Chassis == self
		switch roles[name] {
		case RoleMain:
			if mine {
				continue
			}
			heldByOther := pb.Chassis != nil && *pb.Chassis != ""
			ok, at := c.throttle.Allow(name, heldByOther, now)
			if !ok {
				if c.retryAt.IsZero() || at.Before(c.retryAt) {
					c.retryAt = at
				}
				c.log.Debug("claim throttled: another chassis keeps taking this port", "port", name, "until", at)
				continue
			}
			ops, err := claimOps(sb, pb, self)
			if err != nil {
				return err
			}
			claims = append(claims, ops...)
			claimed = append(claimed, name)
			lost := heldByOther && c.throttle.Contested(name)
			c.throttle.Claimed(name, lost, now)
			from := ""
			if heldByOther {
				from = c.chassisName(v, *pb.Chassis)
			}
			if lost {
				c.log.Warn("claiming port back from another chassis (tug-of-war, throttled)", "port", name, "from", from)
			} else {
				c.log.Info("claiming port", "port", name, "type", pb.Type, "from", from)
			}
		case RoleAdditional:
			if contains(pb.AdditionalChassis, self) {
				continue
			}
			ops, err := claimAdditionalOps(sb, pb, self)
			if err != nil {
				return err
			}
			claims = append(claims, ops...)
			claimed = append(claimed, name)
			c.log.Info("claiming port as additional chassis", "port", name)
		default:
			if !mine && !contains(pb.AdditionalChassis, self) {
				if !mine {
					// Someone else holds it now and we do not want it.
					if r := roles[name]; r == RoleNone {
						c.throttle.Forget(name)
					}
				}
				continue
			}
			ops, err := releaseOps(sb, pb, self)
			if err != nil {
				return err
			}
			if _, err := transact(ctx, sb, "releasing "+name, ops...); err != nil {
				errs = append(errs, err)
				continue
			}
			c.throttle.Forget(name)
			c.setStatus(func(s *Status) { s.Releases++ })
			c.log.Info("released port", "port", name)
		}
	}
	// The claims are written after the Apply, with the readiness of the
	// ports they claim (commitClaims).
	c.pendingClaims, c.pendingClaimed = claims, claimed
	for _, name := range claimed {
		if roles[name] == RoleMain {
			c.justClaimed[name] = true
		}
	}
	return errors.Join(errs...)
}

// claimKey identifies what claimAndRelease decided from (by identity: a
// view's maps and the decisions are never modified).
type claimKey struct {
	roles, ports, local unsafe.Pointer
	self                string
}

// commitClaims writes the pass' claims (claimAndRelease) and extra, the
// readiness it reports, in one transaction: a port claimed and ready in the
// same pass goes from unclaimed to up in one Southbound update (northd and
// the other chassis see one change, and the claim costs no round trip of
// its own). Readiness still follows the Apply that made the port forward.
func (c *Controller) commitClaims(ctx context.Context, sb client.Client, extra []ovsdb.Operation) error {
	claims, claimed := c.pendingClaims, c.pendingClaimed
	c.pendingClaims, c.pendingClaimed = nil, nil
	what := "reporting port readiness"
	if len(claimed) > 0 {
		what = fmt.Sprintf("claiming %v", claimed)
	}
	t0 := c.now()
	if _, err := transact(ctx, sb, what, append(claims, extra...)...); err != nil {
		return err
	}
	if len(claims)+len(extra) > 0 {
		c.log.Debug("southbound transaction", "what", what, "took", c.now().Sub(t0))
	}
	if len(claimed) > 0 {
		c.setStatus(func(s *Status) { s.Claims += len(claimed) })
	}
	return nil
}

// decisions are a pass' binding decisions and what follows from them
// alone: the roles and reasons of every port, and the local datapaths.
type decisions struct {
	view           *sbView
	self           Self
	bridgeMappings map[string]string
	roles          map[string]Role
	reasons        map[string]string
	local          map[string]bool
	missing        []string
	// parents are the ports named as a container port's parent: a change
	// of one can change other ports' decisions (read only, shared)
	parents map[string]bool
	// from, if set, are the decisions these were patched from, changed the
	// ports whose rows changed since (the rest have from's decisions), and
	// fromPorts the view's ports from had then
	from      *decisions
	changed   []string
	fromPorts unsafe.Pointer
}

// decideTables are the Southbound tables Decide and LocalDatapaths read.
var decideTables = []string{sbdb.PortBindingTable, sbdb.ChassisTable, sbdb.GatewayChassisTable,
	sbdb.HAChassisGroupTable, sbdb.HAChassisTable}

// decide takes each port's binding decision and the local datapaths, or
// reuses the previous pass' when nothing they read changed: at 10,000
// ports a walk costs milliseconds, and most passes (after our own writes,
// an nb_cfg bump, a flow change) change none of it.
func (c *Controller) decide(v *sbView, in *BindInput, cfg *Config, vifsChanged []string) *decisions {
	if p := c.decided; p != nil && p.self == in.Self && maps.Equal(p.bridgeMappings, cfg.BridgeMappings) {
		if len(vifsChanged) == 0 && v.unchanged(p.view, decideTables...) {
			p.view = v
			return p
		}
		if v.unchanged(p.view, sbdb.ChassisTable, sbdb.GatewayChassisTable, sbdb.HAChassisGroupTable, sbdb.HAChassisTable) {
			if changed, ok := v.snap.delta(p.view.snap, sbdb.PortBindingTable); ok {
				// the ports whose rows changed and those whose VIF did
				changed = slices.Compact(slices.Sorted(slices.Values(append(slices.Clip(changed), vifsChanged...))))
				if d := patchDecisions(p, v, in, changed); d != nil {
					c.decided = d
					return d
				}
			}
		}
	}
	d := &decisions{view: v, self: in.Self, bridgeMappings: cfg.BridgeMappings,
		roles: make(map[string]Role, len(v.ports)), reasons: make(map[string]string, len(v.ports)),
		parents: map[string]bool{}}
	for name, pb := range v.ports {
		d.roles[name], d.reasons[name] = Decide(pb, in)
		if pb.ParentPort != nil && *pb.ParentPort != "" {
			d.parents[*pb.ParentPort] = true
		}
	}
	d.local, d.missing = LocalDatapaths(v.ports, d.roles)
	c.decided = d
	return d
}

// patchDecisions takes p's decisions for the ports whose rows and VIFs did
// not change (of the tables decisions read, only Port_Binding rows did;
// changed names those ports and the ports whose VIF changed) and decides
// the others again; the local datapaths are walked again only when a change can
// move them. nil: a change reaches other ports' decisions (a container
// port's parent), decide them all.
func patchDecisions(p *decisions, v *sbView, in *BindInput, changed []string) *decisions {
	missing := make(map[string]bool, len(p.missing))
	for _, m := range p.missing {
		missing[m] = true
	}
	d := &decisions{view: v, self: p.self, bridgeMappings: p.bridgeMappings, roles: maps.Clone(p.roles),
		reasons: maps.Clone(p.reasons), parents: p.parents, from: p, changed: changed, fromPorts: mapPointer(p.view.ports)}
	p.from, p.fromPorts = nil, nil // no chain of earlier decisions kept alive
	relocal := false
	bound := func(r Role) bool { return r == RoleMain || r == RoleAdditional }
	for _, name := range changed {
		if p.parents[name] {
			return nil
		}
		old, hadOld := p.view.ports[name]
		pb, ok := v.ports[name]
		if ok {
			d.roles[name], d.reasons[name] = Decide(pb, in)
			if pp := pb.ParentPort; pp != nil && *pp != "" && !d.parents[*pp] {
				if mapPointer(d.parents) == mapPointer(p.parents) {
					d.parents = maps.Clone(p.parents)
				}
				d.parents[*pp] = true
			}
		} else {
			delete(d.roles, name)
			delete(d.reasons, name)
		}
		// What LocalDatapaths reads of this port: whether it is bound
		// and where, and the patch and l3gateway edges.
		oldRole, newRole := p.roles[name], d.roles[name]
		switch {
		case missing[name],
			hadOld && (old.Type == "patch" || old.Type == "l3gateway"),
			ok && (pb.Type == "patch" || pb.Type == "l3gateway"),
			// a datapath may lose its last bound port
			bound(oldRole) && (!bound(newRole) || !ok || old.Datapath != pb.Datapath),
			// a bound port on a datapath not local yet
			bound(newRole) && !p.local[pb.Datapath]:
			relocal = true
		}
	}
	if relocal {
		d.local, d.missing = LocalDatapaths(v.ports, d.roles)
	} else {
		d.local, d.missing = p.local, p.missing
	}
	return d
}

func (c *Controller) chassisName(v *sbView, uuid string) string {
	if ch, ok := v.chassis[uuid]; ok {
		return ch.Name
	}
	return uuid
}

// builtState is a State and what it was built from: the next pass reuses
// its maps of the rows (flows, multicast groups, ...) whose tables and local
// datapaths did not change, instead of filtering every row again.
type builtState struct {
	view  *sbView
	local map[string]bool
	state *State
	// decided and links (the netdev generation) the ports' maps were
	// built with; portsStale: they differ from this pass', rebuild them
	decided    *decisions
	links      uint64
	portsStale bool
}

// buildState assembles what the datapath needs for the local datapaths.
// Maps taken from prev are shared, never modified: a State is read only.
// patchPorts, if not nil, names the only ports whose rows, decisions or VIFs
// differ from prev's.
func buildState(cfg *Config, v *sbView, local map[string]bool, roles map[string]Role, vifs map[string]VIF, prev *builtState, patchPorts []string) *State {
	s := &State{NbCfg: v.global.NbCfg, Chassis: cfg.SystemID, EncapIPs: cfg.EncapIPs, BridgeMappings: cfg.BridgeMappings}
	var pv *sbView
	if prev != nil && boolMapsEqual(prev.local, local) {
		pv = prev.view
	}
	reuse := func(tables ...string) bool { return pv != nil && v.unchanged(pv, tables...) }
	localKeys := map[int]bool{}
	// The ports' maps: the previous pass' while what they are made of is
	// the same (the binding decisions, the VIFs and their links, and the
	// rows below), so that the datapath sees them unchanged too.
	portsKept := prev != nil && !prev.portsStale && prev.state.Chassis == cfg.SystemID &&
		reuse(sbdb.ChassisTable, sbdb.EncapTable, sbdb.DatapathBindingTable)
	switch {
	case portsKept && patchPorts != nil:
		// Only those ports changed: the others are not looked at, and the
		// datapath is told which did (PortDelta).
		patchPortMaps(s, prev.state, cfg, v, local, roles, vifs, patchPorts)
		s.PortDelta = &PortDelta{Base: mapPointer(prev.state.Ports), Changed: patchPorts}
	case portsKept && reuse(sbdb.PortBindingTable):
		s.Datapaths, s.Ports, s.LocalPorts = prev.state.Datapaths, prev.state.Ports, prev.state.LocalPorts
		s.RemoteChassis, s.PortChassis = prev.state.RemoteChassis, prev.state.PortChassis
	default:
		buildPorts(s, cfg, v, local, roles, vifs, localKeys)
	}
	if len(localKeys) == 0 {
		for key := range s.Datapaths {
			localKeys[key] = true
		}
	}
	if reuse(sbdb.LogicalDPGroupTable) {
		s.DPGroups = prev.state.DPGroups
	} else {
		s.DPGroups = map[string]*sbdb.LogicalDPGroup{}
		for u, g := range v.dpGroups {
			for _, d := range g.Datapaths {
				if local[d] {
					s.DPGroups[u] = g
					break
				}
			}
		}
	}
	isLocal := func(f *sbdb.LogicalFlow) bool {
		if f.LogicalDatapath != nil && local[*f.LogicalDatapath] {
			return true
		}
		return f.LogicalDpGroup != nil && s.DPGroups[*f.LogicalDpGroup] != nil
	}
	var changed []string
	patch := false
	if pv != nil && mapPointer(s.DPGroups) == mapPointer(prev.state.DPGroups) {
		changed, patch = v.snap.delta(pv.snap, sbdb.LogicalFlowTable)
	}
	switch {
	case reuse(sbdb.LogicalFlowTable, sbdb.LogicalDPGroupTable):
		s.Flows = prev.state.Flows
	case patch:
		// Only the flows that changed are looked at: the rest of the
		// previous pass' map is copied as is, and the datapath is told
		// which (FlowDelta) so that it does not walk them either.
		// While every flow is local (the last map was the view's own),
		// the view's map is the State's: no copy of 43k entries.
		allLocal := mapPointer(prev.state.Flows) == mapPointer(pv.flows)
		for _, u := range changed {
			if f, ok := v.flows[u]; allLocal && ok && !isLocal(f) {
				allLocal = false
			}
		}
		if allLocal {
			s.Flows = v.flows
		} else {
			s.Flows = maps.Clone(prev.state.Flows)
			for _, u := range changed {
				if f, ok := v.flows[u]; ok && isLocal(f) {
					s.Flows[u] = f
				} else {
					delete(s.Flows, u)
				}
			}
		}
		s.FlowDelta = &FlowDelta{Base: mapPointer(prev.state.Flows), Changed: changed}
	default:
		// sized as the last map of local flows, or for all flows (a
		// recompute has none): growing a 43k-entry map rehashes it a few
		// times over
		size := len(v.flows)
		if prev != nil && len(prev.state.Flows) > 0 {
			size = len(prev.state.Flows) + len(prev.state.Flows)/8
		}
		s.Flows = make(map[string]*sbdb.LogicalFlow, min(size, len(v.flows)))
		for u, f := range v.flows {
			if isLocal(f) {
				s.Flows[u] = f
			}
		}
		if len(s.Flows) == len(v.flows) {
			s.Flows = v.flows // every flow is local: share the view's (read only)
		}
	}
	if reuse(sbdb.MulticastGroupTable) {
		s.MulticastGroups = prev.state.MulticastGroups
	} else {
		s.MulticastGroups = map[string]*sbdb.MulticastGroup{}
		for u, mg := range v.mcGroups {
			if local[mg.Datapath] {
				s.MulticastGroups[u] = mg
			}
		}
	}
	if reuse(sbdb.MACBindingTable) {
		s.MACBindings = prev.state.MACBindings
	} else {
		s.MACBindings = map[string]*sbdb.MACBinding{}
		for u, mb := range v.macs {
			if local[mb.Datapath] {
				s.MACBindings[u] = mb
			}
		}
	}
	s.AddressSets = v.addrSets
	s.PortGroups = v.portGrps
	s.LoadBalancers = v.lbs
	if reuse(sbdb.FDBTable, sbdb.DatapathBindingTable) {
		s.FDBs = prev.state.FDBs
	} else {
		s.FDBs = map[string]*sbdb.FDB{}
		for u, f := range v.fdbs {
			if localKeys[f.DpKey] {
				s.FDBs[u] = f
			}
		}
	}
	s.StaticMACBindings = localStaticMACBindings(v, local, prev, reuse(sbdb.StaticMACBindingTable))
	s.TemplateVars = chassisTemplateVars(v, cfg.SystemID)
	return s
}

// buildPorts fills the State's maps of ports and datapaths (and the local
// datapaths' tunnel keys).
func buildPorts(s *State, cfg *Config, v *sbView, local map[string]bool, roles map[string]Role, vifs map[string]VIF, localKeys map[int]bool) {
	s.Datapaths, s.Ports = make(map[int]*sbdb.DatapathBinding, len(local)), make(map[string]*sbdb.PortBinding, len(v.ports))
	s.LocalPorts, s.RemoteChassis, s.PortChassis = map[string]LocalPort{}, map[string]string{}, make(map[string]string, len(v.ports))
	for uuid := range local {
		if dp, ok := v.datapaths[uuid]; ok {
			s.Datapaths[dp.TunnelKey] = dp
			localKeys[dp.TunnelKey] = true
		}
	}
	for name, pb := range v.ports {
		if local[pb.Datapath] {
			addPort(s, cfg, v, name, pb, roles, vifs, true)
		}
	}
}

// patchPortMaps makes the State's maps of ports from prev's, whose ports
// differ only in names (their rows, decisions or VIFs changed; the local
// datapaths, chassis, encaps and datapaths are the same).
func patchPortMaps(s, prev *State, cfg *Config, v *sbView, local map[string]bool, roles map[string]Role, vifs map[string]VIF, names []string) {
	s.Datapaths, s.RemoteChassis = prev.Datapaths, prev.RemoteChassis
	s.Ports, s.PortChassis, s.LocalPorts = maps.Clone(prev.Ports), maps.Clone(prev.PortChassis), maps.Clone(prev.LocalPorts)
	remote := func(pb *sbdb.PortBinding) bool {
		if pb == nil || pb.Chassis == nil {
			return false
		}
		ch, ok := v.chassis[*pb.Chassis]
		return ok && ch.Name != cfg.SystemID
	}
	rebuildRemote := false
	for _, name := range names {
		if remote(prev.Ports[name]) {
			rebuildRemote = true
		}
		delete(s.Ports, name)
		delete(s.PortChassis, name)
		delete(s.LocalPorts, name)
		if pb, ok := v.ports[name]; ok && local[pb.Datapath] {
			addPort(s, cfg, v, name, pb, roles, vifs, false)
			rebuildRemote = rebuildRemote || remote(pb)
		}
	}
	if rebuildRemote {
		// a remote chassis may have gained its first port or lost its last
		s.RemoteChassis = map[string]string{}
		for _, pb := range s.Ports {
			addRemoteChassis(s, cfg, v, pb)
		}
	}
}

// addPort adds one port of a local datapath to the State's maps (and its
// chassis' encap to RemoteChassis, with remote).
func addPort(s *State, cfg *Config, v *sbView, name string, pb *sbdb.PortBinding, roles map[string]Role, vifs map[string]VIF, remote bool) {
	s.Ports[name] = pb
	if pb.Chassis != nil {
		if ch, ok := v.chassis[*pb.Chassis]; ok {
			s.PortChassis[name] = ch.Name
			if remote {
				addRemoteChassis(s, cfg, v, pb)
			}
		}
	}
	r := roles[name]
	if r == RoleNone {
		return
	}
	lp := LocalPort{LogicalPort: name, Type: pb.Type}
	vifName := name
	if pb.ParentPort != nil && *pb.ParentPort != "" {
		vifName = *pb.ParentPort
		lp.Parent = vifName
		if pb.Tag != nil {
			lp.Tag = *pb.Tag
		}
	}
	if vif, ok := vifs[vifName]; ok {
		lp.Ifname, lp.Ifindex, lp.Up = vif.Ifname, vif.Ifindex, vif.Up
	}
	s.LocalPorts[name] = lp
}

// addRemoteChassis records the Geneve encap of pb's chassis if it is
// another chassis.
func addRemoteChassis(s *State, cfg *Config, v *sbView, pb *sbdb.PortBinding) {
	if pb.Chassis == nil {
		return
	}
	ch, ok := v.chassis[*pb.Chassis]
	if !ok || ch.Name == cfg.SystemID {
		return
	}
	for _, e := range ch.Encaps {
		if enc, ok := v.encaps[e]; ok && enc.Type == sbdb.EncapTypeGeneve {
			s.RemoteChassis[ch.Name] = enc.IP
			break
		}
	}
}

func boolMapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// reportReadiness runs after a successful Apply: a VIF port held here whose
// netdev exists is up (Port_Binding.up=true, Interface ovn-installed=true);
// one whose netdev is gone, or that is no longer ours, is not.
//
// from and changed, if changed is not nil, say that the rows, decisions and
// local ports differ from those from names only in the ports changed names:
// after a pass that had nothing to report with from, only those are looked
// at (not every port).
func (c *Controller) reportReadiness(ctx context.Context, sb client.Client, v *sbView, roles map[string]Role, s *State, from claimKey, changed []string) error {
	self := c.reg.chassisUUID
	var sbOps []ovsdb.Operation
	installedBy := map[string]string{} // ready logical port -> Interface uuid that should carry ovn-installed
	// The same rows, decisions and local ports as a pass that had nothing
	// to report: the same answer, without a walk of every port.
	key := claimKey{roles: mapPointer(roles), ports: mapPointer(v.ports), local: mapPointer(s.LocalPorts), self: self}
	var ports iter.Seq2[string, *sbdb.PortBinding] = maps.All(v.ports)
	switch {
	case key == c.readyIdle && len(c.justClaimed) == 0:
		installedBy, ports = c.readyInstalled, maps.All(map[string]*sbdb.PortBinding(nil))
	case changed != nil && from == c.readyIdle && from.self == self && from != (claimKey{}):
		installedBy = maps.Clone(c.readyInstalled)
		walk := slices.Compact(slices.Sorted(slices.Values(slices.Concat(changed, slices.Collect(maps.Keys(c.justClaimed))))))
		for _, name := range walk {
			delete(installedBy, name)
		}
		ports = func(yield func(string, *sbdb.PortBinding) bool) {
			for _, name := range walk {
				if pb, ok := v.ports[name]; ok && !yield(name, pb) {
					return
				}
			}
		}
	}
	for name, pb := range ports {
		// A port claimed in this pass is reported up in the same pass
		// (after Apply), not one Southbound round trip later.
		claimed := c.justClaimed[name]
		if pb.Type != "" || (!claimed && (pb.Chassis == nil || *pb.Chassis != self)) {
			continue
		}
		lp, ok := s.LocalPorts[name]
		ready := ok && roles[name] == RoleMain && lp.Ifindex > 0
		if ready != (isUp(pb) && !claimed) {
			ops, err := upOps(sb, pb, ready)
			if err != nil {
				return err
			}
			sbOps = append(sbOps, ops...)
			c.log.Info("port readiness", "port", name, "up", ready, "ifname", lp.Ifname)
		}
		if ready && lp.Parent == "" {
			if vif, ok := c.prevVIFs[name]; ok && vif.InterfaceUUID != "" {
				installedBy[name] = vif.InterfaceUUID
			}
		}
	}
	if err := c.commitClaims(ctx, sb, sbOps); err != nil {
		return err
	}
	c.readyIdle = claimKey{}
	if len(sbOps) == 0 && len(c.justClaimed) == 0 {
		c.readyIdle, c.readyInstalled = key, installedBy
	}
	if c.ovs == nil {
		return nil
	}
	installed := make(map[string]bool, len(installedBy)) // Interface uuid -> should carry ovn-installed
	for _, uuid := range installedBy {
		installed[uuid] = true
	}
	// Every Interface is checked, not only current VIFs: one that lost its
	// iface-id (a release) must lose ovn-installed too.
	marked, err := ovsInstalledInterfaces(ctx, c.ovs)
	if err != nil {
		return err
	}
	var ovsOps []ovsdb.Operation
	for uuid := range installed {
		if !marked[uuid] {
			ops, err := ovsSetInstalledOps(c.ovs, uuid, true, c.now())
			if err != nil {
				return err
			}
			ovsOps = append(ovsOps, ops...)
		}
	}
	for uuid := range marked {
		if !installed[uuid] {
			ops, err := ovsSetInstalledOps(c.ovs, uuid, false, c.now())
			if err != nil {
				return err
			}
			ovsOps = append(ovsOps, ops...)
		}
	}
	_, err = transact(ctx, c.ovs, "writing ovn-installed", ovsOps...)
	return err
}

// ackNbCfg writes Chassis_Private.nb_cfg once the datapath holds it.
func (c *Controller) ackNbCfg(ctx context.Context, sb client.Client, v *sbView, nbCfg int) error {
	priv, ok := v.private[c.cfg.SystemID]
	if !ok || priv.NbCfg == nbCfg {
		return nil
	}
	ops, err := nbCfgOps(sb, priv.UUID, nbCfg, c.now())
	if err != nil {
		return err
	}
	if _, err := transact(ctx, sb, "acknowledging nb_cfg", ops...); err != nil {
		return err
	}
	c.setStatus(func(s *Status) { s.AckedNbCfg = nbCfg })
	return nil
}
