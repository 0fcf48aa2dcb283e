package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/internal/central"
)

// crossCentral is the OVN central of the cross-VM Geneve check: real
// ovsdb-server and ovn-northd on the runner's host (unix sockets), with the
// Southbound database offered to the VMs on the cross network's bridge
// address through a TCP relay that lives in the runner's namespace.
type crossCentral struct {
	c     *central.Central
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// Workloads of the Geneve check: one logical switch, one port per VM, in
// addresses that exist only inside the VMs' namespaces.
var crossWorkloads = []struct{ lport, mac, addr string }{
	{"w0", "02:00:00:00:0c:00", "198.51.100.10/24"},
	{"w1", "02:00:00:00:0c:01", "198.51.100.11/24"},
}

func startCrossCentral(dir, ns string) (cc *crossCentral, err error) {
	c, err := central.Start(dir)
	if err != nil {
		return nil, err
	}
	cc = &crossCentral{c: c}
	defer func() {
		if err != nil {
			cc.Stop()
		}
	}()
	args := []string{"--wait=sb", "ls-add", "sw0"}
	for _, w := range crossWorkloads {
		ip, _, _ := strings.Cut(w.addr, "/")
		args = append(args, "--", "lsp-add", "sw0", w.lport, "--", "lsp-set-addresses", w.lport, w.mac+" "+ip)
	}
	if _, err := c.NBCtl(args...); err != nil {
		return nil, err
	}
	if cc.ln, err = listenIn(ns, "tcp", crossBridgeIP+":6642"); err != nil {
		return nil, err
	}
	sbPath := strings.TrimPrefix(c.SBRemote(), "unix:")
	cc.wg.Add(1)
	go func() {
		defer cc.wg.Done()
		for {
			conn, err := cc.ln.Accept()
			if err != nil {
				return
			}
			cc.wg.Add(1)
			go func() {
				defer cc.wg.Done()
				cc.relay(conn, sbPath)
			}()
		}
	}()
	return cc, nil
}

func (cc *crossCentral) relay(conn net.Conn, sbPath string) {
	up, err := net.Dial("unix", sbPath)
	if err != nil {
		conn.Close()
		return
	}
	cc.mu.Lock()
	cc.conns = append(cc.conns, conn, up)
	cc.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
	conn.Close()
	up.Close()
	<-done
}

// SB is the Southbound remote as the VMs see it.
func (cc *crossCentral) SB() string { return "tcp:" + crossBridgeIP + ":6642" }

// Stop closes the relay and its connections and stops the central.
func (cc *crossCentral) Stop() error {
	if cc.ln != nil {
		cc.ln.Close()
	}
	cc.mu.Lock()
	for _, c := range cc.conns {
		c.Close()
	}
	cc.mu.Unlock()
	cc.wg.Wait()
	return cc.c.Stop()
}

// listenIn opens a listening socket inside network namespace ns: the socket
// keeps its namespace after the thread returns to the runner's own.
func listenIn(ns, network, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread leaves the runner's namespace: lock it and never unlock,
		// so the runtime retires it instead of reusing it.
		runtime.LockOSThread()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- result{err: fmt.Errorf("opening namespace %s: %w", ns, err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering namespace %s: %w", ns, err)}
			return
		}
		ln, err := net.Listen(network, addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, errors.Join(errors.New("southbound relay"), r.err)
	}
	return r.ln, nil
}
