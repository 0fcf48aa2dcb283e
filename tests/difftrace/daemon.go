package difftrace

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// Oracle is ovn-trace running as a daemon (ovn-trace --detach) on one
// Southbound DB: it reads the DB once and answers each trace over its
// unixctl socket (JSON-RPC), about 0.5 ms a packet instead of a process and
// a DB read per packet.
type Oracle struct {
	pidfile string
	conn    net.Conn
	dec     *json.Decoder
	id      int
}

// StartOracle starts ovn-trace in daemon mode, its files in dir.
func StartOracle(dir, sb string) (*Oracle, error) {
	pidfile := filepath.Join(dir, "ovn-trace.pid")
	ctl := filepath.Join(dir, "ovn-trace.ctl")
	if _, err := daemon.Start("", pidfile, nil, "ovn-trace", "--db="+sb, "--detach", "--pidfile="+pidfile,
		"--unixctl="+ctl, "--log-file="+filepath.Join(dir, "ovn-trace.log")); err != nil {
		return nil, fmt.Errorf("starting ovn-trace daemon: %w", err)
	}
	o := &Oracle{pidfile: pidfile}
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if o.conn, err = net.Dial("unix", ctl); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = o.Close()
			return nil, fmt.Errorf("connecting to ovn-trace: %w", err)
		}
	}
	o.dec = json.NewDecoder(o.conn)
	return o, nil
}

// Close stops the daemon (by its pid).
func (o *Oracle) Close() error {
	if o.conn != nil {
		o.conn.Close()
	}
	return daemon.Stop(o.pidfile, 5*time.Second)
}

// Run runs one trace command with options (e.g. --minimal, --summary) and
// returns ovn-trace's text.
func (o *Oracle) Run(option, datapath, microflow string) (string, error) {
	o.id++
	req := map[string]any{"method": "trace", "params": []string{option, datapath, microflow}, "id": o.id}
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if _, err := o.conn.Write(b); err != nil {
		return "", fmt.Errorf("ovn-trace request: %w", err)
	}
	var resp struct {
		ID     int     `json:"id"`
		Result *string `json:"result"`
		Error  any     `json:"error"`
	}
	if err := o.dec.Decode(&resp); err != nil {
		return "", fmt.Errorf("ovn-trace reply: %w", err)
	}
	if resp.Error != nil || resp.Result == nil {
		return "", fmt.Errorf("ovn-trace %s %q: %v", datapath, microflow, resp.Error)
	}
	if resp.ID != o.id {
		return "", fmt.Errorf("ovn-trace reply to request %d, want %d", resp.ID, o.id)
	}
	return *resp.Result, nil
}

// Trace is the --minimal verdict of one microflow.
func (o *Oracle) Trace(datapath, microflow string) (Verdict, error) {
	out, err := o.Run("--minimal", datapath, microflow)
	if err != nil {
		return Verdict{}, err
	}
	v, err := ParseMinimal(out)
	if err != nil {
		return v, fmt.Errorf("%w (ovn-trace said %q)", err, out)
	}
	return v, nil
}
