package lab

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenario is a logical topology with its workloads placed on named chassis.
// The namespace lab (ovnbpf-lab) and the Vagrant lab (vagrant/) build and
// check the same scenarios: the Northbound side is one ovn-nbctl transaction
// (NBArgs), each workload is the same few commands on whatever host runs its
// chassis (PlugCommands), and the check is the same ping matrix (PingAll).
type Scenario struct {
	Router   string
	Switches []ScenarioSwitch
	VMs      []*VM
}

// ScenarioSwitch is one logical switch, joined to the scenario's router.
type ScenarioSwitch struct {
	Name       string
	RouterPort string // the router's port on this switch
	RouterMAC  string
	RouterIP   string // the VMs' gateway
	Prefix     string // the /24's first three octets and a dot
}

// DemoScenario is the demo (`ovnbpf-lab up --demo`): lr0 joining sw1
// (198.51.100.0/24) and sw2 (203.0.113.0/24), two VMs per switch, spread over
// the first two chassis in turn (one chassis takes them all).
func DemoScenario(chassis []string) (*Scenario, error) {
	if len(chassis) == 0 {
		return nil, fmt.Errorf("demo scenario: no chassis to place VMs on")
	}
	s := &Scenario{Router: "lr0"}
	for _, sw := range demoSwitches {
		s.Switches = append(s.Switches, ScenarioSwitch{Name: sw.name, RouterPort: sw.router,
			RouterMAC: sw.routerMAC, RouterIP: sw.routerIP, Prefix: sw.prefix})
	}
	n := 0
	for si, sw := range s.Switches {
		for i := 0; i < 2; i++ {
			n++
			s.VMs = append(s.VMs, &VM{
				Name:    fmt.Sprintf("vm%d", n),
				Chassis: chassis[i%min(2, len(chassis))],
				LPort:   fmt.Sprintf("%s-vm%d", sw.Name, n),
				MAC:     fmt.Sprintf("02:00:00:00:%02x:%02x", si+1, i+10),
				Addr:    fmt.Sprintf("%s%d/24", sw.Prefix, i+10),
				GW:      sw.RouterIP,
				MTU:     DefaultMTU,
			})
		}
	}
	return s, nil
}

// NBArgs is the ovn-nbctl transaction that creates the whole scenario:
// router, switches, router ports and one port per VM with port security.
func (s *Scenario) NBArgs() []string {
	args := []string{"--", "lr-add", s.Router}
	for _, sw := range s.Switches {
		lsp := sw.Name + "-" + s.Router
		args = append(args,
			"--", "ls-add", sw.Name,
			"--", "lrp-add", s.Router, sw.RouterPort, sw.RouterMAC, sw.RouterIP+"/24",
			"--", "lsp-add", sw.Name, lsp,
			"--", "lsp-set-type", lsp, "router",
			"--", "lsp-set-addresses", lsp, "router",
			"--", "lsp-set-options", lsp, "router-port="+sw.RouterPort)
	}
	for _, v := range s.VMs {
		ip, _, _ := strings.Cut(v.Addr, "/")
		args = append(args,
			"--", "lsp-add", s.switchOf(v), v.LPort,
			"--", "lsp-set-addresses", v.LPort, v.MAC+" "+ip,
			"--", "lsp-set-port-security", v.LPort, v.MAC+" "+ip)
	}
	return args
}

// switchOf names the switch of v's port: ports are named SWITCH-VM.
func (s *Scenario) switchOf(v *VM) string {
	sw, _, _ := strings.Cut(v.LPort, "-")
	return sw
}

// OnChassis lists the scenario's VMs placed on chassis.
func (s *Scenario) OnChassis(chassis string) []*VM {
	var out []*VM
	for _, v := range s.VMs {
		if v.Chassis == chassis {
			out = append(out, v)
		}
	}
	return out
}

// PlugCommands are the commands that make VM v on the host of its chassis:
// namespace ns with eth0 (the VM's MAC, address, MTU, default route), its
// veth peer (named after the VM) in peerNS ("" for the host's own namespace)
// and added to br-int as an Interface with external_ids:iface-id, as os-vif
// or a CNI would. vsctl is the ovs-vsctl command line for the chassis' OVSDB
// (with --no-wait where no ovs-vswitchd runs).
func PlugCommands(v *VM, ns, peerNS string, vsctl []string) [][]string {
	mtu := fmt.Sprint(v.MTU)
	if v.MTU == 0 {
		mtu = fmt.Sprint(DefaultMTU)
	}
	peer := []string{"ip"}
	if peerNS != "" {
		peer = append(peer, "-n", peerNS)
	}
	add := []string{"ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", v.Name}
	if peerNS != "" {
		add = append(add, "netns", peerNS)
	} else {
		add = append(add, "netns", "1")
	}
	cmds := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		add,
		{"ip", "-n", ns, "link", "set", "eth0", "address", v.MAC, "mtu", mtu, "up"},
		{"ip", "-n", ns, "addr", "add", v.Addr, "dev", "eth0"},
		append(append([]string{}, peer...), "link", "set", "dev", v.Name, "mtu", mtu, "up"),
		// Datapaths that forward without finishing checksums need them done by the sender.
		{"ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off"},
	}
	if v.GW != "" {
		cmds = append(cmds, []string{"ip", "-n", ns, "route", "add", "default", "via", v.GW})
	}
	cmds = append(cmds, append(append([]string{}, vsctl...),
		"--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int",
		"fail-mode=secure", "other-config:disable-in-band=true",
		"--", "--may-exist", "add-port", "br-int", v.Name,
		"--", "set", "Interface", v.Name, "external_ids:iface-id="+v.LPort))
	return cmds
}

// Execer runs argv inside VM v's namespace and returns its output.
type Execer func(v *VM, argv []string) ([]byte, error)

// PingAll pings from each VM of from to each VM of to (never itself), two
// pairs at a time: a few warm-up tries, then three counted echoes.
func PingAll(from, to []*VM, exec Execer) []PingResult {
	var pairs [][2]*VM
	for _, a := range from {
		for _, b := range to {
			if a.Name != b.Name {
				pairs = append(pairs, [2]*VM{a, b})
			}
		}
	}
	results := make([]PingResult, len(pairs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = pingWith(p[0], p[1], exec)
		}()
	}
	wg.Wait()
	return results
}

func pingWith(from, to *VM, exec Execer) PingResult {
	r := PingResult{From: from.Name, To: to.Name}
	ip, _, _ := strings.Cut(to.Addr, "/")
	ping := func(count string) (string, error) {
		out, err := exec(from, []string{"ping", "-n", "-q", "-c", count, "-i", "0.2", "-W", "1", ip})
		return string(out), err
	}
	var out string
	var err error
	for try := 0; try < 5; try++ {
		if out, err = ping("1"); err == nil {
			break
		}
	}
	if err != nil {
		r.Err = "no reply: " + lastLine(out)
		return r
	}
	if out, err = ping("3"); err != nil {
		r.Err = "lost: " + lastLine(out)
		return r
	}
	if m := rttRE.FindStringSubmatch(out); m != nil {
		r.RTT = parseMillis(m[1])
	}
	r.OK = true
	return r
}

func parseMillis(s string) time.Duration {
	ms, _ := strconv.ParseFloat(s, 64)
	return time.Duration(ms * float64(time.Millisecond))
}
