// Command guest is the VM runner's agent: /init of the runner's initramfs runs
// it inside each VM. It reports on the serial console, as vmrec records, what
// the guest's kernel makes of the datapath: every program loaded (with the
// verifier's instruction count), the attach mechanism, the datapath's test
// binaries, the forwarding smoke test and, in a VM joined to another, the
// cross-VM checks. Parameters come from the kernel command line (ovnbpf.*).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/tests/vm/vmrec"
)

// Folders of the initramfs, filled by the runner.
const (
	objDir   = "/ovnbpf/objs"  // BPF ELF objects (bpf2go output)
	testDir  = "/ovnbpf/tests" // static test binaries: <name>.test, run in /ovnbpf/src/<dir>
	srcDir   = "/ovnbpf/src"   // per-package testdata
	pinRoot  = "/sys/fs/bpf/ovnbpf-vmtest"
	smokeBin = "tests-vm-smoke.test" // tests/vm/smoke, reported as the forwarding check
)

var kernel string

func emit(r vmrec.Record) {
	r.Kernel = kernel
	os.Stdout.WriteString(r.Line())
}

func main() {
	var u unix.Utsname
	_ = unix.Uname(&u)
	kernel = unix.ByteSliceToString(u.Release[:])
	params := cmdline()
	switch params["ovnbpf.mode"] {
	case "cross":
		cross(params)
	default:
		matrix(params)
	}
	emit(vmrec.Record{Done: true})
}

// cmdline returns the ovnbpf.* parameters of the kernel command line.
func cmdline() map[string]string {
	out := map[string]string{}
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "ovnbpf.") {
			out[k] = v
		}
	}
	return out
}

func matrix(params map[string]string) {
	loadObjects()
	attach()
	runTests(params["ovnbpf.run"])
}

// loadObjects loads every program of every object on its own, so that the
// verifier's verdict and instruction count are per program.
func loadObjects() {
	objs, _ := filepath.Glob(filepath.Join(objDir, "*.o"))
	sort.Strings(objs)
	if len(objs) == 0 {
		emit(vmrec.Record{Program: &vmrec.Program{Err: "no BPF objects in the initramfs (the runner found no *_bpfel.o)"}})
		return
	}
	for _, o := range objs {
		obj := filepath.Base(o)
		spec, err := ebpf.LoadCollectionSpec(o)
		if err != nil {
			emit(vmrec.Record{Program: &vmrec.Program{Object: obj, Err: "parsing: " + err.Error()}})
			continue
		}
		pins := filepath.Join(pinRoot, strings.TrimSuffix(obj, ".o"))
		_ = os.MkdirAll(pins, 0o755)
		// One program at a time: a verifier rejection names its program and
		// does not hide the counts of the others.
		names := make([]string, 0, len(spec.Programs))
		for n := range spec.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ps := spec.Programs[n]
			rec := &vmrec.Program{Object: obj, Name: n, Type: ps.Type.String()}
			p, err := loadOne(spec, n, pins)
			if err != nil {
				rec.Err = verifierSummary(err)
				emit(vmrec.Record{Program: rec})
				continue
			}
			if info, err := p.Info(); err == nil {
				if insns, ok := info.VerifiedInstructions(); ok {
					rec.Insns = insns
				}
			}
			emit(vmrec.Record{Program: rec})
			p.Close()
		}
		// Maps pinned by name would outlive the check: the tests start clean.
		_ = os.RemoveAll(pins)
	}
}

// loadOne loads program name of spec with the maps it uses.
func loadOne(spec *ebpf.CollectionSpec, name, pins string) (*ebpf.Program, error) {
	one := spec.Copy()
	for n := range one.Programs {
		if n != name {
			delete(one.Programs, n)
		}
	}
	// Tail-call tables hold the other programs; they stay empty here.
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{
		Maps: ebpf.MapOptions{PinPath: pins},
	})
	if err != nil {
		return nil, err
	}
	p := coll.DetachProgram(name)
	coll.Close()
	return p, nil
}

