// Package vmrec is the record format between the VM runner (tests/vm) and its
// guest agent (tests/vm/guest): the agent prints one record per line on the
// VM's serial console, after a marker that kernel messages never carry.
package vmrec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Marker starts every record line on the console.
const Marker = "@@ovnbpf-vm "

// Program is one datapath program as the guest's kernel verified it.
type Program struct {
	Object string `json:"object"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Insns  uint32 `json:"insns"` // verified instructions (kernel >= 5.16)
	Err    string `json:"err,omitempty"`
}

// Attach says how the datapath's TC programs attached on this kernel.
type Attach struct {
	Mechanism string `json:"mechanism"` // "tcx" or "tc-clsact"
	Programs  int    `json:"programs"`
	Err       string `json:"err,omitempty"`
}

// TestRun is one package's test binary run inside the guest.
type TestRun struct {
	Package  string   `json:"package"`
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Skipped  int      `json:"skipped"`
	Failures []string `json:"failures,omitempty"`
	Err      string   `json:"err,omitempty"` // the binary itself failed to run or crashed
}

// Check is a named pass/fail check (forwarding smoke test, cross-VM ping, Geneve).
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Ran    bool   `json:"ran"` // false: could not run yet; Detail says why
	Detail string `json:"detail,omitempty"`
}

// Record is one line of the protocol: exactly one field besides Kernel is set.
type Record struct {
	Kernel  string   `json:"kernel"`
	Program *Program `json:"program,omitempty"`
	Attach  *Attach  `json:"attach,omitempty"`
	Test    *TestRun `json:"test,omitempty"`
	Check   *Check   `json:"check,omitempty"`
	Done    bool     `json:"done,omitempty"` // the agent finished; the VM powers off next
}

// Line encodes r as a console line (with its trailing newline).
func (r Record) Line() string {
	b, err := json.Marshal(r)
	if err != nil { // only unencodable values fail, and Record has none
		panic(err)
	}
	return "\n" + Marker + string(b) + "\n"
}

// Parse finds a record in one console line. Kernel messages may precede the
// marker on the same line; ok is false when the line holds no record.
func Parse(line string) (r Record, ok bool, err error) {
	i := strings.Index(line, Marker)
	if i < 0 {
		return r, false, nil
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(line[i+len(Marker):])), &r); err != nil {
		return r, true, fmt.Errorf("corrupt record %q: %w", line, err)
	}
	return r, true, nil
}
