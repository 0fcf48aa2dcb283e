package difftrace

// The differential run: every topology of Topologies() built by the real
// ovn-northd in one central, compiled for chassis ch1 (the datapath under
// test) and ch2 (the remote chassis, whose datapath receives ch1's Geneve
// copies and delivers them), and the same generated packets given to
// ovn-trace (daemon mode) and to the datapath (BPF_PROG_TEST_RUN).
//
//	go test ./tests/difftrace -run Privileged -v            # 1,300 packets per topology (10,400)
//	go test ./tests/difftrace -run Privileged -v -long      # 5,000 per topology (40,000)
//	  -topo NAME -seed N -packets N; DIFFTRACE_TRACE=--detailed shows ovn-trace's lflows in mismatch reports

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/controller"
	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader/looptest"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
	"github.com/ovnbpf/ovnbpf/tests/corpus"
)

var (
	perTopo = flag.Int("packets", 1300, "packets per topology")
	long    = flag.Bool("long", false, "run 5,000 packets per topology")
	seed    = flag.Uint64("seed", 1, "packet generator seed")
	only    = flag.String("topo", "", "run only the topologies whose name contains this")
)

// figures of one topology
type figures struct {
	name                               string
	packets, agreed, mismatched, later int
	oracleFailed                       int // ovn-trace aborted (counted in later: the datapath met a later feature)
	delivered                          int // agreed packets that left as one copy or more (the rest: both dropped)
	selfChecked                        bool
	laterWhy                           map[string]int
	mismatches                         []string
	byCase                             map[string]int // mismatches by packet kind
}