// verifierSummary keeps the end of a verifier log: the reason is there.
func verifierSummary(err error) string {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		lines := ve.Log
		if len(lines) > 6 {
			lines = lines[len(lines)-6:]
		}
		return fmt.Sprintf("%v: ...%s", ve.Cause, strings.Join(lines, " | "))
	}
	return err.Error()
}

// attach loads the datapath through the loader, as ovnbpfd does, attaches
// its VIF and underlay hooks to a veth pair with whatever the loader chooses
// on this kernel, and reports the mechanism the kernel then shows: TCX links
// (6.6+) or bpf filters under a clsact qdisc.
func attach() {
	rec := &vmrec.Attach{}
	defer func() { emit(vmrec.Record{Attach: rec}) }()
	pins := filepath.Join(pinRoot, "loader")
	defer loader.Unpin(pins)
	d, err := loader.Load(pins, nil)
	if err != nil {
		rec.Err = verifierSummary(err)
		return
	}
	defer d.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "vmt0"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "vmt1"}); err != nil {
		rec.Err = "making veth: " + err.Error()
		return
	}
	defer netlink.LinkDel(&netlink.Veth{LinkAttrs: la})
	hooks := []struct {
		dev  string
		hook loader.Hook
	}{{"vmt0", loader.HookVIF}, {"vmt1", loader.HookUnderlay}}
	var mechs []string
	for _, h := range hooks {
		l, err := netlink.LinkByName(h.dev)
		if err != nil {
			rec.Err = err.Error()
			return
		}
		_ = netlink.LinkSetUp(l)
		if err := d.Attach(h.dev, l.Attrs().Index, h.hook); err != nil {
			rec.Err = fmt.Sprintf("loader: %v", err)
			return
		}
		defer d.Detach(h.dev, h.hook)
		m, err := mechanism(l)
		if err != nil {
			rec.Err = fmt.Sprintf("%s hook on %s: %v", h.hook, h.dev, err)
			return
		}
		mechs = append(mechs, m)
		rec.Programs++
	}
	rec.Mechanism = strings.Join(uniq(mechs), "+")
}

// mechanism says how the device's ingress runs BPF, as the kernel reports it.
func mechanism(l netlink.Link) (string, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: ebpf.AttachTCXIngress})
	if err == nil && len(res.Programs) > 0 {
		return "tcx", nil
	}
	filters, ferr := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
	if ferr == nil {
		for _, f := range filters {
			if bf, ok := f.(*netlink.BpfFilter); ok && bf.DirectAction {
				return "tc-clsact", nil
			}
		}
	}
	return "", errors.New("the loader reported success but the kernel shows no BPF on ingress")
}

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

var resultRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// runTests runs each test binary as `go test` would in its package folder,
// with CI=true so that a privileged test cannot skip.
func runTests(filter string) {
	bins, _ := filepath.Glob(filepath.Join(testDir, "*.test"))
	sort.Strings(bins)
	smokeRan := false
	for _, b := range bins {
		name := strings.TrimSuffix(filepath.Base(b), ".test")
		if filepath.Base(b) == smokeBin {
			// The smoke test is a column of its own: -run never filters it out.
			tr := runTest(b, name, "")
			smokeRan = true
			c := &vmrec.Check{Name: "forwarding smoke", Ran: tr.Err == "" || tr.Passed+tr.Failed > 0}
			c.OK = tr.Err == "" && tr.Failed == 0 && tr.Passed > 0
			c.Detail = fmt.Sprintf("%d passed, %d failed %s %s", tr.Passed, tr.Failed, strings.Join(tr.Failures, " "), tr.Err)
			emit(vmrec.Record{Check: c})
			continue
		}
		emit(vmrec.Record{Test: runTest(b, name, filter)})
	}
	if !smokeRan {
		emit(vmrec.Record{Check: &vmrec.Check{Name: "forwarding smoke", Detail: "no smoke test binary in the initramfs"}})
	}
}

