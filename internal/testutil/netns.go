package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

var lookPath = exec.LookPath

var nsSeq atomic.Uint64

// NetNS creates a named network namespace for the test (visible to `ip netns`
// and to `ip netns exec`), brings its loopback up, and deletes it when the test
// ends, whether it passed or not. It returns the namespace's name.
func NetNS(t testing.TB) string {
	t.Helper()
	Privileged(t)
	name := fmt.Sprintf("obt%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	MustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// MustRun runs a command and fails the test with its output when it fails.
func MustRun(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
