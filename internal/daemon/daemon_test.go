package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSpawnAndStop(t *testing.T) {
	dir := t.TempDir()
	pf, lf := filepath.Join(dir, "sleep.pid"), filepath.Join(dir, "sleep.log")
	pid, err := Spawn("", pf, lf, nil, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Kill(pid, time.Second) })
	if got, err := Pid(pf); err != nil || got != pid {
		t.Fatalf("pidfile says %d (%v), want %d", got, err, pid)
	}
	if !Alive(pid) {
		t.Fatal("spawned process is not alive")
	}
	if err := Stop(pf, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// Give the reaper goroutine a moment: a reaped child leaves /proc.
	for i := 0; i < 100 && Alive(pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if Alive(pid) {
		t.Fatal("process alive after Stop")
	}
	if _, err := os.Stat(pf); !os.IsNotExist(err) {
		t.Fatal("Stop left the pidfile")
	}
	if err := Stop(pf, time.Second); err != nil {
		t.Fatalf("Stop is not idempotent: %v", err)
	}
}

func TestStartReportsFailure(t *testing.T) {
	dir := t.TempDir()
	if _, err := Start("", filepath.Join(dir, "x.pid"), nil, "false", "--detach"); err == nil {
		t.Fatal("Start of a failing program succeeded")
	}
}
