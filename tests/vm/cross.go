package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// The cross-VM network: a bridge in a network namespace of the runner's own
// with one tap per VM, on TEST-NET-1. Nothing on it reaches the machine's
// own network.
const (
	crossBridgeIP = "192.0.2.1"
	crossPrefix   = "/24"
)

func crossNetns() string { return fmt.Sprintf("ovnbpfvm%d", os.Getpid()) }

// sweepNetns deletes the cross networks of runners that died without
// cleaning up (their pid is in the name and no longer runs).
func sweepNetns() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "ovnbpfvm"))
		if err != nil || !strings.HasPrefix(e.Name(), "ovnbpfvm") || daemon.Alive(pid) {
			continue
		}
		if err := ipCmd("netns", "del", e.Name()); err == nil {
			logf("removed %s, left by a runner that died", e.Name())
		}
	}
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// crossNetwork makes the runner's namespace with bridge br0 (192.0.2.1/24)
// and taps tap0..tapN-1 on it; cleanup deletes it all.
func crossNetwork(taps int) (ns string, cleanup func() error, err error) {
	sweepNetns()
	ns = crossNetns()
	if err := ipCmd("netns", "add", ns); err != nil {
		return "", nil, err
	}
	cleanup = func() error { return ipCmd("netns", "del", ns) }
	setup := [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", "br0", "type", "bridge"},
		{"-n", ns, "addr", "add", crossBridgeIP + crossPrefix, "dev", "br0"},
		{"-n", ns, "link", "set", "br0", "up"},
	}
	for i := range taps {
		tap := fmt.Sprintf("tap%d", i)
		setup = append(setup,
			[]string{"-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"},
			[]string{"-n", ns, "link", "set", tap, "master", "br0", "up"})
	}
	for _, a := range setup {
		if err := ipCmd(a...); err != nil {
			_ = cleanup()
			return "", nil, err
		}
	}
	return ns, cleanup, nil
}

// runCross boots a VM of each of two kernels on one network and lets each
// ping the other (and, with ovnbpfd, carry a workload's traffic in Geneve).
func runCross(ctx context.Context, work string, o options, k1, k2 *Kernel, p *Payload) (rs []*Result, err error) {
	ns, cleanup, err := crossNetwork(2)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	var cc *crossCentral
	if p.OVNBPFD != "" {
		if cc, err = startCrossCentral(filepath.Join(work, "central"), ns); err != nil {
			return nil, err
		}
		defer func() {
			if serr := cc.Stop(); serr != nil && err == nil {
				err = serr
			}
		}()
	}
	addrs := []string{"192.0.2.11", "192.0.2.12"}
	var vms []*VM
	for i, k := range []*Kernel{k1, k2} {
		initrd := filepath.Join(work, k.Release+".cpio.gz") // built by the matrix run
		params := []string{"ovnbpf.mode=cross", "ovnbpf.addr=" + addrs[i] + crossPrefix,
			"ovnbpf.peer=" + addrs[1-i], "ovnbpf.index=" + fmt.Sprint(i)}
		if cc != nil {
			w, peer := crossWorkloads[i], crossWorkloads[1-i]
			params = append(params, "ovnbpf.sb="+cc.SB(), "ovnbpf.wport="+w.lport, "ovnbpf.wmac="+w.mac,
				"ovnbpf.waddr="+w.addr, "ovnbpf.wpeer="+peer.addr, "ovnbpf.wpeerport="+peer.lport)
		}
		vms = append(vms, &VM{Name: fmt.Sprintf("cross%d-%s", i, k.Release), Kernel: k, Initrd: initrd,
			Params: params, MemMB: o.memMB, CPU: o.cpu, Tap: fmt.Sprintf("tap%d", i), MAC: fmt.Sprintf("52:54:00:00:02:%02x", 11+i),
			Netns: ns, Console: filepath.Join(work, fmt.Sprintf("cross%d.console", i)), Timeout: o.timeout})
	}
	rs = make([]*Result, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i] = vm.Boot(ctx, logf)
			logf("%s: finished in %s", vm.Name, rs[i].Elapsed.Round(1e9))
		}()
	}
	wg.Wait()
	return rs, nil
}
