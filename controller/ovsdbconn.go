package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
)

// TxnTimeout bounds every transaction: a database that does not answer must
// not wedge the controller loop; the next reconcile retries.
const TxnTimeout = 10 * time.Second

// DumpTimeout bounds a monitor's initial contents (and their delivery to
// the mirror). It is long: at ten times the reference scale, on a 2-core
// host under load, the dump of every local datapath took more than 3
// minutes; one that times out is downloaded again from the start.
const DumpTimeout = 10 * time.Minute

// errReconnecting fails a pass while libovsdb reconnects to the Southbound.
var errReconnecting = errors.New("southbound is not connected (reconnecting)")

// dialOptions describe one OVSDB connection.
type dialOptions struct {
	name    string // for logs: "southbound", "local ovsdb"
	remotes []string
	// probe is the inactivity probe; 0 disables it (ovn-remote-probe-interval=0).
	probe time.Duration
	// connectTimeout bounds the first connection attempt.
	connectTimeout time.Duration
	log            *slog.Logger
	// monitor builds the monitor request; it runs once the client is made.
	monitor func(client.Client) *client.Monitor
	// changed is called (without blocking for long) on every cache change.
	changed func()
	// mirror, if set, is filled from the cache's events; dial returns once
	// it holds the monitor's initial contents.
	mirror *sbMirror
}

// reconnectBackoff retries forever (libovsdb panics when a finite backoff
// runs out), from 100ms up to 8s like ovsdb's own reconnect logic.
func reconnectBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 8 * time.Second
	b.MaxElapsedTime = 0
	return b
}

// dial connects, starts the monitor and waits for its initial contents. The
// client reconnects by itself (every remote in turn, with backoff) and resumes
// its monitor with monitor_cond_since, so a reconnect does not re-download a
// database that did not change.
func dial(ctx context.Context, dbModel model.ClientDBModel, o dialOptions) (client.Client, error) {
	lg := newLogr(o.log, o.name)
	opts := []client.Option{client.WithLogger(&lg)}
	for _, r := range o.remotes {
		opts = append(opts, client.WithEndpoint(r))
	}
	// Each reconnect attempt (connect, schema, monitor resumption) gets
	// this long; libovsdb tries the remotes in turn within it. The
	// resumption of a standalone Southbound (no transaction history) is a
	// full dump: it gets the first dump's bound, or at ten times the
	// reference scale on a busy host every attempt timed out and the next
	// downloaded the world again. The price: a remote that accepts and
	// then says nothing holds an attempt that long before the next remote.
	// Inactivity probes are ours (probe below): libovsdb v0.7.0's own can
	// deadlock a transaction that completes as its prober exits (an
	// unbuffered send on trafficSeen with the RPC lock held).
	attempt := max(DumpTimeout, 2*o.probe)
	opts = append(opts, client.WithReconnect(attempt, reconnectBackoff()))
	cl, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, fmt.Errorf("making %s client: %w", o.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	if err := cl.Connect(cctx); err != nil {
		return nil, fmt.Errorf("connecting to %s %v: %w", o.name, o.remotes, err)
	}
	act := &activity{}
	act.seen()
	notify := func(string) {
		act.seen()
		if o.changed != nil {
			o.changed()
		}
	}
	cl.Cache().AddEventHandler(&eventFuncs{notify})
	if o.mirror != nil {
		cl.Cache().AddEventHandler(o.mirror)
	}
	// The first dump of a large Southbound (100k logical flows) on a busy
	// host takes longer than a connection: it gets its own bound, or it
	// would time out and be downloaded again forever.
	dctx, dcancel := context.WithTimeout(ctx, max(o.connectTimeout, DumpTimeout))
	defer dcancel()
	mon := o.monitor(cl)
	if _, err := cl.Monitor(dctx, mon); err != nil {
		cl.Close()
		return nil, fmt.Errorf("monitoring %s: %w", o.name, err)
	}
	if o.mirror != nil {
		var tables []string
		for _, t := range mon.Tables {
			tables = append(tables, t.Table)
		}
		if err := o.mirror.waitSynced(dctx, cl, tables); err != nil {
			cl.Close()
			return nil, fmt.Errorf("monitoring %s: %w", o.name, err)
		}
	}
	pctx, stop := context.WithCancel(context.Background())
	if o.probe > 0 {
		go probe(pctx, cl, o.probe, act, o.log.With("db", o.name))
	}
	return &conn{Client: cl, stopProbe: stop, act: act}, nil
}

// conn is a client whose Close also stops its prober.
type conn struct {
	client.Client
	stopProbe context.CancelFunc
	act       *activity
}

// holdProbe stops (true) or resumes (false) the inactivity probe.
func (c *conn) holdProbe(hold bool) { c.act.held.Store(hold) }

func (c *conn) Close() {
	c.stopProbe()
	c.Client.Close()
}

// activity records when the connection last brought an update, and
// whether the probe is held.
type activity struct {
	last atomic.Int64
	held atomic.Bool
}

func (a *activity) seen()                         { a.last.Store(time.Now().UnixNano()) }
func (a *activity) since(t time.Time) bool        { return a.last.Load() >= t.UnixNano() }
func (a *activity) quietFor(d time.Duration) bool { return !a.since(time.Now().Add(-d)) }

// probe sends an echo after an interval without updates; one not answered
// within the next interval, while no update arrived either, drops the
// connection, and libovsdb reconnects (next remote, backoff) and resumes
// the monitor. Updates count as activity, as OVS counts received bytes: a
// server streaming a large change, or a client busy applying one, answers
// the echo late but is alive (at ten times the reference scale, a
// disconnect there meant a new full dump, and the next one timed out too).
func probe(ctx context.Context, cl client.Client, interval time.Duration, act *activity, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !isConnected(cl) || act.held.Load() || !act.quietFor(interval) {
			continue
		}
		sent := time.Now()
		ectx, cancel := context.WithTimeout(ctx, interval)
		err := cl.Echo(ectx)
		cancel()
		if err != nil && ctx.Err() == nil && isConnected(cl) && !act.since(sent) {
			log.Warn("no answer to the inactivity probe: reconnecting", "probe", interval, "err", err)
			cl.Disconnect()
		}
	}
}

type eventFuncs struct{ f func(table string) }

func (e *eventFuncs) OnAdd(table string, _ model.Model)       { e.f(table) }
func (e *eventFuncs) OnUpdate(table string, _, _ model.Model) { e.f(table) }
func (e *eventFuncs) OnDelete(table string, _ model.Model)    { e.f(table) }

// transact runs ops in one transaction bounded by TxnTimeout and turns any
// operation error into a Go error naming what.
func transact(ctx context.Context, cl client.Client, what string, ops ...ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, TxnTimeout)
	defer cancel()
	res, err := cl.Transact(ctx, ops...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return res, nil
}

// isConnected: libovsdb's Connected() stays true while it reconnects after
// the server closed the connection; the RPC client (CurrentEndpoint) does not.
func isConnected(cl client.Client) bool {
	return cl.Connected() && cl.CurrentEndpoint() != ""
}

// connectedSoon is isConnected for status readers that must not wait: while
// libovsdb reconnects it holds its lock for the whole attempt, and a call
// that does not answer at once means "not connected (reconnecting)".
func connectedSoon(cl client.Client) bool {
	ch := make(chan bool, 1)
	go func() { ch <- isConnected(cl) }()
	select {
	case v := <-ch:
		return v
	case <-time.After(300 * time.Millisecond):
		return false
	}
}
