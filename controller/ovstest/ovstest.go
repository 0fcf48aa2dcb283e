// Package ovstest runs a real local Open_vSwitch database (ovsdb-server with
// the vswitch schema Debian ships) in a folder, without ovs-vswitchd: what a
// chassis running ovnbpf has. Tests and labs use it; ovs-vsctl drives it with
// --no-wait, since no ovs-vswitchd will ever bump cur_cfg.
package ovstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// Schema is the Open_vSwitch schema of Debian's openvswitch-common.
const Schema = "/usr/share/openvswitch/vswitch.ovsschema"

// DB is a running local OVSDB in Dir.
type DB struct {
	Dir string
}

// Socket is the database's unix socket; Remote the same in OVSDB syntax.
func (d *DB) Socket() string { return filepath.Join(d.Dir, "db.sock") }
func (d *DB) Remote() string { return "unix:" + d.Socket() }

func (d *DB) pidfile() string { return filepath.Join(d.Dir, "ovsdb-server.pid") }

// Start creates conf.db in dir, starts ovsdb-server on it and initialises the
// Open_vSwitch row. On error whatever was started is stopped.
func Start(dir string) (d *DB, err error) {
	for _, p := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vsctl"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("%s is not installed: run 'make deps'", p)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making ovsdb folder: %w", err)
	}
	d = &DB{Dir: dir}
	file := filepath.Join(dir, "conf.db")
	_ = os.Remove(file)
	if out, err := exec.Command("ovsdb-tool", "create", file, Schema).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("creating open_vswitch database: %w: %s", err, out)
	}
	defer func() {
		if err != nil {
			_ = d.Stop()
		}
	}()
	if _, err := daemon.Start("", d.pidfile(), d.env(), "ovsdb-server", file,
		"--remote=punix:"+d.Socket(),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--pidfile="+d.pidfile(),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"),
		"--detach", "--no-chdir"); err != nil {
		return nil, fmt.Errorf("starting ovsdb-server: %w", err)
	}
	if _, err := d.VSCtl("init"); err != nil {
		return nil, err
	}
	return d, nil
}

// Stop stops the ovsdb-server (by its pidfile). It is idempotent.
func (d *DB) Stop() error {
	if err := daemon.Stop(d.pidfile(), 5*time.Second); err != nil {
		return fmt.Errorf("stopping ovsdb-server: %w", err)
	}
	return nil
}

// VSCtl runs ovs-vsctl --no-wait against this database.
func (d *DB) VSCtl(args ...string) (string, error) {
	argv := append([]string{"--db=" + d.Remote(), "--no-wait", "--timeout=30"}, args...)
	cmd := exec.Command("ovs-vsctl", argv...)
	cmd.Env = append(os.Environ(), d.env()...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return string(out), fmt.Errorf("ovs-vsctl %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

// env keeps OVS's default files inside Dir.
func (d *DB) env() []string {
	return []string{"OVS_RUNDIR=" + d.Dir, "OVS_LOGDIR=" + d.Dir, "OVS_DBDIR=" + d.Dir}
}
