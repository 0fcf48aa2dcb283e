// Package lab builds OVN labs out of network namespaces on one machine: a real
// OVN central (internal/central), an underlay bridge in a namespace of its own,
// one namespace per chassis and one per VM.
//
//	         +----------------- underlay netns: bridge "br-ul" -----------------+
//	         |  192.0.2.0/24 (TEST-NET-1)                                       |
//	      veth "ul0"                                                      veth "ul0"
//	chassis netns hv1 (192.0.2.11)            ...            chassis netns hvN (192.0.2.1N)
//	own ovsdb-server (Open_vSwitch)                          own ovsdb-server
//	flavour ovs: ovs-vswitchd + ovn-controller
//	flavour ovnbpf: ovnbpfd
//	   |  veth <vm> (chassis end, an Interface with external_ids:iface-id)
//	VM netns: eth0 with the VM's MAC, address, MTU and default route
//
// All state lives in a run folder (default /run/ovnbpf-lab/<name>), so the CLI
// can be called again and again, and several labs with different names coexist.
// Namespaces are named ovnlab-<name>-<node>; lab names have no dash, so one
// lab's prefix never matches another's and Down can find remains without state.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// Flavours of chassis a lab can run.
const (
	FlavourOVS    = "ovs"    // reference: real ovs-vswitchd (userspace datapath) + ovn-controller
	FlavourOVNBPF = "ovnbpf" // ovnbpfd
)

// DefaultName is the lab name when none is given.
const DefaultName = "lab"

// UnderlayPrefix is the underlay subnet (TEST-NET-1: never routed off the machine).
const UnderlayPrefix = "192.0.2."