func TestPrivilegedDifftrace(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ovn-trace", "ovn-northd", "ovsdb-server")
	n := *perTopo
	if *long {
		n = 5000
	}
	start := time.Now()
	topos := Topologies()
	e := setup(t, topos)
	setupTime := time.Since(start)
	var all []*figures
	for i, topo := range topos {
		if !strings.Contains(topo.Name, *only) {
			continue
		}
		f := runPackets(t, e, topo, *seed+uint64(i), n)
		all = append(all, f)
		if f.mismatched > 0 {
			var cases []string
			for k, v := range f.byCase {
				cases = append(cases, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(cases)
			t.Errorf("%s: %d packets disagree (%s); first ones, both traces side by side:\n%s", topo.Name, f.mismatched,
				strings.Join(cases, " "), strings.Join(f.mismatches, "\n"))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %8s %8s %10s %10s %11s  %s\n", "topology", "packets", "agreed", "(copies)", "mismatched", "needs-later", "later because")
	var tot figures
	for _, f := range all {
		var why []string
		for k, v := range f.laterWhy {
			why = append(why, fmt.Sprintf("%s:%d", k, v))
		}
		sort.Strings(why)
		fmt.Fprintf(&b, "%-24s %8d %8d %10d %10d %11d  %s\n", f.name, f.packets, f.agreed, f.delivered, f.mismatched, f.later, strings.Join(why, " "))
		tot.packets += f.packets
		tot.agreed += f.agreed
		tot.mismatched += f.mismatched
		tot.later += f.later
		tot.delivered += f.delivered
	}
	fmt.Fprintf(&b, "%-24s %8d %8d %10d %10d %11d  (%d topologies; setup %.1f s, packets %.1f s)\n", "total", tot.packets, tot.agreed,
		tot.delivered, tot.mismatched, tot.later, len(all), setupTime.Seconds(), (time.Since(start) - setupTime).Seconds())
	t.Logf("differential run, ovn-trace vs datapath:\n%s", b.String())
}

// chassisView is how the datapath under test (chassis ch1) binds a topology.
type chassisView struct {
	snap    *sbjson.Snapshot
	sb      *SBRows
	topo    *Topo
	devPort map[[2]uint32]string // (ifindex, vlan) -> port
	inDev   map[string][2]uint32 // local port -> (ifindex, container tag)
	uuids   map[string]string    // Port_Binding uuid -> name
	groups  map[[2]uint32][]string
	// the remote chassis
	peer   *chassisView
	peerH  *looptest.Harness
	peerUL uint32
}

// env is the run's OVN and datapaths: every topology in one central (they
// share nothing), one ovn-trace daemon, the datapath under test (ch1) and
// the remote chassis' (ch2) loaded once with all of them.
type env struct {
	c           *central.Central
	oracle      *Oracle
	h, h2       *looptest.Harness
	v           *chassisView
	unsupported map[string]string // lflow -> op the datapath cannot run yet
	seen        map[string]uint64 // per-lflow unsupported counts so far (they only grow)
}

func setup(t *testing.T, topos []*Topo) *env {
	all := &Topo{Name: "all"}
	for _, tp := range topos {
		all.Ports = append(all.Ports, tp.Ports...)
		all.RPorts = append(all.RPorts, tp.RPorts...)
		all.Extra = append(all.Extra, tp.Extra...)
	}
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if err := corpus.Build(c, corpus.Topology{Name: "difftrace", NB: all.NB(), SB: all.SB()}); err != nil {
		t.Fatal(err)
	}
	raw, err := corpus.Snapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sbjson.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	snap.Chassis = corpus.Chassis
	comp, rep := sbjson.Compile(snap)
	if len(rep.Errors) > 0 {
		t.Errorf("compiler: %d lflows not compiled:\n%s", len(rep.Errors), rep)
	}
	// the remote chassis' own view (its ports' port security)
	snap2, err := sbjson.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	snap2.Chassis = "ch2"
	comp2, _ := sbjson.Compile(snap2)
	sb, err := ParseSBRows(raw)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, unsupported: map[string]string{}, seen: map[string]uint64{}}
	if e.oracle, err = StartOracle(t.TempDir(), c.SBRemote()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.oracle.Close() }) // the one running at the end

	e.h = looptest.New(t)
	irep := e.h.Install(comp)
	for _, u := range irep.Unsupported {
		e.unsupported[u.Lflow] = u.Op
	}
	e.h.Underlay()
	e.v = bind(t, e.h, snap, sb, all, false)
	// the remote chassis: tunnel copies are run through its datapath
	e.h2 = e.h.Peer("ch2")
	e.h2.Install(comp2)
	e.v.peerUL = e.h2.PeerUnderlay("ul2", looptest.RemoteEncap)
	e.v.peer = bind(t, e.h2, snap2, sb, all, true)
	e.v.peerH = e.h2
	t.Logf("%d lflows, %d compiled into %d rules, %d lflows with actions of later issues", rep.Lflows, rep.Compiled, rep.Rules,
		len(e.unsupported))
	return e
}

func runPackets(t *testing.T, e *env, topo *Topo, seed uint64, n int) *figures {
	c, oracle, h, h2, v, unsupported, seen := e.c, e.oracle, e.h, e.h2, e.v, e.unsupported, e.seen
	var err error
	f := &figures{name: topo.Name, laterWhy: map[string]int{}, byCase: map[string]int{}}
	for _, p := range Generate(topo, seed, n) {
		f.packets++
		dp := topo.Port(p.InPort).Switch
		verdict, oracleErr := oracle.Trace(dp, p.Microflow())
		if oracleErr != nil {
			// ovn-trace 23.03 aborts on some packets (an assertion in its
			// nd_na_router); the daemon is gone: start another.
			_, cliErr := Trace(c.SBRemote(), dp, p.Microflow())
			oracleErr = fmt.Errorf("%w (ovn-trace run alone: %v)", oracleErr, cliErr)
			_ = oracle.Close()
			if oracle, err = StartOracle(t.TempDir(), c.SBRemote()); err != nil {
				t.Fatal(err)
			}
			e.oracle = oracle
		}
		frame, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		in := v.inDev[p.InPort]
		wire := frame
		if in[1] != 0 {
			wire = tagged(frame, uint16(in[1]))
		}
		h.ForgetLearned()
		h2.ForgetLearned()
		res := h.Run(in[0], wire)
		// the datapath reached an action of a later issue
		var dpLater []string
		if res.Drops["unsupported"] > 0 {
			for lf, op := range unsupported {
				if _, u, err := h.St.LflowStats(h.Inst.LflowIndex(lf)); err == nil && u > seen[lf] {
					dpLater = append(dpLater, op+" (lflow "+lf+")")
					seen[lf] = u
				}
			}
			if len(dpLater) == 0 {
				dpLater = []string{"unsupported action"}
			}
		}
		if oracleErr != nil && strings.Contains(oracleErr.Error(), "assertion ovnact->type == OVNACT_ND_NA failed") {
			// ovn-trace 23.03 aborts tracing nd_na_router (a controller
			// action: the router's Neighbor Advertisement), so it has no
			// verdict; the packet needs a later issue's feature.
			f.later++
			f.oracleFailed++
			f.laterWhy["ovn-trace-aborts:nd_na_router"]++
			continue
		}
		if oracleErr != nil && len(dpLater) == 0 {
			f.mismatched++
			f.byCase[p.Name]++
			if len(f.mismatches) < 12 {
				f.mismatches = append(f.mismatches, fmt.Sprintf("=== %s packet from %s\nmicroflow: %s\n--- ovn-trace failed: %v\n--- datapath: verdict %d, drops %v\n",
					p.Name, p.InPort, p.Microflow(), oracleErr, res.Verdict, res.Drops))
			}
			continue
		}
		if oracleErr != nil {
			f.later++
			f.oracleFailed++
			for _, w := range dpLater {
				f.laterWhy["datapath:"+strings.SplitN(w, " ", 2)[0]+"(ovn-trace aborted)"]++
			}
			continue
		}
		if len(verdict.Later) > 0 || len(dpLater) > 0 {
			f.later++
			for _, w := range verdict.Later {
				f.laterWhy["ovn-trace:"+w]++
			}
			if len(verdict.Later) == 0 {
				for _, w := range dpLater {
					f.laterWhy["datapath:"+strings.SplitN(w, " ", 2)[0]]++
				}
			}
			continue
		}
		problems, got := compare(v, frame, verdict, res)
		if len(problems) == 0 {
			f.agreed++
			if len(verdict.Deliveries) > 0 {
				f.delivered++
			}
			if !f.selfChecked && len(verdict.Deliveries) > 0 {
				f.selfChecked = true
				selfCheck(t, v, frame, verdict, res)
			}
			continue
		}
		f.mismatched++
		f.byCase[p.Name]++
		if os.Getenv("DIFFTRACE_DEBUG") != "" {
			w := h.Work()
			t.Logf("DEBUG key dp=%x inport=%x outport=%x flags=%x steps=%d verdict=%d stage=%d table=%d pipeline=%d", w.Cur.Key.Dp, w.Cur.Key.Inport, w.Cur.Key.Outport, w.Cur.Key.Flags, w.Steps, w.Verdict, w.Cur.Stage, w.Cur.Table, w.Cur.Pipeline)
		}
		if len(f.mismatches) < 12 {
			summary, _ := oracle.Run(traceDetail, dp, p.Microflow())
			f.mismatches = append(f.mismatches, fmt.Sprintf(
				"=== %s packet from %s\nmicroflow: %s\nframe: %x\n--- ovn-trace: %s\n%s--- datapath: verdict %d, drops %v\n%s\nproblems:\n  %s\n",
				p.Name, p.InPort, p.Microflow(), wire, verdict, indent(summary), res.Verdict, res.Drops, got,
				strings.Join(problems, "\n  ")))
		}
	}
	t.Logf("%s: %d packets, %d agreed, %d mismatched, %d need a later feature %v", f.name, f.packets, f.agreed, f.mismatched, f.later, f.laterWhy)
	return f
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// devName keeps the two chassis' devices apart in one namespace.
func devName(port string, remoteSide bool) string {
	if remoteSide {
		return "x" + port
	}
	return port
}

func tagged(frame []byte, vid uint16) []byte {
	out := append([]byte{}, frame[:12]...)
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, frame[12:]...)
}

// bind binds the topology as chassis ch1 sees it: its own VIFs, containers
// and localports on veth devices, the rest on the remote chassis, patch
// ports joined, multicast groups with their local members and the remote
// chassis, port security from Port_Binding.port_security.
func bind(t *testing.T, h *looptest.Harness, snap *sbjson.Snapshot, sb *SBRows, topo *Topo, remoteSide bool) *chassisView {
	v := &chassisView{snap: snap, sb: sb, topo: topo, devPort: map[[2]uint32]string{}, inDev: map[string][2]uint32{},
		uuids: map[string]string{}, groups: map[[2]uint32][]string{}}
	other := looptest.RemoteEncap
	if remoteSide {
		other = looptest.LocalEncap
	}
	local := map[string]bool{}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range topo.Ports {
		dp, key, ok := snap.Port(p.Name)
		if !ok {
			t.Fatalf("no Port_Binding for %s", p.Name)
		}
		switch {
		case p.Remote != remoteSide && !p.Localport:
			must(h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortRemote, Chassis: other}))
			continue
		case p.Parent != "":
			idx := h.Dev(devName(p.Parent, remoteSide))
			must(h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortVIF, Ifindex: idx, VLAN: p.Tag}))
			must(h.St.BindVIF(idx, p.Tag, dp, key, 0))
			v.devPort[[2]uint32{idx, uint32(p.Tag)}] = p.Name
			v.inDev[p.Name] = [2]uint32{idx, uint32(p.Tag)}
		default:
			idx := h.Dev(devName(p.Name, remoteSide))
			typ := maps.PortVIF
			if p.Localport {
				typ = maps.PortLocalport
			}
			must(h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: typ, Ifindex: idx}))
			must(h.St.BindVIF(idx, 0, dp, key, 0))
			v.devPort[[2]uint32{idx, 0}] = p.Name
			v.inDev[p.Name] = [2]uint32{idx, 0}
		}
		local[p.Name] = true
		if ps := sb.Ports[p.Name].PortSecurity; len(ps) > 0 {
			entries, err := controller.ParsePortSecurity(ps)
			must(err)
			must(h.St.SetPortSecurity(dp, key, entries))
		}
	}
	for name, p := range sb.Ports {
		v.uuids[p.UUID] = name
		if p.Type != "patch" {
			continue
		}
		dp, key, _ := snap.Port(name)
		pdp, pkey, ok := snap.Port(p.Peer)
		if !ok {
			t.Fatalf("patch port %s: no peer %q", name, p.Peer)
		}
		must(h.St.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortPatch, PeerDatapath: pdp, PeerKey: pkey}))
		local[name] = true
	}
	for _, g := range sb.Groups {
		dp := snap.Datapaths[g.Datapath]
		key, ok := snap.MulticastGroup(dp, g.Name)
		if !ok {
			continue
		}
		var members []uint32
		var remote []netip.Addr
		var names []string
		for _, u := range g.Members {
			name := v.uuids[u]
			names = append(names, name)
			_, k, _ := snap.Port(name)
			if local[name] {
				members = append(members, k)
			} else if tp := topo.Port(name); tp != nil && tp.Remote != remoteSide && len(remote) == 0 {
				remote = append(remote, other)
			}
		}
		v.groups[[2]uint32{dp, key}] = names
		must(h.St.SetMulticastGroup(dp, key, members, remote))
	}
	return v
}

