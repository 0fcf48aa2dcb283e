// Package testutil holds the helpers every privileged test uses: one gate that
// says why a test cannot run here, and throwaway network namespaces.
package testutil

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Privileged skips t, with the reason, unless the test runs as root with a
// bpffs mounted at /sys/fs/bpf. Under CI (CI=true) a missing privilege is a
// failure, not a skip: CI runs as root and every privileged test must run there.
func Privileged(t testing.TB) {
	t.Helper()
	reason := missingPrivilege()
	if reason == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("privileged test cannot run under CI: %s", reason)
	}
	t.Skipf("needs root and bpffs: %s", reason)
}

func missingPrivilege() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil {
		return "statfs /sys/fs/bpf: " + err.Error()
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return "/sys/fs/bpf is not a bpffs mount"
	}
	return ""
}

// Need fails the test when a program it drives is not installed: a missing
// tool is a broken set-up (run 'make deps'), never a reason to skip.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := lookPath(p); err != nil {
			t.Fatalf("%s is not installed: run 'make deps'", p)
		}
	}
}
