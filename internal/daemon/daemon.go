// Package daemon starts and stops the OVS/OVN daemons the labs and tests run
// (ovsdb-server, ovn-northd, ovs-vswitchd, ovn-controller, ovnbpfd). They run
// detached with a pidfile, and are stopped by that pid only: never by name.
package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Start runs argv, an OVS-style daemon started with --detach and
// --pidfile=pidfile, and waits for the pidfile to name a live process.
// netns, when not empty, runs it inside that network namespace.
func Start(netns, pidfile string, env []string, argv ...string) (int, error) {
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("starting %s: %w: %s", argv[len(argv)-1-countFlags(argv)], err, strings.TrimSpace(string(out)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pid, err := Pid(pidfile)
		if err == nil && Alive(pid) {
			return pid, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not start: no live pid in %s", argv[0], pidfile)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countFlags is how many trailing argv words are flags, so errors name the
// program and not its last option.
func countFlags(argv []string) int {
	n := 0
	for i := len(argv) - 1; i > 0 && strings.HasPrefix(argv[i], "-"); i-- {
		n++
	}
	if n >= len(argv) {
		return len(argv) - 1
	}
	return n
}

// Pid reads a pidfile.
func Pid(pidfile string) (int, error) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", pidfile, err)
	}
	return pid, nil
}

// Alive reports whether pid names a running (not zombie) process.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Stop sends SIGTERM to the process in pidfile, waits up to timeout for it to
// exit, then SIGKILLs it. A missing pidfile or a dead process is not an error:
// Stop is idempotent. The pidfile is removed.
func Stop(pidfile string, timeout time.Duration) error {
	pid, err := Pid(pidfile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer os.Remove(pidfile)
	return Kill(pid, timeout)
}

// Kill stops one process by pid: SIGTERM, then SIGKILL after timeout.
func Kill(pid int, timeout time.Duration) error {
	if !Alive(pid) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for Alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(50 * time.Millisecond)
			if Alive(pid) {
				return fmt.Errorf("pid %d survived SIGKILL", pid)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Spawn starts argv in the background for programs that do not detach
// themselves (ovnbpfd, like most Go daemons): in its own session, output
// appended to logfile, its pid written to pidfile. netns, when not empty, runs
// it inside that named network namespace, entering only the network namespace:
// unlike `ip netns exec`, which remounts /sys, the program keeps the host's
// bpffs at /sys/fs/bpf, where its pins must outlive it. The caller does not
// wait for it.
func Spawn(netns, pidfile, logfile string, env []string, argv ...string) (int, error) {
	if netns != "" {
		argv = append([]string{"nsenter", "--net=/run/netns/" + netns, "--"}, argv...)
	}
	log, err := os.OpenFile(logfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("opening log of %s: %w", argv[0], err)
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	// Reap it in the background when the spawner outlives it; when the
	// spawner exits first, the daemon is re-parented as any detached one.
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", pid)), 0o644); err != nil {
		_ = Kill(pid, time.Second)
		return 0, fmt.Errorf("writing pidfile of %s: %w", argv[0], err)
	}
	return pid, nil
}