// compare checks the datapath's copies against ovn-trace's verdict. It
// returns the problems and the copies decoded.
func compare(v *chassisView, frame []byte, verdict Verdict, res looptest.Result) ([]string, string) {
	var problems []string
	if res.Err != nil {
		problems = append(problems, res.Err.Error())
	}
	type out struct {
		port  string
		frame []byte
	}
	var outs []out
	var desc strings.Builder
	for _, c := range res.Copies {
		switch c.Kind {
		case looptest.KindDevice:
			port, ok := v.devPort[[2]uint32{c.Ifindex, uint32(c.Vlan)}]
			if !ok {
				port = fmt.Sprintf("?dev%d/vlan%d", c.Ifindex, c.Vlan)
			}
			if c.Tag != c.Vlan && !(c.TagUnseen && c.Tag == 0) {
				problems = append(problems, fmt.Sprintf("copy to %s left with tag %d, want %d", port, c.Tag, c.Vlan))
			}
			outs = append(outs, out{port, c.Frame})
		case looptest.KindTunnel:
			if len(c.Frame) < 58+14 {
				problems = append(problems, fmt.Sprintf("tunnel copy of %d bytes", len(c.Frame)))
				continue
			}
			outport := uint32(c.Frame[56])<<8 | uint32(c.Frame[57])
			vni := uint32(c.Frame[46])<<16 | uint32(c.Frame[47])<<8 | uint32(c.Frame[48])
			name, _ := v.snap.PortName(vni, outport)
			fmt.Fprintf(&desc, "  => Geneve to %s: dp %d outport %d (%s), through the remote chassis' datapath:\n", c.ChassisIp4(), vni, outport, name)
			// the remote chassis runs the egress pipeline and delivers
			r := v.peerH.RunProg(v.peerH.D.Objs.OvnbpfUnderlayIngress, v.peerUL, c.Frame)
			if r.Err != nil {
				problems = append(problems, "remote chassis: "+r.Err.Error())
			}
			if len(r.Drops) > 0 {
				fmt.Fprintf(&desc, "     remote drops %v\n", r.Drops)
			}
			for _, rc := range r.Copies {
				port, ok := v.peer.devPort[[2]uint32{rc.Ifindex, uint32(rc.Vlan)}]
				if rc.Kind != looptest.KindDevice || !ok {
					problems = append(problems, fmt.Sprintf("remote chassis: copy %+v is not to one of its ports", rc.DatapathOvnbpfOut))
					continue
				}
				outs = append(outs, out{port, rc.Frame})
			}
		default:
			problems = append(problems, fmt.Sprintf("copy of unknown kind %d", c.Kind))
		}
	}
	sort.SliceStable(outs, func(i, j int) bool { return outs[i].port < outs[j].port })
	want := append([]Delivery(nil), verdict.Deliveries...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Port < want[j].Port })
	var gotPorts, wantPorts []string
	for _, o := range outs {
		gotPorts = append(gotPorts, o.port)
		fs, err := Fields(o.frame)
		if err != nil {
			fmt.Fprintf(&desc, "  -> %s: %v %x\n", o.port, err, o.frame)
		} else {
			fmt.Fprintf(&desc, "  -> %s: %s\n", o.port, fieldString(fs))
		}
	}
	for _, d := range want {
		wantPorts = append(wantPorts, d.Port)
	}
	if strings.Join(gotPorts, ",") != strings.Join(wantPorts, ",") {
		problems = append(problems, fmt.Sprintf("outputs [%s], ovn-trace [%s]", strings.Join(gotPorts, " "), strings.Join(wantPorts, " ")))
		return problems, desc.String()
	}
	inFields, err := Fields(frame)
	if err != nil {
		return append(problems, "input: "+err.Error()), desc.String()
	}
	for i, d := range want {
		exp, unchecked := Expected(inFields, d)
		if len(unchecked) > 0 {
			problems = append(problems, fmt.Sprintf("to %s: ovn-trace wrote %v, which the harness cannot read in the copy", d.Port, unchecked))
		}
		got, err := Fields(outs[i].frame)
		if err != nil {
			problems = append(problems, fmt.Sprintf("to %s: %v", d.Port, err))
			continue
		}
		for _, df := range DiffFields(got, exp) {
			problems = append(problems, "to "+d.Port+": "+df)
		}
	}
	return problems, desc.String()
}

