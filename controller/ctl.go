package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/ovnbpf/ovnbpf/maps"
)

// The control socket: a unix socket where ovnbpfctl sends one JSON request
// per connection and reads one JSON reply.

// CtlRequest is one command.
type CtlRequest struct {
	Cmd  string   `json:"cmd"`
	Args []string `json:"args,omitempty"`
}

// CtlReply is the answer: Error set on failure, else Result.
type CtlReply struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// ConnectionStatus is `ovnbpfctl connection-status`.
type ConnectionStatus struct {
	Southbound     string   `json:"southbound"` // "connected" or "not connected"
	Endpoint       string   `json:"endpoint"`
	Remotes        []string `json:"remotes"`
	OVSDB          string   `json:"ovsdb"`
	OVSDBConnected bool     `json:"ovsdb_connected"`
}

// CtlCommands are the commands the daemon answers.
var CtlCommands = []string{"status", "ports", "recompute", "connection-status", "port-bind", "port-unbind", "dump-maps"}

// recomputeTimeout bounds how long `recompute` waits for the full pass
// (minutes at ten times the reference scale on a small machine).
const recomputeTimeout = 10 * time.Minute

// ctlTimeout is the deadline of one request: a recompute waits for the full
// pass, a dump reads every map; the rest answer at once.
func ctlTimeout(cmd string) time.Duration {
	if cmd == "recompute" || cmd == "dump-maps" {
		return recomputeTimeout + 30*time.Second
	}
	return 30 * time.Second
}

// handle runs one request.
func (c *Controller) handle(req CtlRequest) (any, error) {
	switch req.Cmd {
	case "status":
		return c.Status(), nil
	case "ports":
		return c.Status().Ports, nil
	case "recompute":
		done := c.Recompute
		if len(req.Args) == 1 && req.Args[0] == "resync" {
			done = c.RecomputeResync
		} else if len(req.Args) > 0 {
			return nil, errors.New("usage: recompute [resync]")
		}
		select {
		case <-done():
			return "recomputed", nil
		case <-time.After(recomputeTimeout):
			return nil, fmt.Errorf("recompute requested, not applied after %v (see ovnbpfctl status)", recomputeTimeout)
		}
	case "dump-maps":
		c.mu.Lock()
		dp := c.opts.Datapath
		c.mu.Unlock()
		d, ok := dp.(interface{ DumpMaps() (*maps.Dump, error) })
		if !ok {
			return nil, errors.New("no BPF datapath (--datapath=bpf) to dump")
		}
		return d.DumpMaps()
	case "connection-status":
		s := c.Status()
		cs := ConnectionStatus{Southbound: "not connected", Endpoint: s.SBEndpoint, Remotes: s.Remotes,
			OVSDB: s.OVSDB, OVSDBConnected: s.OVSDBConnected}
		if s.SBConnected {
			cs.Southbound = "connected"
		}
		return cs, nil
	case "port-bind":
		if len(req.Args) != 2 {
			return nil, errors.New("usage: port bind IFNAME LOGICAL_PORT")
		}
		if err := c.BindPort(req.Args[0], req.Args[1]); err != nil {
			return nil, err
		}
		return fmt.Sprintf("%s bound to %s", req.Args[0], req.Args[1]), nil
	case "port-unbind":
		if len(req.Args) != 1 {
			return nil, errors.New("usage: port unbind IFNAME")
		}
		if err := c.UnbindPort(req.Args[0]); err != nil {
			return nil, err
		}
		return req.Args[0] + " unbound", nil
	}
	return nil, fmt.Errorf("unknown command %q (known: %v)", req.Cmd, CtlCommands)
}

// ServeCtl listens on path until ctx ends. A stale socket file from a
// previous run is replaced; a live one (another daemon answering) is not.
func (c *Controller) ServeCtl(ctx context.Context, path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("making control socket folder: %w", err)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("control socket %s is in use: another ovnbpfd is running", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listening on control socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
		os.Remove(path)
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go c.serveConn(conn, log)
		}
	}()
	return nil
}

func (c *Controller) serveConn(conn net.Conn, log *slog.Logger) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req CtlRequest
	var reply CtlReply
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		reply.Error = "bad request: " + err.Error()
	} else {
		_ = conn.SetDeadline(time.Now().Add(ctlTimeout(req.Cmd)))
		if res, err := c.handle(req); err != nil {
			reply.Error = err.Error()
		} else if b, err := json.Marshal(res); err != nil {
			reply.Error = err.Error()
		} else {
			reply.Result = b
		}
	}
	if err := json.NewEncoder(conn).Encode(reply); err != nil {
		log.Debug("control socket reply", "err", err)
	}
}

// CtlCall sends one request to the daemon at path and decodes its result
// into out (if not nil).
func CtlCall(path string, req CtlRequest, out any) error {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to ovnbpfd at %s (is it running? --ctl-socket): %w", path, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ctlTimeout(req.Cmd)))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return fmt.Errorf("sending %s: %w", req.Cmd, err)
	}
	var reply CtlReply
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return fmt.Errorf("reading reply to %s: %w", req.Cmd, err)
	}
	if reply.Error != "" {
		return errors.New(reply.Error)
	}
	if out != nil && len(reply.Result) > 0 {
		if err := json.Unmarshal(reply.Result, out); err != nil {
			return fmt.Errorf("decoding reply to %s: %w", req.Cmd, err)
		}
	}
	return nil
}
