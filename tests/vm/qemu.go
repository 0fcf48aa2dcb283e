package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ovnbpf/ovnbpf/tests/vm/vmrec"
)

// VM is one qemu guest: a kernel, the runner's initramfs and, optionally, a
// NIC on a tap device of the runner's own network namespace.
type VM struct {
	Name    string
	Kernel  *Kernel
	Initrd  string
	Disk    string   // a root disk image, booted with -snapshot (writes are thrown away)
	Params  []string // ovnbpf.* kernel parameters for the guest agent
	MemMB   int
	CPU     string // qemu -cpu model
	Tap     string // tap device in Netns, or "" for no NIC
	MAC     string
	Netns   string
	Console string // file the serial console is copied to
	Timeout time.Duration
}

// Result is what one VM reported.
type Result struct {
	VM       *VM
	Records  []vmrec.Record
	Elapsed  time.Duration
	Err      error // the VM did not finish: timeout, crash, no Done record
	Complete bool
}

func (v *VM) argv() []string {
	append_ := append([]string{"console=ttyS0", "panic=-1", "quiet", "loglevel=3", "rdinit=/init"}, v.Params...)
	argv := []string{"qemu-system-x86_64",
		// Software emulation: the project machines have no usable KVM.
		"-machine", "q35,accel=tcg", "-cpu", v.CPU, "-smp", "1", "-m", fmt.Sprint(v.MemMB),
		"-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-kernel", v.Kernel.Vmlinuz, "-initrd", v.Initrd, "-append", strings.Join(append_, " ")}
	if v.Disk != "" {
		argv = append(argv, "-drive", "file="+v.Disk+",if=virtio,format=raw,snapshot=on")
	}
	if v.Tap != "" {
		argv = append(argv,
			"-netdev", "tap,id=n0,ifname="+v.Tap+",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,mac="+v.MAC+",romfile=")
	}
	if v.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", v.Netns}, argv...)
	}
	return argv
}

// Boot runs the VM to the end: until its agent's Done record and power-off,
// the timeout, or ctx's end. qemu is stopped by its pid whatever happens.
func (v *VM) Boot(ctx context.Context, logf func(string, ...any)) *Result {
	r := &Result{VM: v}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()
	argv := v.argv()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// ip netns exec execs qemu in its place: the pid is qemu's.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	// A runner killed outright takes its VMs with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.Err = err
		return r
	}
	con, err := os.Create(v.Console)
	if err != nil {
		r.Err = fmt.Errorf("creating console log: %w", err)
		return r
	}
	defer con.Close()
	cmd.Stderr = con
	if err := cmd.Start(); err != nil {
		r.Err = fmt.Errorf("starting qemu: %w", err)
		return r
	}
	logf("%s: booting %s (pid %d)", v.Name, v.Kernel.Release, cmd.Process.Pid)
	sc := bufio.NewScanner(io.TeeReader(stdout, con))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var parseErr error
	for sc.Scan() {
		rec, ok, err := vmrec.Parse(sc.Text())
		if err != nil && parseErr == nil {
			parseErr = err
		}
		if !ok || err != nil {
			continue
		}
		r.Records = append(r.Records, rec)
		if rec.Done {
			r.Complete = true
		}
	}
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil && !r.Complete:
		r.Err = fmt.Errorf("%s: no result within %s (console: %s)", v.Name, v.Timeout, v.Console)
	case !r.Complete:
		r.Err = fmt.Errorf("%s: the guest stopped before its agent finished (qemu: %v; console: %s)", v.Name, werr, v.Console)
	case parseErr != nil:
		r.Err = parseErr
	case werr != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		// qemu exits 0 on the guest's power-off; anything else is worth saying.
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.ExitCode() != 0 {
			r.Err = fmt.Errorf("%s: qemu: %w", v.Name, werr)
		}
	}
	return r
}
