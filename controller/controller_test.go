package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/controller/ovstest"
	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// recordingDatapath stands in for the BPF datapath in these tests only: it
// records each applied State and can hold Apply open, so the tests can check
// that readiness and nb_cfg are written strictly after Apply returns.
type recordingDatapath struct {
	mu      sync.Mutex
	applied []*State
	gate    chan struct{} // nil = Apply returns at once
	gateFor string        // only states where this port has a netdev wait at the gate
	entered chan *State
	cleaned bool
}

func (r *recordingDatapath) Apply(ctx context.Context, s *State) error {
	r.mu.Lock()
	gate, entered := r.gate, r.entered
	if lp, ok := s.LocalPorts[r.gateFor]; !ok || lp.Ifindex == 0 {
		gate, entered = nil, nil
	}
	r.mu.Unlock()
	if entered != nil {
		select {
		case entered <- s:
		default:
		}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.applied = append(r.applied, s)
	r.mu.Unlock()
	return nil
}

func (r *recordingDatapath) Cleanup(context.Context) error {
	r.mu.Lock()
	r.cleaned = true
	r.mu.Unlock()
	return nil
}

func (r *recordingDatapath) last() *State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return nil
	}
	return r.applied[len(r.applied)-1]
}

type chassisEnv struct {
	central *central.Central
	ovs     *ovstest.DB
	ctl     *Controller
	dp      *recordingDatapath
	cancel  context.CancelFunc
	done    chan error
	// keepOpen leaves the connections open after stop (to call Cleanup).
	keepOpen bool
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("OVNBPF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startCentral(t *testing.T) *central.Central {
	t.Helper()
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func startOVS(t *testing.T) *ovstest.DB {
	t.Helper()
	d, err := ovstest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

// startChassis runs a controller against c with its own local OVSDB whose
// external_ids name it.
func startChassis(t *testing.T, c *central.Central, name, ip string, dp *recordingDatapath) *chassisEnv {
	t.Helper()
	ovs := startOVS(t)
	mustVSCtl(t, ovs, "set", "Open_vSwitch", ".", "external_ids:system-id="+name,
		"external_ids:ovn-remote="+c.SBRemote(), "external_ids:ovn-encap-type=geneve",
		"external_ids:ovn-encap-ip="+ip, "external_ids:hostname="+name+".example")
	mustVSCtl(t, ovs, "add-br", "br-int")
	env := &chassisEnv{central: c, ovs: ovs, dp: dp}
	env.start(t, t.TempDir())
	return env
}

func (e *chassisEnv) start(t *testing.T, stateDir string) {
	t.Helper()
	var d Datapath
	if e.dp != nil {
		d = e.dp
	}
	ctl, err := New(Options{OVSDB: e.ovs.Remote(), StateDir: stateDir, Datapath: d, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.ctl, e.cancel, e.done = ctl, cancel, make(chan error, 1)
	go func() { e.done <- ctl.Run(ctx) }()
	t.Cleanup(e.stop)
}

func (e *chassisEnv) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
	if e.ctl != nil && !e.keepOpen {
		e.ctl.Close()
	}
}

func mustVSCtl(t *testing.T, d *ovstest.DB, args ...string) string {
	t.Helper()
	out, err := d.VSCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func mustNB(t *testing.T, c *central.Central, args ...string) string {
	t.Helper()
	out, err := c.NBCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func mustSB(t *testing.T, c *central.Central, args ...string) string {
	t.Helper()
	out, err := c.SBCtl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// eventually polls f until it returns "" (success) or the deadline passes.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	defer func(start time.Time) {
		if d := time.Since(start); d > time.Second {
			t.Logf("%s: took %v", what, d.Round(time.Millisecond))
		}
	}(time.Now())
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if last = f(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}

func pbField(t *testing.T, c *central.Central, port, col string) string {
	t.Helper()
	return mustSB(t, c, "--bare", "--columns="+col, "find", "Port_Binding", "logical_port="+port)
}

func chassisUUID(t *testing.T, c *central.Central, name string) string {
	t.Helper()
	return mustSB(t, c, "--bare", "--columns=_uuid", "find", "Chassis", "name="+name)
}

// Registration, claim, readiness after Apply, nb_cfg (--wait=hv), release and
// cleanup, against a real central and a real local OVSDB.
func TestChassisBindsVIFAndAcknowledgesNbCfg(t *testing.T) {
	c := startCentral(t)
	dp := &recordingDatapath{}
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)

	eventually(t, "chassis hv1 registered", func() string {
		if chassisUUID(t, c, "hv1") == "" {
			return "no Chassis row"
		}
		return ""
	})
	if got := mustSB(t, c, "--bare", "--columns=hostname", "find", "Chassis", "name=hv1"); got != "hv1.example" {
		t.Errorf("hostname = %q", got)
	}
	enc := mustSB(t, c, "--bare", "--columns=type,ip,options", "find", "Encap", "chassis_name=hv1")
	if !strings.Contains(enc, "geneve") || !strings.Contains(enc, "192.0.2.10") || !strings.Contains(enc, "csum=true") {
		t.Errorf("encap = %q, want geneve 192.0.2.10 csum=true", enc)
	}
	oc := mustSB(t, c, "get", "Chassis", "hv1", "other_config")
	if !strings.Contains(oc, `port-up-notif="true"`) {
		t.Errorf("other_config = %s: want port-up-notif", oc)
	}
	if mustSB(t, c, "--bare", "--columns=name", "find", "Chassis_Private", "name=hv1") != "hv1" {
		t.Errorf("no Chassis_Private row")
	}

	// A VIF on br-int named after an existing netdev ("lo") with iface-id.
	mustNB(t, c, "ls-add", "sw0")
	mustNB(t, c, "lsp-add", "sw0", "lp1")
	// Hold the datapath's Apply: nothing may be reported before it returns.
	dp.mu.Lock()
	dp.gate = make(chan struct{})
	dp.gateFor = "lp1"
	dp.entered = make(chan *State, 16)
	dp.mu.Unlock()
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=lp1")

	self := chassisUUID(t, c, "hv1")
	eventually(t, "lp1 claimed", func() string {
		if got := pbField(t, c, "lp1", "chassis"); got != self {
			return "chassis=" + got
		}
		return ""
	})
	// Wait until Apply is entered with lp1 on its netdev, then check that up
	// and ovn-installed are still unset while Apply has not returned.
	deadline := time.After(15 * time.Second)
	for waiting := true; waiting; {
		select {
		case s := <-dp.entered:
			if lp, ok := s.LocalPorts["lp1"]; ok && lp.Ifindex > 0 {
				waiting = false
			}
		case <-deadline:
			t.Fatal("Apply never saw lp1")
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got := pbField(t, c, "lp1", "up"); got == "true" {
		t.Fatal("Port_Binding.up=true before Datapath.Apply returned")
	}
	if got := mustVSCtl(t, hv.ovs, "get", "Interface", "lo", "external_ids"); strings.Contains(got, "ovn-installed") {
		t.Fatalf("ovn-installed before Datapath.Apply returned: %s", got)
	}
	dp.mu.Lock()
	close(dp.gate)
	dp.gate = nil
	dp.entered = nil
	dp.mu.Unlock()

	eventually(t, "lp1 up", func() string {
		if got := pbField(t, c, "lp1", "up"); got != "true" {
			return "up=" + got
		}
		return ""
	})
	eventually(t, "ovn-installed on lo", func() string {
		got := mustVSCtl(t, hv.ovs, "get", "Interface", "lo", "external_ids")
		if !strings.Contains(got, `ovn-installed="true"`) || !strings.Contains(got, "ovn-installed-ts") {
			return got
		}
		return ""
	})
	// northd turns Port_Binding.up into the NB port's up.
	eventually(t, "NB lp1 up", func() string {
		if got := mustNB(t, c, "get", "Logical_Switch_Port", "lp1", "up"); got != "true" {
			return "up=" + got
		}
		return ""
	})
	st := dp.last()
	if st == nil || len(st.Datapaths) != 1 || st.Flows == nil || len(st.Flows) == 0 {
		t.Fatalf("applied state lacks the local datapath and its flows: %+v", st)
	}

	// --wait=hv returns once the chassis acknowledged nb_cfg.
	start := time.Now()
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	t.Logf("ovn-nbctl --wait=hv sync: %v", time.Since(start))
	nb := mustNB(t, c, "get", "NB_Global", ".", "hv_cfg")
	if got := mustSB(t, c, "--bare", "--columns=nb_cfg", "find", "Chassis_Private", "name=hv1"); got != nb {
		t.Errorf("Chassis_Private nb_cfg = %s, NB hv_cfg = %s", got, nb)
	}

	// Release: the interface loses its iface-id.
	mustVSCtl(t, hv.ovs, "remove", "Interface", "lo", "external_ids", "iface-id")
	eventually(t, "lp1 released", func() string {
		if got := pbField(t, c, "lp1", "chassis"); got != "" {
			return "chassis=" + got
		}
		if got := pbField(t, c, "lp1", "up"); got != "false" {
			return "up=" + got
		}
		return ""
	})
	eventually(t, "ovn-installed removed", func() string {
		if got := mustVSCtl(t, hv.ovs, "get", "Interface", "lo", "external_ids"); strings.Contains(got, "ovn-installed") {
			return got
		}
		return ""
	})

	// --cleanup-on-exit: stop, then remove the rows and the datapath's pins.
	hv.keepOpen = true
	hv.stop()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hv.ctl.Cleanup(cctx); err != nil {
		t.Fatal(err)
	}
	hv.ctl.Close()
	if got := chassisUUID(t, c, "hv1"); got != "" {
		t.Errorf("Chassis hv1 still there after cleanup")
	}
	if got := mustSB(t, c, "--bare", "--columns=name", "find", "Chassis_Private", "name=hv1"); got != "" {
		t.Errorf("Chassis_Private hv1 still there after cleanup")
	}
	if !dp.cleaned {
		t.Errorf("datapath Cleanup not called")
	}
}

// A restart keeps the rows (same host-id) and does not flap the binding; a
// second host with the same system-id is refused.
func TestRestartReconcilesAndDuplicateIsRefused(t *testing.T) {
	c := startCentral(t)
	mustNB(t, c, "ls-add", "sw0")
	mustNB(t, c, "lsp-add", "sw0", "lp1")
	dp := &recordingDatapath{}
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=lp1")
	eventually(t, "lp1 up", func() string {
		if got := pbField(t, c, "lp1", "up"); got != "true" {
			return "up=" + got
		}
		return ""
	})
	uuid := chassisUUID(t, c, "hv1")

	// Restart with the same state folder: same Chassis row, port stays up.
	hv.stop()
	hv.start(t, hv.ctl.opts.StateDir)
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	if got := chassisUUID(t, c, "hv1"); got != uuid {
		t.Errorf("chassis row replaced on restart: %s -> %s", uuid, got)
	}
	if got := pbField(t, c, "lp1", "up"); got != "true" {
		t.Errorf("lp1 up=%s after restart", got)
	}

	// Another host (own state folder, so another host-id) with system-id hv1.
	other := startChassis(t, c, "hv1", "192.0.2.11", &recordingDatapath{})
	select {
	case err := <-other.done:
		other.cancel = nil
		if !errors.Is(err, ErrDuplicateChassis) {
			t.Fatalf("duplicate chassis: Run returned %v, want ErrDuplicateChassis", err)
		}
		if !strings.Contains(err.Error(), "system-id") {
			t.Errorf("error does not say how to fix it: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("second daemon with the same system-id was not refused")
	}
	if got := mustSB(t, c, "--bare", "--columns=ip", "find", "Encap", "chassis_name=hv1"); got != "192.0.2.10" {
		t.Errorf("encap changed by the refused daemon: %s", got)
	}
}

// Two chassis with an interface for the same port: requested-chassis decides,
// a migration moves the claim and the old chassis releases without
// overwriting the new one, and a tug-of-war (no requested-chassis) is throttled.
func TestMigrationAndTugOfWar(t *testing.T) {
	c := startCentral(t)
	mustNB(t, c, "ls-add", "sw0")
	mustNB(t, c, "lsp-add", "sw0", "lp1")
	mustNB(t, c, "lsp-set-options", "lp1", "requested-chassis=hv1")
	hv1 := startChassis(t, c, "hv1", "192.0.2.11", &recordingDatapath{})
	hv2 := startChassis(t, c, "hv2", "192.0.2.12", &recordingDatapath{})
	for _, hv := range []*chassisEnv{hv1, hv2} {
		mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=lp1")
	}
	installed := func(hv *chassisEnv) bool {
		return strings.Contains(mustVSCtl(t, hv.ovs, "get", "Interface", "lo", "external_ids"), "ovn-installed")
	}
	boundTo := func(name string, hv, other *chassisEnv) func() string {
		return func() string {
			u := chassisUUID(t, c, name)
			if got := pbField(t, c, "lp1", "chassis"); u == "" || got != u {
				return "chassis=" + got
			}
			if got := pbField(t, c, "lp1", "up"); got != "true" {
				return "up=" + got
			}
			if !installed(hv) || installed(other) {
				return "ovn-installed on the wrong interface"
			}
			return ""
		}
	}
	eventually(t, "lp1 on hv1", boundTo("hv1", hv1, hv2))
	if got := mustNB(t, c, "--wait=hv", "--timeout=10", "sync"); got != "" {
		t.Logf("sync: %s", got)
	}

	// Migration: requested-chassis names hv2 by hostname.
	mustNB(t, c, "lsp-set-options", "lp1", "requested-chassis=hv2.example")
	eventually(t, "lp1 moved to hv2", boundTo("hv2", hv2, hv1))
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	if got := pbField(t, c, "lp1", "chassis"); got != chassisUUID(t, c, "hv2") {
		t.Errorf("after sync lp1 on %s, want hv2", got)
	}

	// Tug-of-war: both may bind it. Claims are throttled, not a storm.
	before := hv1.ctl.Status().Claims + hv2.ctl.Status().Claims
	mustNB(t, c, "remove", "Logical_Switch_Port", "lp1", "options", "requested-chassis")
	time.Sleep(2 * time.Second)
	claims := hv1.ctl.Status().Claims + hv2.ctl.Status().Claims - before
	t.Logf("claims in 2s of tug-of-war: %d", claims)
	if claims > 10 {
		t.Errorf("%d claims in 2s: tug-of-war not throttled", claims)
	}
}

// --ovs-compat: br-int is created secure, and tunnel ports follow the remote
// chassis with ovn-controller's names.
func TestOVSCompatBridgeAndTunnels(t *testing.T) {
	c := startCentral(t)
	ovs := startOVS(t)
	mustVSCtl(t, ovs, "set", "Open_vSwitch", ".", "external_ids:system-id=hv1",
		"external_ids:ovn-remote="+c.SBRemote(), "external_ids:ovn-encap-ip=192.0.2.10")
	ctl, err := New(Options{OVSDB: ovs.Remote(), StateDir: t.TempDir(), Log: testLogger(t), OVSCompat: true})
	if err != nil {
		t.Fatal(err)
	}
	env := &chassisEnv{central: c, ovs: ovs, ctl: ctl, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	go func() { env.done <- ctl.Run(ctx) }()
	t.Cleanup(env.stop)

	eventually(t, "br-int created secure", func() string {
		out, err := ovs.VSCtl("get", "Bridge", "br-int", "fail_mode", "other_config")
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(out, "secure") || !strings.Contains(out, `disable-in-band="true"`) {
			return out
		}
		return ""
	})
	mustSB(t, c, "chassis-add", "chassis-remote-2", "geneve", "192.0.2.20")
	mustSB(t, c, "chassis-add", "chassis-remote-3", "geneve", "192.0.2.30")
	eventually(t, "tunnel ports", func() string {
		ports := mustVSCtl(t, ovs, "list-ports", "br-int")
		if ports != "ovn-chassi-0\novn-chassi-1" {
			return "ports: " + ports
		}
		return ""
	})
	opts := mustVSCtl(t, ovs, "get", "Interface", "ovn-chassi-0", "type", "options")
	if !strings.Contains(opts, "geneve") || !strings.Contains(opts, `remote_ip="192.0.2.20"`) || !strings.Contains(opts, `key=flow`) {
		t.Errorf("tunnel interface: %s", opts)
	}
	if got := mustVSCtl(t, ovs, "get", "Port", "ovn-chassi-1", "external_ids:ovn-chassis-id"); got != `"chassis-remote-3@192.0.2.30"` {
		t.Errorf("ovn-chassis-id = %s", got)
	}
	mustSB(t, c, "chassis-del", "chassis-remote-2")
	eventually(t, "tunnel removed", func() string {
		if ports := mustVSCtl(t, ovs, "list-ports", "br-int"); ports != "ovn-chassi-1" {
			return "ports: " + ports
		}
		return ""
	})
}

func TestTunnelPortName(t *testing.T) {
	taken := map[string]bool{"ovn-hv2-0": true}
	for _, tt := range []struct{ chassis, want string }{
		{"hv2", "ovn-hv2-1"},
		{"a-very-long-name", "ovn-a-very-0"},
		{"hv3", "ovn-hv3-0"},
	} {
		if got := TunnelPortName(tt.chassis, taken); got != tt.want {
			t.Errorf("TunnelPortName(%s) = %s, want %s", tt.chassis, got, tt.want)
		}
	}
	for i := 0; i < 16; i++ {
		taken[fmt.Sprintf("ovn-hv2-%x", i)] = true
	}
	if got := TunnelPortName("hv2", taken); got != "ovn-hv2-10" {
		t.Errorf("index is hex: got %s", got)
	}
}

// The local datapath set follows patch ports, the applied state holds only
// local datapaths' flows, and the conditional monitor leaves the rest out of
// the cache (unless ovn-monitor-all).
func TestLocalDatapathsAndMonitorScope(t *testing.T) {
	for _, monitorAll := range []bool{false, true} {
		t.Run(fmt.Sprintf("monitor-all=%v", monitorAll), func(t *testing.T) {
			c := startCentral(t)
			for _, cmd := range [][]string{
				{"ls-add", "sw0"}, {"ls-add", "sw1"}, {"ls-add", "sw2"}, {"lr-add", "lr0"},
				{"lsp-add", "sw0", "lp1"}, {"lsp-add", "sw1", "lp2"}, {"lsp-add", "sw2", "lp3"},
				{"lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24"},
				{"lsp-add", "sw0", "sw0-lr0"}, {"lsp-set-type", "sw0-lr0", "router"},
				{"lsp-set-addresses", "sw0-lr0", "router"}, {"lsp-set-options", "sw0-lr0", "router-port=lr0-sw0"},
				{"lrp-add", "lr0", "lr0-sw1", "00:00:00:00:ff:02", "10.0.1.1/24"},
				{"lsp-add", "sw1", "sw1-lr0"}, {"lsp-set-type", "sw1-lr0", "router"},
				{"lsp-set-addresses", "sw1-lr0", "router"}, {"lsp-set-options", "sw1-lr0", "router-port=lr0-sw1"},
			} {
				mustNB(t, c, cmd...)
			}
			dp := &recordingDatapath{}
			hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
			if monitorAll {
				mustVSCtl(t, hv.ovs, "set", "Open_vSwitch", ".", "external_ids:ovn-monitor-all=true")
			}
			mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=lp1")
			mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
			key := func(name string) int {
				v := mustSB(t, c, "--bare", "--columns=tunnel_key", "find", "Datapath_Binding", "external_ids:name="+name)
				n, _ := strconv.Atoi(v)
				return n
			}
			eventually(t, "three local datapaths", func() string {
				st := dp.last()
				if st == nil {
					return "nothing applied"
				}
				for _, n := range []string{"sw0", "lr0", "sw1"} {
					if _, ok := st.Datapaths[key(n)]; !ok {
						return n + " not local"
					}
				}
				if _, ok := st.Datapaths[key("sw2")]; ok {
					return "sw2 local"
				}
				return ""
			})
			st := dp.last()
			sw2 := mustSB(t, c, "--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=sw2")
			for _, f := range st.Flows {
				if f.LogicalDatapath != nil && *f.LogicalDatapath == sw2 {
					t.Fatalf("flow %s of sw2 in the applied state", f.UUID)
				}
			}
			if _, ok := st.Ports["lp3"]; ok {
				t.Errorf("lp3 (sw2) in the applied state")
			}
			// What the monitor brought into the cache: lp3 sits on sw2 only.
			hv.ctl.mu.Lock()
			sb := hv.ctl.sb
			hv.ctl.mu.Unlock()
			var pbs []sbdb.PortBinding
			if err := sb.WhereCache(func(p *sbdb.PortBinding) bool { return p.LogicalPort == "lp3" }).List(context.Background(), &pbs); err != nil {
				t.Fatal(err)
			}
			if monitorAll && len(pbs) == 0 {
				t.Errorf("ovn-monitor-all: lp3 not monitored")
			}
			if !monitorAll && len(pbs) != 0 {
				t.Errorf("conditional monitor: lp3 of sw2 in the cache")
			}
		})
	}
}

// The Southbound server stops answering (SIGSTOP: the inactivity probe must
// notice), then restarts: the controller reconnects by itself and keeps
// acknowledging nb_cfg.
func TestSouthboundProbeAndReconnect(t *testing.T) {
	c := startCentral(t)
	dp := &recordingDatapath{}
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
	mustVSCtl(t, hv.ovs, "set", "Open_vSwitch", ".", "external_ids:ovn-remote-probe-interval=1000")
	// The pass that reads the new interval reconnects with it; the
	// --wait=hv after that is acknowledged on the new connection. (Without
	// waiting for it, a busy machine could stop the server while the 5 s
	// default probe still watches.)
	eventually(t, "probe interval read", func() string {
		if v := hv.ctl.Status().Config[KeyProbeInterval].Value; v != "1000" {
			return "ovn-remote-probe-interval " + v
		}
		return ""
	})
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	connected := func(want bool) func() string {
		return func() string {
			if got := hv.ctl.Status().SBConnected; got != want {
				return fmt.Sprintf("connected=%v", got)
			}
			return ""
		}
	}
	eventually(t, "connected", connected(true))

	pidfile := filepath.Join(c.Dir, "ovsdb-sb.pid")
	pid, err := daemon.Pid(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	eventually(t, "probe notices the silent server", connected(false))
	syscall.Kill(pid, syscall.SIGCONT)
	stopped = false
	eventually(t, "reconnected after SIGCONT", connected(true))
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")

	// A real restart of the Southbound ovsdb-server on the same database.
	if err := daemon.Stop(pidfile, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sees the server gone", connected(false))
	if _, err := daemon.Start("", pidfile, nil, "ovsdb-server", filepath.Join(c.Dir, "sb.db"),
		"--remote=punix:"+c.SBSocket(), "--unixctl="+filepath.Join(c.Dir, "ovsdb-sb.ctl"),
		"--pidfile="+pidfile, "--log-file="+filepath.Join(c.Dir, "ovsdb-sb.log"), "--detach", "--no-chdir"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reconnected after restart", connected(true))
	mustNB(t, c, "ls-add", "after-restart")
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	if chassisUUID(t, c, "hv1") == "" {
		t.Errorf("chassis row lost")
	}
}

// A container port on another switch than its parent's: the monitor must
// bring it (its datapath is not local yet), and a VIF plugged for a port of
// an already local datapath must not change the monitor scope.
func TestContainerPortElsewhereAndStableScope(t *testing.T) {
	c := startCentral(t)
	for _, cmd := range [][]string{
		{"ls-add", "sw0"}, {"ls-add", "sw1"}, {"lsp-add", "sw0", "vm1"}, {"lsp-add", "sw0", "vm2"},
		{"lsp-add", "sw1", "c1", "vm1", "7"},
	} {
		mustNB(t, c, cmd...)
	}
	dp := &recordingDatapath{}
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
	// --wait=hv returns at once while no chassis is registered: wait for it.
	eventually(t, "registered", func() string {
		if chassisUUID(t, c, "hv1") == "" {
			return "no chassis"
		}
		return ""
	})
	self := chassisUUID(t, c, "hv1")
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=vm1")
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	eventually(t, "container port on sw1 bound", func() string {
		if got := pbField(t, c, "c1", "chassis"); got != self {
			return "c1 chassis=" + got
		}
		if st := dp.last(); st == nil || st.LocalPorts["c1"].Parent != "vm1" {
			return "c1 not in the applied state"
		}
		return ""
	})
	// nb_cfg is acknowledged only by a pass whose scope is settled.
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	hv.ctl.mu.Lock()
	before, beforeScope := hv.ctl.sb, hv.ctl.sbScope
	hv.ctl.mu.Unlock()
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "vm2if", "--", "set", "Interface", "vm2if", "type=internal",
		"external_ids:iface-id=vm2")
	eventually(t, "vm2 bound", func() string {
		if got := pbField(t, c, "vm2", "chassis"); got != self {
			return "vm2 chassis=" + got
		}
		return ""
	})
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	hv.ctl.mu.Lock()
	after, afterScope := hv.ctl.sb, hv.ctl.sbScope
	hv.ctl.mu.Unlock()
	if before != after {
		t.Errorf("a VIF for a port of a local datapath opened a new Southbound monitor: scope %q, was %q",
			afterScope, beforeScope)
	}
}

// Real northd output for container, localport, l3gateway and chassisredirect
// ports: each is bound (or not) as ovn-controller would.
func TestContainerLocalportAndGatewayPorts(t *testing.T) {
	c := startCentral(t)
	dp := &recordingDatapath{}
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
	eventually(t, "registered", func() string {
		if chassisUUID(t, c, "hv1") == "" {
			return "no chassis"
		}
		return ""
	})
	mustSB(t, c, "chassis-add", "hv2", "geneve", "192.0.2.20")
	for _, cmd := range [][]string{
		{"ls-add", "sw0"}, {"lsp-add", "sw0", "vm1"}, {"lsp-add", "sw0", "c1", "vm1", "42"},
		{"lsp-add", "sw0", "meta"}, {"lsp-set-type", "meta", "localport"},
		// A distributed router port with gateway chassis hv1 (prio 20) and hv2 (10).
		{"lr-add", "lr0"}, {"lrp-add", "lr0", "lr0-sw0", "00:00:00:00:ff:01", "10.0.0.1/24"},
		{"lsp-add", "sw0", "sw0-lr0"}, {"lsp-set-type", "sw0-lr0", "router"},
		{"lsp-set-addresses", "sw0-lr0", "router"}, {"lsp-set-options", "sw0-lr0", "router-port=lr0-sw0"},
		{"lrp-add", "lr0", "lr0-pub", "00:00:00:00:ff:02", "198.51.100.1/24"},
		{"lrp-set-gateway-chassis", "lr0-pub", "hv1", "20"}, {"lrp-set-gateway-chassis", "lr0-pub", "hv2", "10"},
		// A gateway router pinned to hv2: its l3gateway ports are not ours.
		{"lr-add", "gw2", "--", "set", "Logical_Router", "gw2", "options:chassis=hv2"},
		{"lrp-add", "gw2", "gw2-sw0", "00:00:00:00:ff:03", "10.0.0.2/24"},
		{"lsp-add", "sw0", "sw0-gw2"}, {"lsp-set-type", "sw0-gw2", "router"},
		{"lsp-set-addresses", "sw0-gw2", "router"}, {"lsp-set-options", "sw0-gw2", "router-port=gw2-sw0"},
		// A gateway router pinned to hv1: its l3gateway ports are ours.
		{"lr-add", "gw1", "--", "set", "Logical_Router", "gw1", "options:chassis=hv1"},
		{"lrp-add", "gw1", "gw1-sw0", "00:00:00:00:ff:04", "10.0.0.3/24"},
		{"lsp-add", "sw0", "sw0-gw1"}, {"lsp-set-type", "sw0-gw1", "router"},
		{"lsp-set-addresses", "sw0-gw1", "router"}, {"lsp-set-options", "sw0-gw1", "router-port=gw1-sw0"},
	} {
		mustNB(t, c, cmd...)
	}
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=vm1")
	mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
	self := chassisUUID(t, c, "hv1")
	eventually(t, "bindings", func() string {
		for port, want := range map[string]string{"vm1": self, "c1": self, "cr-lr0-pub": self, "meta": "",
			"sw0-gw2": "", "gw2-sw0": "", "sw0-gw1": self, "gw1-sw0": self} {
			if got := pbField(t, c, port, "chassis"); got != want {
				return port + " chassis=" + got
			}
		}
		return ""
	})
	st := dp.last()
	if lp := st.LocalPorts["c1"]; lp.Parent != "vm1" || lp.Tag != 42 || lp.Ifname != "lo" {
		t.Errorf("container port c1: %+v, want parent vm1 tag 42 on lo", lp)
	}
	if _, ok := st.LocalPorts["meta"]; !ok {
		t.Errorf("localport meta not local")
	}
	// hv2 takes over the gateway when it gets the higher priority.
	mustNB(t, c, "lrp-set-gateway-chassis", "lr0-pub", "hv2", "30")
	eventually(t, "gateway released", func() string {
		if got := pbField(t, c, "cr-lr0-pub", "chassis"); got == self {
			return "cr-lr0-pub still on hv1"
		}
		return ""
	})
}

// A pass that changes nothing the ports are made of (an nb_cfg bump) hands
// the datapath the very maps of the previous State, so the datapath can
// skip its ports phase; a new port, or a VIF naming another port, makes
// new ones holding the change.
func TestPassReusesUnchangedPortMaps(t *testing.T) {
	c := startCentral(t)
	dp := &recordingDatapath{}
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
	mustNB(t, c, "ls-add", "sw0", "--", "lsp-add", "sw0", "lp1", "--", "lsp-add", "sw0", "lp2")
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=lp1")
	eventually(t, "lp1 on its netdev", func() string {
		if s := dp.last(); s == nil || s.LocalPorts["lp1"].Ifindex == 0 {
			return "not yet"
		}
		return ""
	})
	mustNB(t, c, "--wait=hv", "sync")
	before := dp.last()
	mustNB(t, c, "--wait=hv", "sync")
	after := dp.last()
	if after == before || after.NbCfg <= before.NbCfg {
		t.Fatalf("no new State for the nb_cfg bump (nb_cfg %d then %d)", before.NbCfg, after.NbCfg)
	}
	if mapPointer(after.Ports) != mapPointer(before.Ports) || mapPointer(after.LocalPorts) != mapPointer(before.LocalPorts) ||
		mapPointer(after.PortChassis) != mapPointer(before.PortChassis) || mapPointer(after.Datapaths) != mapPointer(before.Datapaths) {
		t.Errorf("an nb_cfg bump rebuilt the ports' maps")
	}

	mustNB(t, c, "--wait=hv", "lsp-add", "sw0", "lp3")
	s := dp.last()
	if _, ok := s.Ports["lp3"]; !ok || mapPointer(s.Ports) == mapPointer(after.Ports) {
		t.Fatalf("a new port is not in the State's ports (%d ports)", len(s.Ports))
	}

	mustVSCtl(t, hv.ovs, "set", "Interface", "lo", "external_ids:iface-id=lp2")
	eventually(t, "lp2 on the netdev, lp1 off it", func() string {
		s := dp.last()
		if s.LocalPorts["lp2"].Ifindex == 0 {
			return "lp2 not local"
		}
		if _, ok := s.LocalPorts["lp1"]; ok {
			return "lp1 still local"
		}
		return ""
	})
	// readiness and the status' port list follow the changed ports alone
	// (after a pass with nothing to report): lp2 up, lp1 down and gone
	// from the list, lp3 (no role, no netdev) never in it
	mustNB(t, c, "--wait=hv", "sync")
	mustNB(t, c, "--wait=hv", "lsp-add", "sw0", "lp4")
	dp.mu.Lock()
	for _, s := range dp.applied {
		if _, ok := s.Ports["lp4"]; ok {
			if s.PortDelta == nil || !slices.Contains(s.PortDelta.Changed, "lp4") {
				t.Errorf("the first State with a new port is not patched from the previous one (%v)", s.PortDelta)
			}
			break
		}
	}
	dp.mu.Unlock()
	mustVSCtl(t, hv.ovs, "set", "Interface", "lo", "external_ids:iface-id=lp4")
	eventually(t, "lp4 up with ovn-installed, lp2 down, the status' list", func() string {
		if got := pbField(t, c, "lp4", "up"); got != "true" {
			return "lp4 up=" + got
		}
		if got := pbField(t, c, "lp2", "up"); got != "false" {
			return "lp2 up=" + got
		}
		if got := mustVSCtl(t, hv.ovs, "get", "Interface", "lo", "external_ids:ovn-installed"); strings.TrimSpace(got) != `"true"` {
			return "ovn-installed=" + got
		}
		var names []string
		for _, p := range hv.ctl.Status().Ports {
			names = append(names, p.LogicalPort+"@"+p.Ifname)
		}
		if got := strings.Join(names, " "); got != "lp4@lo" {
			return "status ports " + got
		}
		return ""
	})
}
