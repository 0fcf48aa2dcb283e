// Package central runs a real OVN central: ovsdb-server for the Northbound and
// Southbound databases and ovn-northd, from the distribution's packages, on
// unix sockets inside one folder. Labs, tests and benchmarks all use it.
package central

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// Schema files as Debian's ovn-common ships them.
const (
	NBSchema = "/usr/share/ovn/ovn-nb.ovsschema"
	SBSchema = "/usr/share/ovn/ovn-sb.ovsschema"
)

// Central is a running (or attached) OVN central in Dir.
type Central struct {
	Dir string
}

// NBSocket and SBSocket are the unix sockets of the two databases.
func (c *Central) NBSocket() string { return filepath.Join(c.Dir, "nb.sock") }
func (c *Central) SBSocket() string { return filepath.Join(c.Dir, "sb.sock") }

// NBRemote and SBRemote are the databases' remotes in OVSDB syntax.
func (c *Central) NBRemote() string { return "unix:" + c.NBSocket() }
func (c *Central) SBRemote() string { return "unix:" + c.SBSocket() }

// Start creates the databases in dir (made if needed) and starts the two
// ovsdb-servers and ovn-northd. On error, whatever was started is stopped.
func Start(dir string) (c *Central, err error) {
	for _, p := range []string{"ovsdb-tool", "ovsdb-server", "ovn-northd", "ovn-nbctl", "ovn-sbctl"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("%s is not installed: run 'make deps'", p)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making central folder: %w", err)
	}
	c = &Central{Dir: dir}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	for _, db := range []struct{ name, schema string }{{"nb", NBSchema}, {"sb", SBSchema}} {
		file := filepath.Join(dir, db.name+".db")
		_ = os.Remove(file)
		if out, err := exec.Command("ovsdb-tool", "create", file, db.schema).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("creating %s database: %w: %s", db.name, err, out)
		}
		_, err := daemon.Start("", c.pidfile("ovsdb-"+db.name), c.env(),
			"ovsdb-server", file,
			"--remote=punix:"+filepath.Join(dir, db.name+".sock"),
			"--unixctl="+filepath.Join(dir, "ovsdb-"+db.name+".ctl"),
			"--pidfile="+c.pidfile("ovsdb-"+db.name),
			"--log-file="+filepath.Join(dir, "ovsdb-"+db.name+".log"),
			"--detach", "--no-chdir")
		if err != nil {
			return nil, fmt.Errorf("starting %s ovsdb-server: %w", db.name, err)
		}
	}
	_, err = daemon.Start("", c.pidfile("northd"), c.env(),
		"ovn-northd",
		"--ovnnb-db="+c.NBRemote(), "--ovnsb-db="+c.SBRemote(),
		"--unixctl="+filepath.Join(dir, "northd.ctl"),
		"--pidfile="+c.pidfile("northd"),
		"--log-file="+filepath.Join(dir, "northd.log"),
		"--detach", "--no-chdir")
	if err != nil {
		return nil, fmt.Errorf("starting ovn-northd: %w", err)
	}
	// northd fills NB_Global/SB_Global once both databases are reachable.
	if _, err := c.NBCtl("--wait=sb", "sync"); err != nil {
		return nil, fmt.Errorf("waiting for ovn-northd: %w", err)
	}
	return c, nil
}

// Attach returns the central that a previous Start left running in dir.
func Attach(dir string) *Central { return &Central{Dir: dir} }

// Running reports whether all three daemons are alive.
func (c *Central) Running() bool {
	for _, n := range []string{"ovsdb-nb", "ovsdb-sb", "northd"} {
		pid, err := daemon.Pid(c.pidfile(n))
		if err != nil || !daemon.Alive(pid) {
			return false
		}
	}
	return true
}

// Stop stops northd and the databases. It is idempotent.
func (c *Central) Stop() error {
	var errs []string
	for _, n := range []string{"northd", "ovsdb-nb", "ovsdb-sb"} {
		if err := daemon.Stop(c.pidfile(n), 5*time.Second); err != nil {
			errs = append(errs, fmt.Sprintf("stopping %s: %v", n, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// NBCtl runs ovn-nbctl against this central and returns its output.
func (c *Central) NBCtl(args ...string) (string, error) {
	return c.ctl("ovn-nbctl", c.NBRemote(), args)
}

// SBCtl runs ovn-sbctl against this central and returns its output.
func (c *Central) SBCtl(args ...string) (string, error) {
	return c.ctl("ovn-sbctl", c.SBRemote(), args)
}

func (c *Central) ctl(prog, remote string, args []string) (string, error) {
	argv := append([]string{"--db=" + remote, "--timeout=30"}, args...)
	cmd := exec.Command(prog, argv...)
	cmd.Env = append(os.Environ(), c.env()...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return string(out), fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

func (c *Central) pidfile(name string) string { return filepath.Join(c.Dir, name+".pid") }

// env keeps every OVS/OVN default file inside the central's folder, so
// several centrals (labs, parallel tests) never share a socket or lock.
func (c *Central) env() []string {
	return []string{"OVS_RUNDIR=" + c.Dir, "OVS_LOGDIR=" + c.Dir, "OVS_DBDIR=" + c.Dir,
		"OVN_RUNDIR=" + c.Dir, "OVN_LOGDIR=" + c.Dir, "OVN_DBDIR=" + c.Dir}
}
