// Package incremental checks that ovnbpfd's incremental programming gives
// the datapath the same maps as a full recompute: random Northbound changes
// (and VIF, remote, MAC binding, static MAC binding and template variable
// changes) are applied to a real OVN central while a real ovnbpfd programs
// its eBPF datapath in a namespace; at checkpoints the canonical dump of the maps (ovnbpfctl dump-maps) is
// compared with the dump after `ovnbpfctl recompute --resync`.
//
//	go test ./tests/incremental -run Privileged -v [-seed N] [-changes N] [-long]
package incremental

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/controller"
	"github.com/ovnbpf/ovnbpf/controller/ovstest"
	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
)

var (
	seedFlag    = flag.Int64("seed", 0, "random seed (0: from the clock; printed on failure)")
	changesFlag = flag.Int("changes", 0, "number of random changes (default 1,000; 10,000 with -long)")
	every       = flag.Int("checkpoint", 100, "compare with a recompute every this many changes")
	long        = flag.Bool("long", false, "a longer run")
	verbose     = flag.Bool("sbdump", false, "on a difference, also print the Southbound's ports, port groups and datapaths")
)

var ovnbpfd string

// TestMain builds ovnbpfd once.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ovnbpf-incremental-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ovnbpfd = filepath.Join(dir, "ovnbpfd")
	if out, err := exec.Command("go", "build", "-o", ovnbpfd, "github.com/ovnbpf/ovnbpf/cmd/ovnbpfd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ovnbpfd: %v: %s\n", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	nTaps         = 8
	remoteChassis = "incr-remote"
	remoteIP      = "192.0.2.201"
)

