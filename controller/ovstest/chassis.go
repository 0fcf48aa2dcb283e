package ovstest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// Chassis is an ovnbpfd chassis for tests: the daemon, with the real BPF
// datapath, in network namespace NS, configured like any OVN host through
// its own local OVSDB (with br-int).
type Chassis struct {
	Name, NS string
	Sock     string // ovnbpfctl's control socket
	OVS      *DB
}

// StartChassis starts a local OVSDB naming the chassis, its encap IP and
// sbRemote, and ovnbpfd inside ns (through --netns, which keeps the host's
// bpffs where `ip netns exec` would not). Everything goes at the test's end,
// the pins included; a failed test gets the tail of the daemon's log.
func StartChassis(t testing.TB, ovnbpfd, sbRemote, name, ns, encapIP string) *Chassis {
	t.Helper()
	ovs, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ovs.Stop() })
	if _, err := ovs.VSCtl("set", "Open_vSwitch", ".", "external_ids:system-id="+name,
		"external_ids:ovn-remote="+sbRemote, "external_ids:ovn-encap-ip="+encapIP, "--", "add-br", "br-int"); err != nil {
		t.Fatal(err)
	}
	pins := filepath.Join("/sys/fs/bpf/ovnbpf", name)
	os.RemoveAll(pins) // a crashed earlier run's
	t.Cleanup(func() { os.RemoveAll(pins) })
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "ovnbpfd.pid")
	log := filepath.Join(dir, "ovnbpfd.log")
	ch := &Chassis{Name: name, NS: ns, Sock: filepath.Join(dir, "ovnbpfd.ctl"), OVS: ovs}
	if _, err := daemon.Start("", pidfile, nil, ovnbpfd, "--netns="+ns, "--detach", "--pidfile="+pidfile,
		"--log-file="+log, "--ovsdb="+ovs.Remote(), "--config=",
		"--state-dir="+filepath.Join(dir, "state"), "--ctl-socket="+ch.Sock, "--cleanup-on-exit"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("%s ovnbpfd.log (tail):\n%s", name, b)
		}
		daemon.Stop(pidfile, 10*time.Second)
	})
	return ch
}
