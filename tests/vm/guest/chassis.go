package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/tests/vm/vmrec"
)

const chassisDir = "/run/ovnbpf-chassis"

// chassisCheck makes this VM an OVN chassis the way a host is configured for
// ovn-controller (a local OVSDB with the Open_vSwitch external_ids, a VIF as an
// Interface with external_ids:iface-id), runs ovnbpfd against the central on
// the runner's host, and pings the peer VM's workload: the packets cross
// between the two kernels in Geneve that the datapath builds and parses.
func chassisCheck(c *vmrec.Check, params map[string]string) *vmrec.Check {
	c.Ran = true
	idx := params["ovnbpf.index"]
	encapIP, _, _ := strings.Cut(params["ovnbpf.addr"], "/")
	sb := params["ovnbpf.sb"]
	lport, mac, waddr, wpeer := params["ovnbpf.wport"], params["ovnbpf.wmac"], params["ovnbpf.waddr"], params["ovnbpf.wpeer"]
	if lport == "" || mac == "" || waddr == "" || wpeer == "" {
		c.Detail = "the runner gave no workload (ovnbpf.wport, wmac, waddr, wpeer)"
		return c
	}
	db := "unix:" + filepath.Join(chassisDir, "db.sock")
	vsctl := []string{"ovs-vsctl", "--db=" + db, "--no-wait", "--timeout=30"}
	steps := [][]string{
		{"ovsdb-tool", "create", filepath.Join(chassisDir, "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"},
		{"ovsdb-server", filepath.Join(chassisDir, "conf.db"), "--remote=punix:" + filepath.Join(chassisDir, "db.sock"),
			"--pidfile=" + filepath.Join(chassisDir, "ovsdb-server.pid"),
			"--log-file=" + filepath.Join(chassisDir, "ovsdb-server.log"), "--detach", "--no-chdir"},
		append(append([]string{}, vsctl...), "init", "--", "set", "Open_vSwitch", ".",
			"external_ids:system-id=vmtest"+idx, "external_ids:hostname=vmtest"+idx,
			"external_ids:ovn-remote="+sb, "external_ids:ovn-encap-type=geneve",
			"external_ids:ovn-encap-ip="+encapIP, "external_ids:ovn-bridge=br-int"),
		// The workload: a namespace with eth0, its peer the VIF.
		{"ip", "netns", "add", "w"},
		{"ip", "-n", "w", "link", "set", "lo", "up"},
		{"ip", "link", "add", "vif0", "type", "veth", "peer", "name", "eth0", "netns", "w"},
		{"ip", "-n", "w", "link", "set", "eth0", "address", mac, "mtu", "1400", "up"},
		{"ip", "-n", "w", "addr", "add", waddr, "dev", "eth0"},
		{"ip", "netns", "exec", "w", "ethtool", "-K", "eth0", "tx", "off"},
		{"ip", "link", "set", "vif0", "mtu", "1400", "up"},
		append(append([]string{}, vsctl...), "--may-exist", "add-br", "br-int",
			"--", "add-port", "br-int", "vif0", "--", "set", "Interface", "vif0", "external_ids:iface-id="+lport),
		{ovnbpfdPath, "--ovsdb=" + db, "--state-dir=" + chassisDir,
			"--ctl-socket=" + filepath.Join(chassisDir, "ovnbpfd.ctl"),
			"--pidfile=" + filepath.Join(chassisDir, "ovnbpfd.pid"),
			"--log-file=" + filepath.Join(chassisDir, "ovnbpfd.log"), "--detach"},
	}
	if err := os.MkdirAll(chassisDir, 0o755); err != nil {
		c.Detail = err.Error()
		return c
	}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Env = append(os.Environ(), "OVS_RUNDIR="+chassisDir, "OVS_LOGDIR="+chassisDir, "OVS_DBDIR="+chassisDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			c.Detail = fmt.Sprintf("%s: %v: %s%s", strings.Join(s, " "), err, strings.TrimSpace(string(out)), daemonLog())
			return c
		}
	}
	// Both workloads must be bound (their chassis claimed them) before a ping means anything.
	for _, p := range []string{params["ovnbpf.wport"], params["ovnbpf.wpeerport"]} {
		if err := waitBound(sb, p, 120*time.Second); err != nil {
			c.Detail = err.Error() + daemonLog()
			return c
		}
	}
	ok, detail := pingIn("w", strings.Split(wpeer, "/")[0], 60*time.Second)
	c.OK = ok
	c.Detail = "workload " + waddr + " -> " + wpeer + ": " + detail
	if !ok {
		c.Detail += daemonLog()
	}
	return c
}

// waitBound waits until the Southbound DB says a chassis claimed lport.
func waitBound(sb, lport string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		out, err := exec.Command("ovn-sbctl", "--db="+sb, "--bare", "--columns=chassis", "find", "Port_Binding",
			"logical_port="+lport).CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s was not claimed by a chassis within %s (ovn-sbctl: %s)", lport, wait, strings.TrimSpace(string(out)))
		}
		time.Sleep(time.Second)
	}
}

func pingIn(ns, ip string, wait time.Duration) (bool, string) {
	deadline := time.Now().Add(wait)
	for {
		out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1", ip).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return false, "no reply within " + wait.String() + ": " + lastLine(string(out))
		}
		time.Sleep(500 * time.Millisecond)
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", ip).CombinedOutput()
	if err != nil {
		return false, "lost: " + lastLine(string(out))
	}
	if m := pingRE.FindStringSubmatch(string(out)); m != nil {
		return true, "3/3 replies, avg " + m[1] + " ms"
	}
	return true, lastLine(string(out))
}

// daemonLog is the end of ovnbpfd's log, for a failure's detail.
func daemonLog() string {
	b, err := os.ReadFile(filepath.Join(chassisDir, "ovnbpfd.log"))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return " | ovnbpfd: " + strings.Join(lines, " | ")
}
