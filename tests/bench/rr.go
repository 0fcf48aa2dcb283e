package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"time"
)

// The request/response probes run inside the lab's namespaces as hidden
// subcommands of this binary (`ip netns exec NS bench rr-server ...`), so
// the benchmark needs no netperf.

// rrServer echoes one byte for each byte received, on every connection.
func rrServer(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("rr-server: %w", err)
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// rrResult is what rr-client prints as JSON.
type rrResult struct {
	RR    []float64 `json:"rr_us"`    // request/response round trips on one connection
	First []float64 `json:"first_us"` // connect + first round trip on fresh connections (new 5-tuples)
}

// rrClient measures n request/response round trips on one connection and
// the time to the first reply on m fresh connections.
func rrClient(addr string, n, m int) error {
	var res rrResult
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("rr-client: %w", err)
	}
	r := bufio.NewReader(c)
	b := []byte{1}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return err
		}
		if _, err := r.ReadByte(); err != nil {
			return err
		}
		res.RR = append(res.RR, float64(time.Since(t0).Microseconds()))
	}
	c.Close()
	for i := 0; i < m; i++ {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		if _, err := c.Write(b); err != nil {
			return err
		}
		if _, err := c.Read(b); err != nil {
			return err
		}
		res.First = append(res.First, float64(time.Since(t0).Microseconds()))
		c.Close()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// percentile of xs (unsorted), p in [0,100].
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}