func runTest(bin, name, filter string) *vmrec.TestRun {
	tr := &vmrec.TestRun{Package: name}
	args := []string{"-test.v", "-test.count=1", "-test.timeout=15m"}
	if filter != "" {
		args = append(args, "-test.run="+filter)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join(srcDir, name)
	if _, err := os.Stat(cmd.Dir); err != nil {
		cmd.Dir = "/"
	}
	cmd.Env = append(os.Environ(), "CI=true", "HOME=/root", "TMPDIR=/tmp")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tr.Err = err.Error()
		return tr
	}
	cmd.Stderr = cmd.Stdout
	fmt.Printf("=== %s: %s %s\n", kernel, bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		tr.Err = err.Error()
		return tr
	}
	// Echo the log so the runner's console file has it; records are separate lines.
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println("  | " + line)
		m := resultRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch m[1] {
		case "PASS":
			tr.Passed++
		case "FAIL":
			tr.Failed++
			tr.Failures = append(tr.Failures, m[2])
		case "SKIP":
			tr.Skipped++
		}
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil && tr.Failed == 0 {
		tr.Err = "test binary failed: " + err.Error()
	}
	return tr
}

// cross joins the network shared with another VM: address eth0, meet the peer
// (a TCP rendezvous, so neither powers off while the other still checks),
// and ping it across the two kernels.
func cross(params map[string]string) {
	addr, peer := params["ovnbpf.addr"], params["ovnbpf.peer"]
	c := &vmrec.Check{Name: "cross-VM ping " + kernel + " -> " + peer}
	if err := upLink("eth0", addr); err != nil {
		c.Detail = err.Error()
		emit(vmrec.Record{Check: c})
		return
	}
	bye := serveBarrier()
	c.Ran = true
	c.OK, c.Detail = ping(peer, 90*time.Second)
	emit(vmrec.Record{Check: c})
	if g := geneve(params); g != nil {
		emit(vmrec.Record{Check: g})
	}
	// Tell the peer we are done, then wait for its word.
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(peer, "7001"), 2*time.Second)
		if err == nil {
			conn.Close()
			break
		}
		time.Sleep(time.Second)
	}
	select {
	case <-bye:
	case <-time.After(time.Until(deadline)):
		fmt.Println("peer never said it was done")
	}
}

func upLink(name, addr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("no %s in the guest: %w", name, err)
	}
	a, err := netlink.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("ovnbpf.addr=%q: %w", addr, err)
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("addressing %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// serveBarrier accepts the peer's "done" connection on port 7001.
func serveBarrier() <-chan struct{} {
	done := make(chan struct{})
	ln, err := net.Listen("tcp", ":7001")
	if err != nil {
		fmt.Println("barrier:", err)
		close(done)
		return done
	}
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Close()
		}
		ln.Close()
		close(done)
	}()
	return done
}

var pingRE = regexp.MustCompile(`= [0-9.]+/([0-9.]+)/`)

// ping tries until one echo comes back (the peer may still be booting), then
// counts three.
func ping(ip string, wait time.Duration) (bool, string) {
	deadline := time.Now().Add(wait)
	for {
		out, err := exec.Command("ping", "-n", "-q", "-c", "1", "-W", "1", ip).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return false, "no reply within " + wait.String() + ": " + lastLine(string(out))
		}
		time.Sleep(500 * time.Millisecond)
	}
	out, err := exec.Command("ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", ip).CombinedOutput()
	if err != nil {
		return false, "lost: " + lastLine(string(out))
	}
	if m := pingRE.FindStringSubmatch(string(out)); m != nil {
		return true, "3/3 replies, avg " + m[1] + " ms"
	}
	return true, lastLine(string(out))
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