// DefaultMTU leaves room for Geneve's 58 bytes on the 1500-byte underlay, with
// margin for OVS's userspace datapath.
const DefaultMTU = 1400

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
	nodeRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,10}$`)
)

// ErrNotUp is returned when a lab of that name does not exist.
var ErrNotUp = errors.New("lab is not up")

// Lab is one lab's recorded state.
type Lab struct {
	Name    string     `json:"name"`
	Dir     string     `json:"dir"`
	Chassis []*Chassis `json:"chassis"`
	VMs     []*VM      `json:"vms"`
}

// Chassis is one hypervisor of the lab.
type Chassis struct {
	Name       string `json:"name"`
	Flavour    string `json:"flavour"`
	UnderlayIP string `json:"underlay_ip"`
}

// VM is one workload: a namespace with one port on a chassis.
type VM struct {
	Name    string `json:"name"`
	Chassis string `json:"chassis"`
	LPort   string `json:"lport"`
	MAC     string `json:"mac"`
	Addr    string `json:"addr"` // address/prefix length
	GW      string `json:"gw,omitempty"`
	Addr6   string `json:"addr6,omitempty"` // IPv6 address/prefix length
	GW6     string `json:"gw6,omitempty"`
	MTU     int    `json:"mtu"`
}

// RunRoot is where labs keep their state; OVNBPF_LAB_DIR overrides it.
func RunRoot() string {
	if d := os.Getenv("OVNBPF_LAB_DIR"); d != "" {
		return d
	}
	return "/run/ovnbpf-lab"
}

// CheckName validates a lab name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("lab name %q: use 1 to 8 lower-case letters or digits (no dashes)", name)
	}
	return nil
}

func checkNode(kind, name string) error {
	if !nodeRE.MatchString(name) || name == "underlay" {
		return fmt.Errorf("%s name %q: use a lower-case letter then up to 10 letters or digits ('underlay' is reserved)", kind, name)
	}
	return nil
}

// Namespace is the network namespace of a node (a chassis, a VM or "underlay").
func Namespace(lab, node string) string { return "ovnlab-" + lab + "-" + node }

// SystemID is the OVN chassis name of a lab chassis: prefixed by the lab's
// name, so labs sharing bpffs and a central never collide.
func SystemID(lab, chassis string) string { return lab + "-" + chassis }

func (l *Lab) centralDir() string          { return filepath.Join(l.Dir, "central") }
func (l *Lab) chassisDir(ch string) string { return filepath.Join(l.Dir, "chassis", ch) }
func (l *Lab) statePath() string           { return filepath.Join(l.Dir, "state.json") }

// Central returns the lab's OVN central.
func (l *Lab) Central() *central.Central { return central.Attach(l.centralDir()) }

// Env is the environment that points ovn-nbctl and ovn-sbctl at the lab.
func (l *Lab) Env() []string {
	c := l.Central()
	return []string{"OVN_NB_DB=" + c.NBRemote(), "OVN_SB_DB=" + c.SBRemote()}
}

// Load reads the state of the lab called name.
func Load(name string) (*Lab, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(RunRoot(), name)
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %q: %w (run 'ovnbpf-lab up --name %s')", name, ErrNotUp, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading lab state: %w", err)
	}
	var l Lab
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("lab state %s is corrupt (run 'ovnbpf-lab down --name %s'): %w", dir, name, err)
	}
	return &l, nil
}

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing lab state: %w", err)
	}
	return os.Rename(tmp, l.statePath())
}

// ParseChassis parses "hv1=ovnbpf,hv2=ovs" into chassis specs, in order.
func ParseChassis(spec string) ([]*Chassis, error) {
	var out []*Chassis
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, flavour, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("--chassis %q: write NAME=FLAVOUR, e.g. hv1=ovs", item)
		}
		if err := checkNode("chassis", name); err != nil {
			return nil, fmt.Errorf("--chassis: %w", err)
		}
		if seen[name] {
			return nil, fmt.Errorf("--chassis: %s named twice", name)
		}
		seen[name] = true
		switch flavour {
		case FlavourOVS, FlavourOVNBPF:
		default:
			return nil, fmt.Errorf("--chassis %s=%s: no such flavour; use %q or %q", name, flavour, FlavourOVNBPF, FlavourOVS)
		}
		out = append(out, &Chassis{Name: name, Flavour: flavour})
	}
	if len(out) == 0 {
		return nil, errors.New("--chassis names no chassis; e.g. --chassis hv1=ovs,hv2=ovs")
	}
	if len(out) > 200 {
		return nil, errors.New("--chassis: at most 200 chassis")
	}
	for i, c := range out {
		c.UnderlayIP = fmt.Sprintf("%s%d", UnderlayPrefix, 11+i)
	}
	return out, nil
}

// Options for Up.
type Options struct {
	Name    string
	Chassis []*Chassis
	// OVNBPFD is the ovnbpfd binary for chassis of flavour ovnbpf.
	OVNBPFD string
	// OVNBPFDArgs are more flags for each ovnbpfd (e.g. --lflow-capacity).
	OVNBPFDArgs []string
}

// Up brings a lab up. Remains of a crashed lab of the same name are cleaned
// first; a lab that is healthy and up is a name clash.
func Up(o Options) (l *Lab, err error) {
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	if err := checkTools(o.Chassis); err != nil {
		return nil, err
	}
	if old, err := Load(o.Name); err == nil {
		if old.healthy() {
			return nil, fmt.Errorf("lab %q is already up: run 'ovnbpf-lab down --name %s' first, or pick another --name", o.Name, o.Name)
		}
	}
	// Remains: a crashed lab, or namespaces without state.
	if err := Down(o.Name); err != nil {
		return nil, fmt.Errorf("cleaning the remains of lab %q: %w", o.Name, err)
	}
	for _, c := range o.Chassis {
		if c.Flavour == FlavourOVNBPF {
			if o.OVNBPFD == "" {
				return nil, fmt.Errorf("chassis %s: flavour ovnbpf needs the ovnbpfd binary beside ovnbpf-lab or on PATH: run 'make build' (or use %s=ovs)", c.Name, c.Name)
			}
		}
	}
	l = &Lab{Name: o.Name, Dir: filepath.Join(RunRoot(), o.Name), Chassis: o.Chassis}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("making lab folder: %w", err)
	}
	defer func() {
		if err != nil {
			_ = Down(o.Name)
		}
	}()
	if err := l.save(); err != nil {
		return nil, err
	}
	if _, err := central.Start(l.centralDir()); err != nil {
		return nil, err
	}
	if err := l.makeUnderlay(); err != nil {
		return nil, err
	}
	for _, c := range l.Chassis {
		if err := l.startChassis(c, append([]string{o.OVNBPFD}, o.OVNBPFDArgs...)); err != nil {
			return nil, fmt.Errorf("chassis %s: %w", c.Name, err)
		}
	}
	if err := l.waitChassisRegistered(30 * time.Second); err != nil {
		return nil, err
	}
	return l, nil
}

func checkTools(chassis []*Chassis) error {
	need := []string{"ip", "ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovn-northd", "ovn-nbctl", "ovn-sbctl", "ethtool", "ping"}
	for _, c := range chassis {
		if c.Flavour == FlavourOVS {
			need = append(need, "ovs-vswitchd", "ovn-controller")
			break
		}
	}
	var missing []string
	for _, p := range need {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run 'make deps' (installs openvswitch-switch, ovn-central, ovn-host, iproute2, ethtool)", strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return errors.New("labs create network namespaces: run as root")
	}
	return nil
}

// healthy reports whether every daemon the lab started is still alive.
func (l *Lab) healthy() bool {
	if !l.Central().Running() {
		return false
	}
	for _, c := range l.Chassis {
		for _, pf := range l.chassisPidfiles(c) {
			pid, err := daemon.Pid(pf)
			if err != nil || !daemon.Alive(pid) {
				return false
			}
		}
	}
	return true
}

func (l *Lab) makeUnderlay() error {
	ns := Namespace(l.Name, "underlay")
	if err := addNetns(ns); err != nil {
		return err
	}
	return runAll(
		[]string{"ip", "-n", ns, "link", "add", "br-ul", "type", "bridge"},
		[]string{"ip", "-n", ns, "link", "set", "br-ul", "up"},
		// The underlay stands for a physical switch: no host firewall on it.
		// With br_netfilter in the kernel every bridged frame would go
		// through the IP stack's hooks (and a route lookup) in this namespace.
		// -e: kernels without br_netfilter have no such keys.
		[]string{"ip", "netns", "exec", ns, "sysctl", "-qew", "net.bridge.bridge-nf-call-iptables=0",
			"net.bridge.bridge-nf-call-ip6tables=0", "net.bridge.bridge-nf-call-arptables=0"},
	)
}

func addNetns(ns string) error {
	if err := run("ip", "netns", "add", ns); err != nil {
		return err
	}
	return run("ip", "-n", ns, "link", "set", "lo", "up")
}

// chassisEnv keeps every default file of the chassis' OVS/OVN programs in its
// own folder, so ovs-vsctl, ovs-appctl and ovn-appctl find this chassis' daemons.
func (l *Lab) chassisEnv(c *Chassis) []string {
	d := l.chassisDir(c.Name)
	return []string{"OVS_RUNDIR=" + d, "OVS_LOGDIR=" + d, "OVS_DBDIR=" + d,
		"OVN_RUNDIR=" + d, "OVN_LOGDIR=" + d, "OVN_DBDIR=" + d}
}

func (l *Lab) chassisPidfiles(c *Chassis) []string {
	d := l.chassisDir(c.Name)
	pfs := []string{filepath.Join(d, "ovsdb-server.pid")}
	switch c.Flavour {
	case FlavourOVS:
		pfs = append(pfs, filepath.Join(d, "ovs-vswitchd.pid"), filepath.Join(d, "ovn-controller.pid"))
	case FlavourOVNBPF:
		pfs = append(pfs, filepath.Join(d, "ovnbpfd.pid"))
	}
	return pfs
}

// DBSocket is the chassis' local OVSDB (Open_vSwitch schema) socket.
func (l *Lab) DBSocket(chassis string) string {
	return filepath.Join(l.chassisDir(chassis), "db.sock")
}

func (l *Lab) vsctl(c *Chassis, args ...string) error {
	argv := append([]string{"--db=unix:" + l.DBSocket(c.Name), "--timeout=30"}, args...)
	cmd := exec.Command("ovs-vsctl", argv...)
	cmd.Env = append(os.Environ(), l.chassisEnv(c)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ovs-vsctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (l *Lab) startChassis(c *Chassis, ovnbpfd []string) error {
	d := l.chassisDir(c.Name)
	ns := Namespace(l.Name, c.Name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("making chassis folder: %w", err)
	}
	if err := addNetns(ns); err != nil {
		return err
	}
	// Underlay: veth "ul0" in the chassis, its peer named after the chassis on the bridge.
	uns := Namespace(l.Name, "underlay")
	if err := runAll(
		[]string{"ip", "-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", c.Name, "netns", uns},
		[]string{"ip", "-n", uns, "link", "set", "dev", c.Name, "master", "br-ul", "up"},
		[]string{"ip", "-n", ns, "link", "set", "dev", "ul0", "up"},
	); err != nil {
		return err
	}
	if c.Flavour == FlavourOVS {
		// Frames to an OVS chassis leave the bridge as a NIC would put them on
		// the wire: segmented and with their checksums filled in. veth would
		// pass a GSO packet (an ovnbpf chassis' GRO'd TCP in Geneve) whole,
		// and the userspace datapath reads its raw socket one MTU-sized frame
		// at a time, checksums as they are.
		if err := run("ip", "netns", "exec", uns, "ethtool", "-K", c.Name, "tx", "off",
			"tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off"); err != nil {
			return err
		}
	}
	// The chassis' local configuration database, as on any OVN host.
	db := filepath.Join(d, "conf.db")
	if err := run("ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	if _, err := daemon.Start("", filepath.Join(d, "ovsdb-server.pid"), l.chassisEnv(c),
		"ovsdb-server", db, "--remote=punix:"+l.DBSocket(c.Name),
		"--pidfile="+filepath.Join(d, "ovsdb-server.pid"),
		"--log-file="+filepath.Join(d, "ovsdb-server.log"),
		"--detach", "--no-chdir"); err != nil {
		return err
	}
	sb := l.Central().SBRemote()
	if err := l.vsctl(c, "--no-wait", "init", "--", "set", "Open_vSwitch", ".",
		"external_ids:system-id="+SystemID(l.Name, c.Name),
		"external_ids:hostname="+SystemID(l.Name, c.Name),
		"external_ids:ovn-remote="+sb,
		"external_ids:ovn-encap-type=geneve",
		"external_ids:ovn-encap-ip="+c.UnderlayIP,
		"external_ids:ovn-bridge=br-int",
		"external_ids:ovn-bridge-datapath-type=netdev"); err != nil {
		return err
	}
	switch c.Flavour {
	case FlavourOVS:
		return l.startOVSChassis(c, ns)
	case FlavourOVNBPF:
		return l.startOVNBPFChassis(c, ns, ovnbpfd)
	}
	return fmt.Errorf("unknown flavour %q", c.Flavour)
}

// startOVSChassis follows ARCHITECTURE.md's recipe: the userspace datapath,
// br-phy holding the underlay port and address (OVS native tunnelling routes
// through it), a secure br-int, and ovn-controller, all inside the namespace.
func (l *Lab) startOVSChassis(c *Chassis, ns string) error {
	d := l.chassisDir(c.Name)
	if _, err := daemon.Start(ns, filepath.Join(d, "ovs-vswitchd.pid"), l.chassisEnv(c),
		"ovs-vswitchd", "unix:"+l.DBSocket(c.Name),
		"--pidfile="+filepath.Join(d, "ovs-vswitchd.pid"),
		"--log-file="+filepath.Join(d, "ovs-vswitchd.log"),
		"--detach", "--no-chdir"); err != nil {
		return err
	}
	if err := l.vsctl(c,
		"--may-exist", "add-br", "br-phy", "--", "set", "Bridge", "br-phy", "datapath_type=netdev",
		"--", "--may-exist", "add-port", "br-phy", "ul0",
		"--", "--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev",
		"fail-mode=secure", "other-config:disable-in-band=true"); err != nil {
		return err
	}
	if err := runAll(
		[]string{"ip", "-n", ns, "addr", "add", c.UnderlayIP + "/24", "dev", "br-phy"},
		[]string{"ip", "-n", ns, "link", "set", "br-phy", "up"},
		[]string{"ip", "-n", ns, "link", "set", "br-int", "up"},
	); err != nil {
		return err
	}
	_, err := daemon.Start(ns, filepath.Join(d, "ovn-controller.pid"), l.chassisEnv(c),
		"ovn-controller", "unix:"+l.DBSocket(c.Name),
		"--pidfile="+filepath.Join(d, "ovn-controller.pid"),
		"--log-file="+filepath.Join(d, "ovn-controller.log"),
		"--detach", "--no-chdir")
	return err
}

// startOVNBPFChassis puts the underlay address on ul0 itself (ovnbpf
// encapsulates in BPF on that device) and runs ovnbpfd (binary, then extra
// flags) against the chassis' db.
func (l *Lab) startOVNBPFChassis(c *Chassis, ns string, ovnbpfd []string) error {
	d := l.chassisDir(c.Name)
	if err := run("ip", "-n", ns, "addr", "add", c.UnderlayIP+"/24", "dev", "ul0"); err != nil {
		return err
	}
	argv := append([]string{ovnbpfd[0], "--ovsdb=unix:" + l.DBSocket(c.Name),
		// Every chassis of every lab keeps its own state and control socket.
		"--state-dir=" + d, "--ctl-socket=" + filepath.Join(d, "ovnbpfd.ctl"),
		"--config=" + filepath.Join(d, "ovnbpfd.json")}, ovnbpfd[1:]...)
	_, err := daemon.Spawn(ns, filepath.Join(d, "ovnbpfd.pid"), filepath.Join(d, "ovnbpfd.log"), l.chassisEnv(c), argv...)
	return err
}

// waitChassisRegistered waits until every chassis has a Chassis row in the SB.
func (l *Lab) waitChassisRegistered(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := l.Central().SBCtl("--bare", "--columns=name", "list", "Chassis")
		missing := []string{}
		if err == nil {
			have := map[string]bool{}
			for _, f := range strings.Fields(out) {
				have[f] = true
			}
			for _, c := range l.Chassis {
				if !have[SystemID(l.Name, c.Name)] {
					missing = append(missing, c.Name)
				}
			}
			if len(missing) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chassis %s did not register in the Southbound DB within %s (see the logs in %s)",
				strings.Join(missing, ", "), timeout, filepath.Join(l.Dir, "chassis"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ChassisByName finds a chassis of the lab.
func (l *Lab) ChassisByName(name string) (*Chassis, error) {
	for _, c := range l.Chassis {
		if c.Name == name {
			return c, nil
		}
	}
	names := []string{}
	for _, c := range l.Chassis {
		names = append(names, c.Name)
	}
	return nil, fmt.Errorf("lab %s has no chassis %q (it has %s)", l.Name, name, strings.Join(names, ", "))
}

// VMByName finds a VM of the lab.
func (l *Lab) VMByName(name string) *VM {
	for _, v := range l.VMs {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// AddVM creates a VM namespace with eth0 and plugs its peer into the chassis
// as an Interface with external_ids:iface-id, as os-vif or a CNI would.
func (l *Lab) AddVM(v *VM) (err error) {
	if err := checkNode("VM", v.Name); err != nil {
		return err
	}
	c, err := l.ChassisByName(v.Chassis)
	if err != nil {
		return err
	}
	if l.VMByName(v.Name) != nil {
		return fmt.Errorf("lab %s already has a VM %s: 'ovnbpf-lab vm del %s' first", l.Name, v.Name, v.Name)
	}
	for _, cc := range l.Chassis {
		if cc.Name == v.Name {
			return fmt.Errorf("VM name %s clashes with a chassis name", v.Name)
		}
	}
	if v.LPort == "" {
		return errors.New("--lport is required: the logical switch port this VM plugs into")
	}
	if v.MAC == "" || v.Addr == "" {
		return errors.New("--mac and --ip are required")
	}
	if !strings.Contains(v.Addr, "/") {
		return fmt.Errorf("--ip %s: give a prefix length, e.g. %s/24", v.Addr, v.Addr)
	}
	if v.Addr6 != "" && !strings.Contains(v.Addr6, "/") {
		return fmt.Errorf("--ip6 %s: give a prefix length, e.g. %s/64", v.Addr6, v.Addr6)
	}
	if v.MTU == 0 {
		v.MTU = DefaultMTU
	}
	if v.MTU < 576 || v.MTU > 1442 {
		return fmt.Errorf("--mtu %d: use 576 to 1442 (Geneve needs 58 bytes of the underlay's 1500)", v.MTU)
	}
	vns := Namespace(l.Name, v.Name)
	cns := Namespace(l.Name, c.Name)
	defer func() {
		if err != nil {
			_ = run("ip", "netns", "del", vns)
		}
	}()
	if err := addNetns(vns); err != nil {
		return err
	}
	mtu := fmt.Sprint(v.MTU)
	cmds := [][]string{
		{"ip", "-n", vns, "link", "add", "eth0", "type", "veth", "peer", "name", v.Name, "netns", cns},
		{"ip", "-n", vns, "link", "set", "eth0", "address", v.MAC, "mtu", mtu, "up"},
		{"ip", "-n", vns, "addr", "add", v.Addr, "dev", "eth0"},
		{"ip", "-n", cns, "link", "set", "dev", v.Name, "mtu", mtu, "up"},
		// A userspace datapath forwards packets whose checksum the veth never filled in.
		{"ip", "netns", "exec", vns, "ethtool", "-K", "eth0", "tx", "off"},
	}
	if v.GW != "" {
		cmds = append(cmds, []string{"ip", "-n", vns, "route", "add", "default", "via", v.GW})
	}
	if v.Addr6 != "" {
		// nodad: the address is the VM's by construction; DAD would only delay the test.
		cmds = append(cmds, []string{"ip", "-n", vns, "-6", "addr", "add", v.Addr6, "dev", "eth0", "nodad"})
	}
	if v.GW6 != "" {
		cmds = append(cmds, []string{"ip", "-n", vns, "-6", "route", "add", "default", "via", v.GW6})
	}
	if err := runAll(cmds...); err != nil {
		return err
	}
	noWait := []string{}
	if c.Flavour != FlavourOVS {
		noWait = []string{"--no-wait"} // no ovs-vswitchd to wait for
	}
	args := append(noWait, "--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int",
		"fail-mode=secure", "other-config:disable-in-band=true")
	if c.Flavour == FlavourOVS {
		args = append(args, "datapath_type=netdev")
	}
	args = append(args, "--", "add-port", "br-int", v.Name,
		"--", "set", "Interface", v.Name, "external_ids:iface-id="+v.LPort)
	if err := l.vsctl(c, args...); err != nil {
		return err
	}
	l.VMs = append(l.VMs, v)
	return l.save()
}

// DelVM removes a VM: its port from the chassis' OVSDB and its namespace.
func (l *Lab) DelVM(name string) error {
	v := l.VMByName(name)
	if v == nil {
		return fmt.Errorf("lab %s has no VM %q", l.Name, name)
	}
	c, err := l.ChassisByName(v.Chassis)
	if err != nil {
		return err
	}
	args := []string{"--if-exists", "del-port", "br-int", v.Name}
	if c.Flavour != FlavourOVS {
		args = append([]string{"--no-wait"}, args...)
	}
	if err := l.vsctl(c, args...); err != nil {
		return err
	}
	if err := run("ip", "netns", "del", Namespace(l.Name, v.Name)); err != nil {
		return err
	}
	// The chassis end of the veth goes with its peer.
	var kept []*VM
	for _, o := range l.VMs {
		if o.Name != name {
			kept = append(kept, o)
		}
	}
	l.VMs = kept
	return l.save()
}

// ExecCommand returns a command that runs argv inside node's namespace (a VM,
// a chassis or "underlay"), with the lab's OVN_NB_DB/OVN_SB_DB set and, on a
// chassis, ovs-vsctl/ovs-appctl/ovn-appctl pointed at that chassis' daemons.
func (l *Lab) ExecCommand(node string, argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec: no command given (ovnbpf-lab exec NODE -- CMD [ARGS...])")
	}
	env := append(os.Environ(), l.Env()...)
	switch {
	case node == "underlay":
	case l.VMByName(node) != nil:
	default:
		c, err := l.ChassisByName(node)
		if err != nil {
			return nil, fmt.Errorf("exec: %q is no VM, chassis or 'underlay' of lab %s", node, l.Name)
		}
		env = append(env, l.chassisEnv(c)...)
	}
	full := append([]string{"netns", "exec", Namespace(l.Name, node)}, argv...)
	cmd := exec.Command("ip", full...)
	cmd.Env = env
	return cmd, nil
}

// Down removes everything Up and AddVM made for the lab called name: daemons
// (by pid), namespaces, bpffs pins and the run folder. It is idempotent and
// works from what it finds, so it also cleans a lab whose state was lost.
func Down(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	dir := filepath.Join(RunRoot(), name)
	var errs []error
	// Every pidfile under the lab's folder is a daemon the lab started.
	var pidfiles []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".pid") {
			pidfiles = append(pidfiles, p)
		}
		return nil
	})
	sort.Slice(pidfiles, func(i, j int) bool { return stopOrder(pidfiles[i]) < stopOrder(pidfiles[j]) })
	for _, pf := range pidfiles {
		if err := daemon.Stop(pf, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	nss, err := Namespaces(name)
	if err != nil {
		errs = append(errs, err)
	}
	for _, ns := range nss {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	pins, _ := filepath.Glob(filepath.Join("/sys/fs/bpf/ovnbpf", name+"-*"))
	for _, p := range pins {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("removing pins %s: %w", p, err))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// stopOrder stops the chassis' controllers before the switches and databases
// they talk to, and the central last.
func stopOrder(pidfile string) int {
	switch filepath.Base(pidfile) {
	case "ovn-controller.pid", "ovnbpfd.pid":
		return 0
	case "ovs-vswitchd.pid":
		return 1
	case "ovsdb-server.pid":
		return 2
	}
	return 3
}

// Namespaces lists the network namespaces that belong to the lab.
func Namespaces(name string) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	prefix := Namespace(name, "")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}