// selfCheck makes sure the comparison can fail: a verdict that agreed,
// altered (another source MAC, one more TTL decrement, a copy more), must
// disagree.
func selfCheck(t *testing.T, v *chassisView, frame []byte, verdict Verdict, res looptest.Result) {
	t.Helper()
	alter := func(f func(d *Delivery) []Delivery) Verdict {
		var w Verdict
		for i, d := range verdict.Deliveries {
			set := map[string]string{}
			for k, x := range d.Set {
				set[k] = x
			}
			d.Set = set
			if i == 0 {
				w.Deliveries = append(w.Deliveries, f(&d)...)
			} else {
				w.Deliveries = append(w.Deliveries, d)
			}
		}
		return w
	}
	for name, w := range map[string]Verdict{
		"eth.src": alter(func(d *Delivery) []Delivery { d.Set["eth.src"] = "02:ba:d0:00:00:01"; return []Delivery{*d} }),
		"ttl":     alter(func(d *Delivery) []Delivery { d.DecTTL++; return []Delivery{*d} }),
		"copy":    alter(func(d *Delivery) []Delivery { return []Delivery{*d, {Port: "nowhere"}} }),
	} {
		if _, isIP := mustFields(t, frame)["ip.ttl"]; name == "ttl" && !isIP {
			continue
		}
		if p, _ := compare(v, frame, w, res); len(p) == 0 {
			t.Errorf("self-check: a verdict altered (%s) still agrees: %s", name, w)
		}
	}
}

func mustFields(t *testing.T, frame []byte) map[string]string {
	f, err := Fields(frame)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fieldString(f map[string]string) string {
	var ks []string
	for k := range f {
		if k != "payload" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%s=%s ", k, f[k])
	}
	return b.String()
}

// traceDetail is the ovn-trace mode a mismatch report shows
// (DIFFTRACE_TRACE=--detailed for the lflows' matches).
var traceDetail = func() string {
	if m := os.Getenv("DIFFTRACE_TRACE"); m != "" {
		return m
	}
	return "--summary"
}()
