package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// kernelSummary condenses one matrix VM's records into a table row.
type kernelSummary struct {
	Kernel, Programs, Attach, Tests, Smoke string
	Time                                   time.Duration
	Problems                               []string
}

func summarize(r *Result) kernelSummary {
	s := kernelSummary{Kernel: r.VM.Kernel.Release, Time: r.Elapsed}
	loaded, total, maxInsns := 0, 0, uint32(0)
	passed, failed, skipped := 0, 0, 0
	attach := "-"
	smoke := "not run"
	for _, rec := range r.Records {
		switch {
		case rec.Program != nil:
			p := rec.Program
			if p.Name == "" { // an object-level problem
				s.Problems = append(s.Problems, "programs: "+p.Object+" "+p.Err)
				continue
			}
			total++
			if p.Err != "" {
				s.Problems = append(s.Problems, fmt.Sprintf("program %s/%s: %s", p.Object, p.Name, p.Err))
				continue
			}
			loaded++
			maxInsns = max(maxInsns, p.Insns)
		case rec.Attach != nil:
			a := rec.Attach
			if a.Err != "" {
				attach = "FAIL"
				s.Problems = append(s.Problems, "attach: "+a.Err)
			} else {
				attach = fmt.Sprintf("%s (%d)", a.Mechanism, a.Programs)
			}
		case rec.Test != nil:
			t := rec.Test
			passed += t.Passed
			failed += t.Failed
			skipped += t.Skipped
			if t.Failed > 0 {
				s.Problems = append(s.Problems, fmt.Sprintf("tests %s: failed %s", t.Package, strings.Join(t.Failures, " ")))
			}
			if t.Err != "" {
				failed++
				s.Problems = append(s.Problems, fmt.Sprintf("tests %s: %s", t.Package, t.Err))
			}
		case rec.Check != nil:
			c := rec.Check
			switch {
			case !c.Ran:
				smoke = "not run"
				s.Problems = append(s.Problems, c.Name+": "+c.Detail)
			case c.OK:
				smoke = "ok"
			default:
				smoke = "FAIL"
				s.Problems = append(s.Problems, c.Name+": "+c.Detail)
			}
		}
	}
	s.Programs = fmt.Sprintf("%d/%d", loaded, total)
	if loaded > 0 {
		s.Programs += fmt.Sprintf(" (max %d insns)", maxInsns)
	}
	s.Attach = attach
	s.Tests = fmt.Sprintf("%d/%d", passed, passed+failed)
	if skipped > 0 {
		// the guest runs the tests as root with bpffs: nothing there may skip
		s.Tests += fmt.Sprintf(" (%d skipped)", skipped)
		s.Problems = append(s.Problems, fmt.Sprintf("%d tests skipped in the guest", skipped))
	}
	s.Smoke = smoke
	if total == 0 && len(s.Problems) == 0 {
		s.Problems = append(s.Problems, "programs: none loaded")
	}
	if passed+failed == 0 {
		s.Problems = append(s.Problems, "tests: no test ran")
	}
	if r.Err != nil {
		s.Problems = append(s.Problems, r.Err.Error())
	}
	return s
}

// printTable writes the matrix and the cross-VM checks; it returns how many
// rows failed.
func printTable(w io.Writer, matrix, cross []*Result) int {
	fails := 0
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(matrix) > 0 {
		fmt.Fprintln(tw, "kernel\tprograms loaded\tattach\ttests passed\tforwarding smoke\ttime\tresult")
	}
	var notes []string
	for _, r := range matrix {
		s := summarize(r)
		result := "PASS"
		if len(s.Problems) > 0 {
			result = "FAIL"
			fails++
			for _, p := range s.Problems {
				notes = append(notes, s.Kernel+": "+p)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Kernel, s.Programs, s.Attach, s.Tests, s.Smoke,
			s.Time.Round(time.Second), result)
	}
	tw.Flush()
	if len(cross) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "multi-VM check\tresult\tdetail")
		for _, r := range cross {
			seen := 0
			for _, rec := range r.Records {
				c := rec.Check
				if c == nil {
					continue
				}
				seen++
				res := "PASS"
				switch {
				case !c.Ran:
					res = "NOT RUN"
					fails++
				case !c.OK:
					res = "FAIL"
					fails++
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, res, c.Detail)
			}
			if r.Err != nil || seen == 0 {
				fails++
				msg := "reported no check"
				if r.Err != nil {
					msg = r.Err.Error()
				}
				fmt.Fprintf(tw, "%s\tFAIL\t%s\n", r.VM.Name, msg)
			}
		}
		tw.Flush()
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	return fails
}

// printFailureLogs prints, from each VM's console, the output of the tests
// that failed there, so that CI's log explains a failure without -keep.
func printFailureLogs(w io.Writer, rs []*Result) {
	for _, r := range rs {
		failed := map[string]bool{}
		for _, rec := range r.Records {
			if rec.Test != nil {
				for _, f := range rec.Test.Failures {
					failed[f] = true
				}
			}
			if c := rec.Check; c != nil && c.Ran && !c.OK {
				failed["TestPrivilegedForwardSmoke"] = true
			}
		}
		if len(failed) == 0 {
			continue
		}
		b, err := os.ReadFile(r.VM.Console)
		if err != nil {
			continue
		}
		var cur string
		var block []string
		flush := func() {
			if failed[cur] && len(block) > 0 {
				if len(block) > 40 {
					block = append(block[:20], append([]string{"  | ..."}, block[len(block)-20:]...)...)
				}
				fmt.Fprintf(w, "\n%s: %s\n%s\n", r.VM.Kernel.Release, cur, strings.Join(block, "\n"))
			}
			block = nil
		}
		// The serial console ends lines with \r\n.
		for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n") {
			body, ok := strings.CutPrefix(line, "  | ")
			if !ok {
				continue
			}
			if name, ok := strings.CutPrefix(body, "=== RUN   "); ok && !strings.Contains(name, "/") {
				flush()
				cur = name
			}
			block = append(block, line)
		}
		flush()
	}
}

// printVerifierTable writes each program's verified instruction count per
// kernel: how close each kernel's verifier is to its limits, and where it
// refuses.
func printVerifierTable(w io.Writer, matrix []*Result) {
	type key struct{ obj, prog string }
	var order []key
	cells := map[key]map[string]string{}
	for _, r := range matrix {
		for _, rec := range r.Records {
			p := rec.Program
			if p == nil || p.Name == "" {
				continue
			}
			k := key{p.Object, p.Name}
			if cells[k] == nil {
				cells[k] = map[string]string{}
				order = append(order, k)
			}
			if p.Err != "" {
				cells[k][r.VM.Kernel.Release] = "REJECTED"
			} else {
				cells[k][r.VM.Kernel.Release] = fmt.Sprint(p.Insns)
			}
		}
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "verified insns\t")
	for _, r := range matrix {
		fmt.Fprintf(tw, "%s\t", r.VM.Kernel.Release)
	}
	fmt.Fprintln(tw)
	for _, k := range order {
		fmt.Fprintf(tw, "%s/%s\t", strings.TrimSuffix(k.obj, "_bpfel.o"), k.prog)
		for _, r := range matrix {
			c := cells[k][r.VM.Kernel.Release]
			if c == "" {
				c = "-"
			}
			fmt.Fprintf(tw, "%s\t", c)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
