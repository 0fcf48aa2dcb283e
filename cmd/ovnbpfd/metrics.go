package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ovnbpf/ovnbpf/controller"
)

// serveMetrics exposes the controller's state for Prometheus on addr.
func serveMetrics(ctx context.Context, addr string, ctl *controller.Controller, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, f func(controller.Status) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ovnbpf", Name: name, Help: help},
			func() float64 { return f(ctl.Status()) }))
	}
	counter := func(name, help string, f func(controller.Status) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "ovnbpf", Name: name, Help: help},
			func() float64 { return f(ctl.Status()) }))
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge("southbound_connected", "1 while the Southbound DB is connected.", func(s controller.Status) float64 { return b(s.SBConnected) })
	gauge("ovsdb_connected", "1 while the local OVSDB is connected.", func(s controller.Status) float64 { return b(s.OVSDBConnected) })
	gauge("sb_nb_cfg", "SB_Global.nb_cfg last seen.", func(s controller.Status) float64 { return float64(s.NbCfg) })
	gauge("acked_nb_cfg", "nb_cfg last acknowledged in Chassis_Private.", func(s controller.Status) float64 { return float64(s.AckedNbCfg) })
	gauge("local_datapaths", "Datapaths this chassis runs.", func(s controller.Status) float64 { return float64(s.LocalDatapaths) })
	gauge("ports", "Logical ports relevant to this chassis.", func(s controller.Status) float64 { return float64(len(s.Ports)) })
	gauge("skipped_lflows", "Logical flows (and port security entries) the datapath could not install.", func(s controller.Status) float64 { return float64(s.Skipped) })
	counter("claims_total", "Port_Binding claims written.", func(s controller.Status) float64 { return float64(s.Claims) })
	counter("releases_total", "Port_Binding releases written.", func(s controller.Status) float64 { return float64(s.Releases) })
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))

	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return nil
}
