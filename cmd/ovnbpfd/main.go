// Command ovnbpfd is the ovnbpf node daemon: it registers this host as an OVN
// chassis, binds its VIFs and programs the eBPF datapath from the Southbound
// DB. See docs/ovnbpfd.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ovnbpf/ovnbpf/controller"
	"github.com/ovnbpf/ovnbpf/loader"
)

type options struct {
	ovsdb         string
	configFile    string
	stateDir      string
	ctlSocket     string
	pidfile       string
	logFile       string
	logLevel      string
	logFormat     string
	detach        bool
	cleanupOnExit bool
	metrics       string
	ovsCompat     bool
	datapath      string
	netns         string
	pprof         string
	settings      map[string]*string
	lflowCapacity uint32
}

func parseFlags(args []string) (*options, map[string]string, error) {
	fs := flag.NewFlagSet("ovnbpfd", flag.ContinueOnError)
	o := &options{settings: map[string]*string{}}
	fs.StringVar(&o.ovsdb, "ovsdb", "unix:/var/run/openvswitch/db.sock",
		"local Open_vSwitch database (chassis external_ids and VIF Interfaces); \"\" for none")
	fs.StringVar(&o.configFile, "config", "/etc/ovnbpf/ovnbpfd.json",
		"JSON config file with the same keys as the external_ids (optional)")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/ovnbpf", "folder for host-id and ports.json (one per chassis)")
	fs.StringVar(&o.ctlSocket, "ctl-socket", "/var/run/ovnbpf/ovnbpfd.ctl", "control socket for ovnbpfctl")
	fs.StringVar(&o.pidfile, "pidfile", "", "write the daemon's pid here")
	fs.StringVar(&o.logFile, "log-file", "", "append logs here instead of stderr")
	fs.StringVar(&o.logLevel, "log-level", envOr("OVNBPFD_LOG_LEVEL", "info"), "debug, info, warn or error (default from $OVNBPFD_LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&o.detach, "detach", false, "run in the background (needs --pidfile)")
	fs.BoolVar(&o.cleanupOnExit, "cleanup-on-exit", false,
		"on exit remove this chassis from the Southbound DB and unpin the datapath (default: leave it forwarding)")
	fs.StringVar(&o.metrics, "metrics-address", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9476)")
	fs.StringVar(&o.pprof, "pprof", os.Getenv("OVNBPFD_PPROF"),
		"serve net/http/pprof on this address (e.g. 127.0.0.1:6060; default from $OVNBPFD_PPROF): profiling only")
	fs.BoolVar(&o.ovsCompat, "ovs-compat", false, "keep br-int in the local OVSDB as ovn-controller would")
	fs.StringVar(&o.netns, "netns", "",
		"run in this named network namespace (/run/netns/NAME), keeping the host's mounts and bpffs (unlike `ip netns exec`)")
	fs.Func("lflow-capacity", fmt.Sprintf("logical flows the datapath's maps are sized for (default %d; 8 classifier entries "+
		"and 2 op slots each): a change starts the maps afresh", loader.DefaultLflowCapacity), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < 1024 || n > 1<<24 {
			return fmt.Errorf("want a number of logical flows from 1024 to %d (e.g. 1048576 for ten times the 44k-lflow reference scale)", 1<<24)
		}
		o.lflowCapacity = uint32(n)
		return nil
	})
	fs.StringVar(&o.datapath, "datapath", "bpf",
		"bpf: load and program the eBPF datapath (needs root and bpffs); none: register and bind only (no port is ever reported up)")
	help := map[string]string{
		controller.KeySystemID:       "chassis name (external_ids:system-id)",
		controller.KeyHostname:       "chassis hostname (default: the host's)",
		controller.KeyRemote:         "Southbound remotes, comma-separated (tcp:IP:6642,...)",
		controller.KeyProbeInterval:  "Southbound inactivity probe in ms (0 disables)",
		controller.KeyEncapType:      "tunnel type (geneve only)",
		controller.KeyEncapIP:        "this chassis' underlay IPv4 address",
		controller.KeyBridge:         "integration bridge whose Interfaces are the VIFs",
		controller.KeyBridgeMappings: "physnet:bridge,... for localnet ports",
		controller.KeyMonitorAll:     "true: monitor the whole Southbound DB, not only local datapaths",
		controller.KeyCMSOptions:     "ovn-cms-options for the Chassis row",
	}
	for _, k := range controller.ConfigKeys {
		o.settings[k] = fs.String(k, "", help[k]+" (overrides external_ids and the config file)")
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if _, ok := o.settings[f.Name]; ok {
			set[f.Name] = f.Value.String()
		}
	})
	if o.detach && o.pidfile == "" {
		return nil, nil, errors.New("--detach needs --pidfile")
	}
	if o.datapath != "bpf" && o.datapath != "none" {
		return nil, nil, fmt.Errorf("--datapath=%q: use bpf or none", o.datapath)
	}
	return o, set, nil
}

