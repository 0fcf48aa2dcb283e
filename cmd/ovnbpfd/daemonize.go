package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// detachedEnv marks the re-executed child of --detach; netnsEnv the
// process re-executed inside --netns.
const (
	detachedEnv = "OVNBPFD_DETACHED"
	netnsEnv    = "OVNBPFD_IN_NETNS"
)

// enterNetns replaces this process (same pid) by itself run under
// `nsenter --net`, which switches the network namespace only: the mount
// namespace, and so the host's bpffs where the datapath is pinned, stay.
func enterNetns(name string) error {
	path := "/run/netns/" + name
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--netns=%s: %w (ip netns add %s)", name, err, name)
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return fmt.Errorf("--netns needs nsenter (util-linux): %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--netns: %w", err)
	}
	argv := append([]string{"nsenter", "--net=" + path, exe}, os.Args[1:]...)
	if err := syscall.Exec(nsenter, argv, append(os.Environ(), netnsEnv+"=1")); err != nil {
		return fmt.Errorf("--netns: exec nsenter: %w", err)
	}
	return nil
}

// detach re-runs ovnbpfd in a new session with stdio on /dev/null (logs go
// to --log-file) and returns once the child has written its pidfile, or
// fails if the child exits first. This is the OVS-style --detach the labs'
// daemon helper expects.
func detach(o *options) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	defer null.Close()
	_ = os.Remove(o.pidfile)
	errFile, err := os.CreateTemp("", "ovnbpfd-start-*.log")
	if err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), detachedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("detaching: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(o.pidfile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(cmd.Process.Pid) {
			return nil
		}
		select {
		case err := <-exited:
			msg, _ := os.ReadFile(errFile.Name())
			return fmt.Errorf("ovnbpfd exited while starting: %v: %s", err, strings.TrimSpace(string(msg)))
		case <-deadline:
			return fmt.Errorf("ovnbpfd did not write %s within 30s", o.pidfile)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writePidfile writes our pid atomically, refusing to replace the pidfile
// of a live process.
func writePidfile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() {
			if syscall.Kill(pid, 0) == nil {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
					return fmt.Errorf("pidfile %s names running pid %d: another ovnbpfd?", path, pid)
				}
			}
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing pidfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing pidfile: %w", err)
	}
	return nil
}