func startChassis(t *testing.T, c *central.Central) *ovstest.Chassis {
	t.Helper()
	ns := testutil.NetNS(t)
	ip := func(args ...string) { testutil.MustRun(t, append([]string{"ip", "-n", ns}, args...)...) }
	// No traffic: what the datapath learns from packets (MAC bindings)
	// would change the maps between two dumps. The VIFs' peers stay down
	// and nothing speaks IPv6 on its own.
	for _, k := range []string{"all", "default"} {
		testutil.MustRun(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf."+k+".disable_ipv6=1")
	}
	ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul0p")
	ip("addr", "add", "192.0.2.70/24", "dev", "ul0")
	ip("link", "set", "ul0", "up")
	ip("link", "set", "ul0p", "up")
	for i := 0; i < nTaps; i++ {
		ip("link", "add", fmt.Sprintf("tap%d", i), "type", "veth", "peer", "name", fmt.Sprintf("vm%d", i))
		ip("link", "set", fmt.Sprintf("tap%d", i), "up")
	}
	ip("link", "add", templateTap, "type", "veth", "peer", "name", "vmt")
	ip("link", "set", templateTap, "up")
	ch := ovstest.StartChassis(t, ovnbpfd, c.SBRemote(), fmt.Sprintf("incr-%d", os.Getpid()), ns, "192.0.2.70")
	// --wait=hv returns at once while no chassis is registered: wait for
	// the first applied pass.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st controller.Status
		err := controller.CtlCall(ch.Sock, controller.CtlRequest{Cmd: "status"}, &st)
		if err == nil && st.Datapath == "applied" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovnbpfd did not apply a first state: %v %+v", err, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ch
}

func TestPrivilegedIncrementalEqualsRecompute(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ovn-northd", "ovn-nbctl", "ovn-sbctl", "ovs-vsctl", "nsenter")
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	n := *changesFlag
	if n == 0 {
		n = 1000
		if *long {
			n = 10000
		}
	}
	t.Logf("seed %d (rerun: go test ./tests/incremental -run %s -seed %d -changes %d)", seed, t.Name(), seed, n)
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ch := startChassis(t, c)
	if _, err := c.SBCtl("chassis-add", remoteChassis, "geneve", remoteIP); err != nil {
		t.Fatal(err)
	}
	m := &model{t: t, c: c, ch: ch, rnd: rand.New(rand.NewSource(seed)), taps: map[string]string{},
		ports: map[string][]string{}, lrps: map[string][]link{}, routes: map[string][]string{}, remote: map[string]bool{}, localnets: map[string]string{},
		lbs: map[string][]string{}, lbFront: map[string]string{}}
	m.setup()
	m.checkpoint(0)
	for i := 1; i <= n; i++ {
		m.change()
		if i%*every == 0 || i == n {
			m.checkpoint(i)
		}
	}
	t.Logf("%d changes, %d checkpoints; last dump: %s", n, m.checkpoints, m.summary)
	if m.maxRules == 0 {
		t.Fatalf("no checkpoint had any rule to compare: the test compared nothing")
	}
	t.Logf("at most %d rules of templated lflows and %d static MAC bindings at a checkpoint", m.maxTmpl, m.maxStatic)
	if n >= 1000 && (m.maxTmpl == 0 || m.maxStatic == 0) {
		t.Errorf("no checkpoint compared rules of templated load balancers (%d) or static MAC bindings (%d): change the weights", m.maxTmpl, m.maxStatic)
	}
}

// link is a router port and the switch port that connects it.
type link struct{ lrp, sw, lsp string }

// macRow is a MAC binding: the router port, the IP and (dynamic rows) the
// Southbound uuid.
type macRow struct{ uuid, lrp, ip string }

// model is what the test has put in the Northbound DB, to pick valid changes.
type model struct {
	t   *testing.T
	c   *central.Central
	ch  *ovstest.Chassis
	rnd *rand.Rand
	seq int

	switches    []string
	ports       map[string][]string // switch -> its VIF-like ports
	routers     []string
	lrps        map[string][]link   // router -> links
	routes      map[string][]string // router -> static route prefixes
	pgs         []string
	sets        []string
	acls        []string            // switches with ACLs
	taps        map[string]string   // tap -> bound logical port
	remote      map[string]bool     // ports bound to the remote chassis
	macBindings []macRow            // MAC_Binding rows (Southbound, as the datapath would learn them)
	staticMACs  []macRow            // Static_MAC_Binding rows (Northbound; no uuid)
	localnets   map[string]string   // switch -> its localnet port
	templated   []string            // templated load balancers
	lbs         map[string][]string // templated load balancer -> switches and routers it is attached to
	lbFront     map[string]string   // templated load balancer -> its frontend variables and protocol
	tmplVars    map[string]string   // this chassis' Chassis_Template_Var variables (nil: no row)
	remoteVars  bool                // the remote chassis has a Chassis_Template_Var row

	log         []string // the changes, for a failure report
	checkpoints int
	maxRules    int // the most rules a checkpoint compared
	maxTmpl     int // the most rules of templated lflows a checkpoint compared
	maxStatic   int // the most static MAC bindings a checkpoint compared
	summary     string
}

func (m *model) name(prefix string) string {
	m.seq++
	return fmt.Sprintf("%s%d", prefix, m.seq)
}

func (m *model) nb(args ...string) {
	m.t.Helper()
	m.log = append(m.log, "nbctl "+strings.Join(args, " "))
	if _, err := m.c.NBCtl(args...); err != nil {
		m.t.Fatalf("change %d: %v", len(m.log), err)
	}
}

func (m *model) sb(args ...string) string {
	m.t.Helper()
	m.log = append(m.log, "sbctl "+strings.Join(args, " "))
	out, err := m.c.SBCtl(args...)
	if err != nil {
		m.t.Fatalf("change %d: %v", len(m.log), err)
	}
	return strings.TrimSpace(out)
}

func (m *model) vsctl(args ...string) {
	m.t.Helper()
	m.log = append(m.log, "vsctl "+strings.Join(args, " "))
	if _, err := m.ch.OVS.VSCtl(args...); err != nil {
		m.t.Fatalf("change %d: %v", len(m.log), err)
	}
}

func (m *model) pick(list []string) string { return list[m.rnd.Intn(len(list))] }

func (m *model) allPorts() []string {
	var out []string
	for _, sw := range m.switches {
		out = append(out, m.ports[sw]...)
	}
	sort.Strings(out)
	return out
}

func (m *model) mac() string {
	return fmt.Sprintf("0a:00:00:%02x:%02x:%02x", m.rnd.Intn(256), m.rnd.Intn(256), m.rnd.Intn(256))
}

func (m *model) ip() string {
	return fmt.Sprintf("10.%d.%d.%d", m.rnd.Intn(4), m.rnd.Intn(256), 1+m.rnd.Intn(250))
}

func (m *model) addresses() string {
	switch m.rnd.Intn(8) {
	case 0:
		return "unknown"
	case 1:
		return m.mac()
	case 2:
		return fmt.Sprintf("%s %s fd00::%x", m.mac(), m.ip(), 1+m.rnd.Intn(0xfff))
	}
	return m.mac() + " " + m.ip()
}

func (m *model) setup() {
	for i := 0; i < 3; i++ {
		m.addSwitch()
	}
	m.addRouter()
	for i := 0; i < 6; i++ {
		m.addPort()
	}
	m.connect()
	m.connect()
	for i := 0; i < 3; i++ {
		m.bindVIF()
	}
	m.setupTemplateSwitch()
}

func (m *model) addSwitch() {
	sw := m.name("sw")
	m.nb("ls-add", sw)
	m.switches = append(m.switches, sw)
}

func (m *model) addRouter() {
	lr := m.name("lr")
	m.nb("lr-add", lr)
	m.routers = append(m.routers, lr)
}

func (m *model) addPort() {
	if len(m.switches) == 0 {
		return
	}
	sw := m.pick(m.switches)
	p := m.name(sw + "p")
	m.nb("lsp-add", sw, p, "--", "lsp-set-addresses", p, m.addresses())
	m.ports[sw] = append(m.ports[sw], p)
}

// forgetPort drops a port that went away from the model.
func (m *model) forgetPort(p string) {
	for sw, ps := range m.ports {
		m.ports[sw] = slices.DeleteFunc(ps, func(x string) bool { return x == p })
	}
	delete(m.remote, p)
	for tap, lp := range m.taps {
		if lp == p {
			// the Interface stays: a port that comes back (never, names are
			// unique) would bind again; unbinding here keeps the model simple
			m.vsctl("del-port", "br-int", tap)
			delete(m.taps, tap)
		}
	}
}

func (m *model) delPort() {
	ps := m.allPorts()
	if len(ps) == 0 {
		return
	}
	p := m.pick(ps)
	m.nb("lsp-del", p)
	m.forgetPort(p)
}

func (m *model) delSwitch() {
	if len(m.switches) <= 1 {
		return
	}
	sw := m.pick(m.switches)
	m.nb("ls-del", sw)
	for _, p := range append([]string(nil), m.ports[sw]...) {
		m.forgetPort(p)
	}
	delete(m.ports, sw)
	delete(m.localnets, sw)
	m.switches = slices.DeleteFunc(m.switches, func(x string) bool { return x == sw })
	m.acls = slices.DeleteFunc(m.acls, func(x string) bool { return x == sw })
	m.forgetLBsOn(sw)
	for lr, ls := range m.lrps {
		// before DeleteFunc, which shifts and clears ls' elements
		for _, l := range ls {
			if l.sw == sw {
				m.nb(append(m.dropStaticMACs(l.lrp), "lrp-del", l.lrp)...)
			}
		}
		m.lrps[lr] = slices.DeleteFunc(ls, func(l link) bool { return l.sw == sw })
	}
}

func (m *model) delRouter() {
	if len(m.routers) == 0 {
		return
	}
	lr := m.pick(m.routers)
	var args []string
	for _, l := range m.lrps[lr] {
		args = append(args, m.dropStaticMACs(l.lrp)...)
	}
	m.nb(append(args, "lr-del", lr)...)
	for _, l := range m.lrps[lr] {
		m.nb("--if-exists", "lsp-del", l.lsp)
	}
	delete(m.lrps, lr)
	delete(m.routes, lr)
	m.routers = slices.DeleteFunc(m.routers, func(x string) bool { return x == lr })
	m.forgetLBsOn(lr)
}

// connect joins a switch to a router.
func (m *model) connect() {
	if len(m.routers) == 0 || len(m.switches) == 0 {
		return
	}
	lr, sw := m.pick(m.routers), m.pick(m.switches)
	for _, l := range m.lrps[lr] {
		if l.sw == sw {
			return
		}
	}
	m.seq++
	lrp, lsp := fmt.Sprintf("%s-%s-%d", lr, sw, m.seq), fmt.Sprintf("%s-%s-%d", sw, lr, m.seq)
	m.nb("lrp-add", lr, lrp, m.mac(), fmt.Sprintf("10.%d.%d.1/24", 100+m.seq%100, m.rnd.Intn(256)),
		"--", "lsp-add", sw, lsp, "--", "lsp-set-type", lsp, "router", "--", "lsp-set-addresses", lsp, "router",
		"--", "lsp-set-options", lsp, "router-port="+lrp)
	m.lrps[lr] = append(m.lrps[lr], link{lrp, sw, lsp})
}

func (m *model) disconnect() {
	if len(m.routers) == 0 {
		return
	}
	lr := m.pick(m.routers)
	if len(m.lrps[lr]) == 0 {
		return
	}
	i := m.rnd.Intn(len(m.lrps[lr]))
	l := m.lrps[lr][i]
	m.nb(append(m.dropStaticMACs(l.lrp), "lrp-del", l.lrp, "--", "lsp-del", l.lsp)...)
	m.lrps[lr] = slices.Delete(m.lrps[lr], i, i+1)
}

func (m *model) route() {
	if len(m.routers) == 0 {
		return
	}
	lr := m.pick(m.routers)
	if len(m.routes[lr]) > 0 && m.rnd.Intn(3) == 0 {
		i := m.rnd.Intn(len(m.routes[lr]))
		m.nb("lr-route-del", lr, m.routes[lr][i])
		m.routes[lr] = slices.Delete(m.routes[lr], i, i+1)
		return
	}
	prefix := fmt.Sprintf("198.51.%d.0/24", m.rnd.Intn(256))
	if slices.Contains(m.routes[lr], prefix) {
		return
	}
	m.nb("lr-route-add", lr, prefix, fmt.Sprintf("10.%d.%d.254", 100+m.rnd.Intn(100), m.rnd.Intn(256)))
	m.routes[lr] = append(m.routes[lr], prefix)
}

func (m *model) portSecurity() {
	ps := m.allPorts()
	if len(ps) == 0 {
		return
	}
	p := m.pick(ps)
	switch m.rnd.Intn(3) {
	case 0:
		m.nb("lsp-set-port-security", p)
	case 1:
		m.nb("lsp-set-port-security", p, m.mac())
	default:
		m.nb("lsp-set-port-security", p, m.mac()+" "+m.ip()+" "+m.ip()+"/30")
	}
}

func (m *model) matchExpr() string {
	var terms []string
	if len(m.sets) > 0 && m.rnd.Intn(2) == 0 {
		terms = append(terms, "ip4.src == $"+m.pick(m.sets))
	}
	if len(m.pgs) > 0 && m.rnd.Intn(2) == 0 {
		terms = append(terms, "inport == @"+m.pick(m.pgs))
	}
	if len(terms) == 0 || m.rnd.Intn(3) == 0 {
		terms = append(terms, fmt.Sprintf("tcp.dst == %d", 1+m.rnd.Intn(1000)))
	}
	return strings.Join(terms, " && ")
}

func (m *model) acl() {
	if len(m.switches) == 0 {
		return
	}
	if len(m.acls) > 0 && m.rnd.Intn(4) == 0 {
		sw := m.pick(m.acls)
		m.nb("acl-del", sw)
		m.acls = slices.DeleteFunc(m.acls, func(x string) bool { return x == sw })
		return
	}
	dir := []string{"from-lport", "to-lport"}[m.rnd.Intn(2)]
	action := []string{"drop", "allow", "reject"}[m.rnd.Intn(3)]
	if len(m.pgs) > 0 && m.rnd.Intn(3) == 0 {
		m.nb("--type=port-group", "--may-exist", "acl-add", m.pick(m.pgs), dir, fmt.Sprint(1000+m.rnd.Intn(1000)), m.matchExpr(), action)
		return
	}
	sw := m.pick(m.switches)
	m.nb("--may-exist", "acl-add", sw, dir, fmt.Sprint(1000+m.rnd.Intn(1000)), m.matchExpr(), action)
	if !slices.Contains(m.acls, sw) {
		m.acls = append(m.acls, sw)
	}
}

func (m *model) somePorts() []string {
	ps := m.allPorts()
	var out []string
	for _, p := range ps {
		if m.rnd.Intn(3) == 0 {
			out = append(out, p)
		}
	}
	return out
}

func (m *model) portGroup() {
	switch {
	case len(m.pgs) == 0 || m.rnd.Intn(3) == 0:
		pg := m.name("pg")
		m.nb(append([]string{"pg-add", pg}, m.somePorts()...)...)
		m.pgs = append(m.pgs, pg)
	case m.rnd.Intn(4) == 0:
		pg := m.pick(m.pgs)
		m.nb("pg-del", pg)
		m.pgs = slices.DeleteFunc(m.pgs, func(x string) bool { return x == pg })
	default:
		pg, ps := m.pick(m.pgs), m.somePorts()
		if len(ps) == 0 {
			m.nb("clear", "Port_Group", pg, "ports")
			return
		}
		m.nb(append([]string{"pg-set-ports", pg}, ps...)...)
	}
}

func (m *model) addressSet() {
	addrs := func() string {
		var a []string
		for i := m.rnd.Intn(5); i > 0; i-- {
			a = append(a, `"`+m.ip()+`"`)
		}
		return "addresses=[" + strings.Join(a, ",") + "]"
	}
	switch {
	case len(m.sets) == 0 || m.rnd.Intn(3) == 0:
		as := m.name("as")
		m.nb("create", "Address_Set", "name="+as, addrs())
		m.sets = append(m.sets, as)
	case m.rnd.Intn(4) == 0:
		// ACLs that name it stay: their lflows no longer compile (both ways)
		as := m.pick(m.sets)
		m.nb("destroy", "Address_Set", as)
		m.sets = slices.DeleteFunc(m.sets, func(x string) bool { return x == as })
	default:
		m.nb("set", "Address_Set", m.pick(m.sets), addrs())
	}
}

// requestedChassis pins a port to this chassis, the remote one, or none.
func (m *model) requestedChassis() {
	ps := m.allPorts()
	if len(ps) == 0 {
		return
	}
	p := m.pick(ps)
	switch m.rnd.Intn(3) {
	case 0:
		m.nb("lsp-set-options", p, "requested-chassis="+m.ch.Name)
	case 1:
		m.nb("lsp-set-options", p, "requested-chassis="+remoteChassis)
	default:
		m.nb("lsp-set-options", p)
	}
}

func (m *model) bindVIF() {
	ps := m.allPorts()
	if len(ps) == 0 {
		return
	}
	var free []string
	for i := 0; i < nTaps; i++ {
		if _, ok := m.taps[fmt.Sprintf("tap%d", i)]; !ok {
			free = append(free, fmt.Sprintf("tap%d", i))
		}
	}
	if len(free) == 0 {
		m.unbindVIF()
		return
	}
	tap, p := m.pick(free), m.pick(ps)
	m.vsctl("--may-exist", "add-port", "br-int", tap, "--", "set", "Interface", tap, "external_ids:iface-id="+p)
	m.taps[tap] = p
}

func (m *model) unbindVIF() {
	if len(m.taps) == 0 {
		return
	}
	var taps []string
	for tap := range m.taps {
		taps = append(taps, tap)
	}
	sort.Strings(taps)
	tap := m.pick(taps)
	m.vsctl("del-port", "br-int", tap)
	delete(m.taps, tap)
}

// remoteBind binds a port to the remote chassis, as its ovn-controller
// would, or releases such a port.
func (m *model) remoteBind() {
	var bound []string
	for p := range m.remote {
		bound = append(bound, p)
	}
	sort.Strings(bound)
	if len(bound) > 0 && m.rnd.Intn(3) == 0 {
		p := m.pick(bound)
		m.sb("lsp-unbind", p)
		delete(m.remote, p)
		return
	}
	ps := m.allPorts()
	if len(ps) == 0 {
		return
	}
	p := m.pick(ps)
	for _, lp := range m.taps {
		if lp == p {
			return // claimed here: no tug of war
		}
	}
	if m.remote[p] {
		return
	}
	m.nb("--wait=sb", "sync") // northd makes the Port_Binding
	// a VIF unbound here a moment ago may still hold it: take it over
	m.sb("--if-exists", "lsp-unbind", p, "--", "lsp-bind", p, remoteChassis)
	m.remote[p] = true
}

// macBinding adds or removes a learnt MAC binding on a router port.
// routerLink picks a router port of any router (ok false: there is none).
func (m *model) routerLink() (l link, ok bool) {
	var links []link
	for _, lr := range m.routers {
		links = append(links, m.lrps[lr]...)
	}
	if len(links) == 0 {
		return link{}, false
	}
	return links[m.rnd.Intn(len(links))], true
}

func (m *model) macBinding() {
	if len(m.macBindings) > 0 && m.rnd.Intn(3) == 0 {
		i := m.rnd.Intn(len(m.macBindings))
		m.sb("--if-exists", "destroy", "MAC_Binding", m.macBindings[i].uuid)
		m.macBindings = slices.Delete(m.macBindings, i, i+1)
		return
	}
	l, ok := m.routerLink()
	if !ok {
		return
	}
	m.nb("--wait=sb", "sync")
	dp := m.sb("--bare", "--columns=datapath", "find", "Port_Binding", "logical_port="+l.lrp)
	if dp == "" {
		return
	}
	ip := m.ip()
	if len(m.staticMACs) > 0 && m.rnd.Intn(3) == 0 {
		// where a static binding exists: which one wins is the point
		if s := m.staticMACs[m.rnd.Intn(len(m.staticMACs))]; s.lrp == l.lrp {
			ip = s.ip
		}
	}
	if slices.ContainsFunc(m.macBindings, func(d macRow) bool { return d.lrp == l.lrp && d.ip == ip }) {
		return // (logical_port, ip) is the table's index
	}
	uuid := m.sb("create", "MAC_Binding", "logical_port="+l.lrp, `ip="`+ip+`"`, "mac=\""+m.mac()+"\"", "datapath="+dp)
	m.macBindings = append(m.macBindings, macRow{uuid, l.lrp, ip})
}

// localnet adds a localnet port (on the mapped network, sometimes with a
// VLAN, sometimes on an unmapped one) to a switch, or removes one.
func (m *model) localnet() {
	if len(m.switches) == 0 {
		return
	}
	sw := m.pick(m.switches)
	if ln, ok := m.localnets[sw]; ok {
		m.nb("lsp-del", ln)
		delete(m.localnets, sw)
		return
	}
	ln := m.name(sw + "ln")
	network := "physnet"
	if m.rnd.Intn(5) == 0 {
		network = "unmapped"
	}
	args := []string{"lsp-add", sw, ln, "--", "lsp-set-type", ln, "localnet", "--", "lsp-set-addresses", ln, "unknown",
		"--", "lsp-set-options", ln, "network_name=" + network}
	if m.rnd.Intn(2) == 0 {
		args = append(args, "--", "set", "Logical_Switch_Port", ln, fmt.Sprintf("tag_request=%d", 10+m.rnd.Intn(20)))
	}
	m.nb(args...)
	m.localnets[sw] = ln
}

func (m *model) setType() {
	ps := m.allPorts()
	if len(ps) == 0 {
		return
	}
	p := m.pick(ps)
	if m.rnd.Intn(2) == 0 {
		m.nb("lsp-set-type", p, "localport")
	} else {
		m.nb("lsp-set-type", p, "")
	}
}

// change makes one random change.
func (m *model) change() {
	type op struct {
		weight int
		f      func()
	}
	ops := []op{
		{4, m.addSwitch}, {1, m.delSwitch}, {12, m.addPort}, {4, m.delPort},
		{8, func() {
			if ps := m.allPorts(); len(ps) > 0 {
				m.nb("lsp-set-addresses", m.pick(ps), m.addresses())
			}
		}},
		{6, m.portSecurity}, {2, m.addRouter}, {1, m.delRouter}, {5, m.connect}, {3, m.disconnect},
		{5, m.route}, {8, m.acl}, {6, m.portGroup}, {6, m.addressSet}, {5, m.requestedChassis},
		{16, m.bindVIF}, {3, m.unbindVIF}, {5, m.remoteBind}, {4, m.macBinding}, {3, m.setType}, {3, m.localnet},
		{5, m.staticMACBinding}, {6, m.templateVars}, {6, m.templatedLB},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	r := m.rnd.Intn(total)
	for _, o := range ops {
		if r < o.weight {
			o.f()
			return
		}
		r -= o.weight
	}
}

func (m *model) dump() *maps.Dump {
	m.t.Helper()
	var d maps.Dump
	if err := controller.CtlCall(m.ch.Sock, controller.CtlRequest{Cmd: "dump-maps"}, &d); err != nil {
		m.t.Fatalf("dump-maps: %v", err)
	}
	return &d
}

func (m *model) sync() {
	m.t.Helper()
	if _, err := m.c.NBCtl("--wait=hv", "--timeout=60", "sync"); err != nil {
		m.t.Fatalf("--wait=hv sync: %v\nlast changes:\n%s", err, strings.Join(m.log[max(0, len(m.log)-*every):], "\n"))
	}
}

// checkpoint waits until the chassis is quiet (the dump stays the same
// across a --wait=hv round trip), then compares it with a recompute's.
func (m *model) checkpoint(i int) {
	m.t.Helper()
	m.checkpoints++
	m.sync()
	inc := m.dump()
	for try := 0; ; try++ {
		time.Sleep(100 * time.Millisecond) // claims and up=true land after the ack
		m.sync()
		again := m.dump()
		if len(inc.Diff(again)) == 0 {
			break
		}
		if try == 20 {
			m.t.Fatalf("checkpoint after %d changes: the maps keep changing:\n%s", i, strings.Join(inc.Diff(again), "\n"))
		}
		inc = again
	}
	// with resync: a plain recompute skips the tables whose rules did not
	// change, which would leave what the installer wrote unchecked
	var msg string
	if err := controller.CtlCall(m.ch.Sock, controller.CtlRequest{Cmd: "recompute", Args: []string{"resync"}}, &msg); err != nil {
		m.t.Fatalf("recompute: %v", err)
	}
	full := m.dump()
	sizes := make([]string, 0, len(full.Sections))
	for _, s := range full.Sections {
		sizes = append(sizes, fmt.Sprintf("%s=%d", s.Name, len(s.Lines)))
	}
	m.summary = strings.Join(sizes, " ")
	attached := 0
	for _, on := range m.lbs {
		attached += len(on)
	}
	m.t.Logf("checkpoint %d: %s (%d VIFs bound, %d templated LB attachments, %d template variables, %d static MAC bindings)",
		i, m.summary, len(m.taps), attached, len(m.tmplVars), len(m.staticMACs))
	if diff := inc.Diff(full); len(diff) > 0 {
		if len(diff) > 60 {
			diff = append(diff[:60], fmt.Sprintf("... %d more", len(diff)-60))
		}
		// the logical flows behind the differing rules, while they exist
		seen := map[string]bool{}
		for _, l := range diff {
			if i := strings.LastIndex(l, " lflow="); i >= 0 {
				u := l[i+len(" lflow="):]
				if !seen[u] && len(u) == 36 {
					seen[u] = true
					out, _ := m.c.SBCtl("--columns=logical_datapath,logical_dp_group,pipeline,table_id,priority,match,actions", "list", "Logical_Flow", u)
					diff = append(diff, "lflow "+u+":\n"+out)
				}
			}
		}
		if *verbose {
			for _, tbl := range [][]string{{"--columns=name,ports", "list", "Port_Group"},
				{"--columns=logical_port,datapath,tunnel_key,chassis", "list", "Port_Binding"},
				{"--columns=_uuid,tunnel_key,external_ids", "list", "Datapath_Binding"}, {"list", "Logical_DP_Group"}} {
				out, _ := m.c.SBCtl(tbl...)
				diff = append(diff, out)
			}
		}
		from := max(0, len(m.log)-*every)
		m.t.Fatalf("checkpoint after %d changes: incremental maps differ from a recompute (- incremental, + recompute):\n%s\nlast changes:\n%s",
			i, strings.Join(diff, "\n"), strings.Join(m.log[from:], "\n"))
	}
	m.maxRules = max(m.maxRules, len(full.Sections[0].Lines))
	m.coverage(full)
}