func newLogger(o *options) (*slog.Logger, io.Closer, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, nil, fmt.Errorf("--log-level=%q: %w", o.logLevel, err)
	}
	var w io.Writer = os.Stderr
	var closer io.Closer = io.NopCloser(nil)
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("opening log file: %w", err)
		}
		w, closer = f, f
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), closer, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), closer, nil
	}
	return nil, nil, fmt.Errorf("--log-format=%q: use text or json", o.logFormat)
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ovnbpfd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o, set, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.netns != "" && os.Getenv(netnsEnv) == "" {
		return enterNetns(o.netns)
	}
	if o.detach && os.Getenv(detachedEnv) == "" {
		return detach(o)
	}
	gcPercent := debug.SetGCPercent(-1)
	if os.Getenv("GOGC") == "" {
		// A node agent should stay small: collect at 1.5x the live heap,
		// not 2x (the passes allocate little between recomputes).
		gcPercent = 50
	}
	debug.SetGCPercent(gcPercent)
	fullGC := fullApplyGC(gcPercent)
	log, closer, err := newLogger(o)
	if err != nil {
		return err
	}
	defer closer.Close()
	if o.pidfile != "" {
		if err := writePidfile(o.pidfile); err != nil {
			return err
		}
		defer os.Remove(o.pidfile)
	}
	if o.ovsCompat && o.ovsdb == "" {
		return errors.New("--ovs-compat needs a local OVSDB (--ovsdb)")
	}

	ctl, err := controller.New(controller.Options{OVSDB: o.ovsdb, ConfigFile: o.configFile, Flags: set,
		StateDir: o.stateDir, Log: log, OVSCompat: o.ovsCompat, FullApply: fullGC,
		NewDatapath: func(systemID string) (controller.Datapath, error) {
			if o.datapath == "none" {
				log.Warn("--datapath=none: ports are claimed but never reported up, nb_cfg is not acknowledged")
				return nil, nil
			}
			d, err := controller.NewBPFDatapath(systemID, o.lflowCapacity)
			if err != nil {
				return nil, fmt.Errorf("%w (run as root with bpffs at /sys/fs/bpf, or --datapath=none)", err)
			}
			if r := d.ReplacedMaps(); len(r) > 0 {
				log.Warn("pinned maps had another layout (an upgrade): all maps start empty until the first full pass", "maps", r)
			}
			log.Info("datapath loaded", "pins", d.PinDir())
			return d, nil
		}})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := ctl.ServeCtl(ctx, o.ctlSocket, log); err != nil {
		return err
	}
	if o.pprof != "" {
		if err := servePprof(ctx, o.pprof, log); err != nil {
			return err
		}
	}
	if o.metrics != "" {
		if err := serveMetrics(ctx, o.metrics, ctl, log); err != nil {
			return err
		}
	}
	log.Info("ovnbpfd starting", "ovsdb", o.ovsdb, "config", o.configFile, "state-dir", o.stateDir,
		"ctl-socket", o.ctlSocket, "flags", strings.Join(keys(set), ","))
	runErr := ctl.Run(ctx)
	stop()
	defer ctl.Close()
	if o.cleanupOnExit {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ctl.Cleanup(cctx); err != nil {
			log.Error("cleanup on exit", "err", err)
			return errors.Join(runErr, err)
		}
		log.Info("chassis removed from the Southbound DB (--cleanup-on-exit)")
	} else if runErr == nil {
		log.Info("exiting; the pinned datapath keeps forwarding")
	}
	return runErr
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// fullApplyGC returns the collector policy of full passes (a recompute,
// the first pass): they allocate a few times the live heap in one burst,
// most of it garbage at the end. Collecting it at the steady-state
// setting costs a collection per half live heap allocated; instead the
// pass runs at $OVNBPFD_FULL_GOGC (default 400: fewer collections) and
// one collection after it returns the garbage to the system, so the
// resident size after a recompute is the live heap, not its high-water
// mark. OVNBPFD_FULL_GOGC=off keeps the steady-state setting throughout.
func fullApplyGC(steady int) func(start bool) {
	v := envOr("OVNBPFD_FULL_GOGC", "400")
	if v == "off" {
		return nil
	}
	pct, err := strconv.Atoi(v)
	if err != nil || pct <= 0 {
		pct = 400
	}
	return func(start bool) {
		if start {
			debug.SetGCPercent(pct)
			return
		}
		debug.SetGCPercent(steady)
		debug.FreeOSMemory()
	}
}
