// Command vm is the VM runner (`make vm-test`): it boots each kernel of the
// supported matrix, taken from Debian's packages, in qemu (software
// emulation, one vCPU) with an initramfs it builds itself, and checks there
// what the machine's own kernel cannot tell: that every datapath program
// loads and attaches on that kernel, that the datapath's tests pass on it,
// and that packets forward through it. Then it joins two VMs of different
// kernels on one network. It prints one table and exits non-zero when any
// check fails. Downloads are cached (-cache); every VM, namespace and file a
// run makes is removed at its end.
//
//	go run ./tests/vm [-kernels META,...] [-cache DIR] [-run REGEXP] [-cross=false] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultKernels is the supported matrix below the machine's own kernel:
// Debian 12's cloud kernel (6.1) and the 6.12 that bookworm-security carries
// (linux-image-6.12-cloud-amd64, no backports needed).
const DefaultKernels = "linux-image-cloud-amd64,linux-image-6.12-cloud-amd64"

type options struct {
	kernels        []string
	cache          string
	memMB          int
	cpu            string
	timeout        time.Duration
	run            string
	cross          bool
	matrix         bool
	vagrant        bool
	vagrantChassis string
	jobs           int
	keep           bool
	deps           bool
}

func main() {
	var o options
	kernels := flag.String("kernels", DefaultKernels, "comma-separated kernel packages (meta-packages resolve to today's version)")
	flag.StringVar(&o.cache, "cache", envOr("OVNBPF_VM_CACHE", "/var/cache/ovnbpf-vm"), "download cache (kept between runs)")
	flag.IntVar(&o.memMB, "mem", 768, "memory per VM, MiB")
	flag.StringVar(&o.cpu, "cpu", "max", "qemu -cpu model of the VMs")
	flag.DurationVar(&o.timeout, "timeout", 25*time.Minute, "limit per VM (boot and every check)")
	flag.StringVar(&o.run, "run", "", "only run tests matching this regexp (go test -run) inside the VMs")
	flag.BoolVar(&o.cross, "cross", true, "also join two VMs of different kernels on one network")
	flag.BoolVar(&o.matrix, "matrix", true, "boot each kernel alone and run the datapath checks (false: only the cross-VM check)")
	flag.BoolVar(&o.vagrant, "vagrant", false, "also run the Vagrant lab's provisioning and check on Debian VMs made with debootstrap (central + 2 chassis, first kernel)")
	flag.StringVar(&o.vagrantChassis, "vagrant-chassis", "hv1=ovs,hv2=ovs", "with -vagrant: the two chassis and their flavours, as OVNBPF_CHASSIS")
	flag.IntVar(&o.jobs, "parallel", 1, "matrix VMs booted at once (each takes one host CPU)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (initramfs, console logs)")
	flag.BoolVar(&o.deps, "deps", true, "install qemu-system-x86, busybox-static, xz-utils, zstd and kmod from Debian when missing")
	flag.Parse()
	for _, k := range strings.Split(*kernels, ",") {
		if k = strings.TrimSpace(k); k != "" {
			o.kernels = append(o.kernels, k)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "vm-test:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the runner makes network namespaces and tap devices, and unpacks kernels")
	}
	if len(o.kernels) == 0 {
		return errors.New("-kernels names no kernel")
	}
	start := time.Now()
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	if o.deps {
		pkgs := []string{"qemu-system-x86", "busybox-static", "xz-utils", "zstd", "kmod"}
		if o.vagrant {
			pkgs = append(pkgs, "debootstrap", "e2fsprogs")
		}
		if err := runCmd(append([]string{filepath.Join(repo, "scripts", "deps.sh")}, pkgs...)...); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "ovnbpf-vm-")
	if err != nil {
		return fmt.Errorf("making work folder: %w", err)
	}
	defer func() {
		if o.keep {
			logf("kept %s", work)
			return
		}
		if rerr := os.RemoveAll(work); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", work, rerr)
		}
	}()
	logf("building the guest agent, the test binaries and the datapath objects list")
	payload, err := buildPayload(repo, work)
	if err != nil {
		return err
	}
	logf("payload: %d test binaries (%s), %d BPF objects, ovnbpfd: %v",
		len(payload.Tests), strings.Join(payload.testNames(), " "), len(payload.Objects), payload.OVNBPFD != "")

	var vms []*VM
	kernels := map[string]*Kernel{}
	for _, asked := range o.kernels {
		k, err := fetchKernel(o.cache, asked, logf)
		if err != nil {
			return err
		}
		kernels[asked] = k
		initrd := filepath.Join(work, k.Release+".cpio.gz")
		if err := buildInitramfs(initrd, k, payload); err != nil {
			return fmt.Errorf("initramfs for %s: %w", k.Release, err)
		}
		params := []string{"ovnbpf.mode=matrix"}
		if o.run != "" {
			params = append(params, "ovnbpf.run="+o.run)
		}
		vms = append(vms, &VM{Name: "vm-" + k.Release, Kernel: k, Initrd: initrd, Params: params, MemMB: o.memMB, CPU: o.cpu,
			Console: filepath.Join(work, k.Release+".console"), Timeout: o.timeout})
	}
	var results []*Result
	if o.matrix {
		results = bootAll(ctx, vms, max(1, o.jobs))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	var crossResults []*Result
	if o.cross {
		if len(o.kernels) < 2 {
			logf("cross-VM check skipped: it needs two kernels in -kernels")
		} else {
			k1, k2 := kernels[o.kernels[0]], kernels[o.kernels[len(o.kernels)-1]]
			crossResults, err = runCross(ctx, work, o, k1, k2, payload)
			if err != nil {
				return err
			}
		}
	}
	if o.vagrant {
		rs, err := runVagrantProvisioning(ctx, work, repo, o, kernels[o.kernels[0]])
		if err != nil {
			return err
		}
		crossResults = append(crossResults, rs...)
	}
	fails := printTable(os.Stdout, results, crossResults)
	printVerifierTable(os.Stdout, results)
	if fails > 0 {
		printFailureLogs(os.Stdout, results)
	}
	fmt.Printf("vm-test: %s in all\n", time.Since(start).Round(time.Second))
	if fails > 0 {
		if !o.keep {
			fmt.Println("vm-test: rerun with -keep to keep the console logs")
		}
		return fmt.Errorf("%d check(s) failed", fails)
	}
	return nil
}

// bootAll boots the VMs, jobs at a time, and returns their results in order.
func bootAll(ctx context.Context, vms []*VM, jobs int) []*Result {
	results := make([]*Result, len(vms))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		sem <- struct{}{} // here, not in the goroutine: VMs boot in the matrix's order
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = vm.Boot(ctx, logf)
			logf("%s: finished in %s", vm.Name, results[i].Elapsed.Round(time.Second))
		}()
	}
	wg.Wait()
	return results
}

// repoRoot is the folder of go.mod, from the working folder up.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("run from inside the ovnbpf repository (no go.mod found)")
		}
		d = up
	}
}
