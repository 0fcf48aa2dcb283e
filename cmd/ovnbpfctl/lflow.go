package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

func init() { commands["lflow"] = func(args []string) error { return lflowCmd(args, os.Stdout) } }

const lflowUsage = "usage: ovnbpfctl lflow compile (--from FILE|DIR | --sb REMOTE) [--chassis NAME] [--json] [--dump]"

// lflowCmd: ovnbpfctl lflow compile (--from FILE|DIR | --sb REMOTE) [--json] [--chassis NAME] [--dump]
func lflowCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "compile" {
		return errors.New(lflowUsage)
	}
	fs := flag.NewFlagSet("lflow compile", flag.ContinueOnError)
	from := fs.String("from", "", "snapshot: a JSON object {\"Logical_Flow\": <ovn-sbctl --format=json list Logical_Flow>, ...}, or a folder of <Table>.json files")
	sb := fs.String("sb", "", "read a live Southbound instead (an ovsdb remote: unix:PATH, tcp:IP:PORT, ssl:IP:PORT) with ovn-sbctl")
	timeout := fs.Duration("timeout", 60*time.Second, "give up reading --sb after this long")
	chassis := fs.String("chassis", "", "compile as this chassis (a Chassis name): its Chassis_Template_Var values for ^VARs, is_chassis_resident, its ports' port security (default: no chassis)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dump := fs.Bool("dump", false, "print every compiled rule")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if (*from == "") == (*sb == "") {
		return errors.New("lflow compile: give one of --from and --sb\n" + lflowUsage)
	}
	start := time.Now()
	var data []byte
	var err error
	if *sb != "" {
		data, err = readSB(*sb, *timeout)
	} else {
		data, err = readSnapshot(*from)
		start = time.Now() // reading a file is not part of the figure
	}
	if err != nil {
		return err
	}
	snap, err := sbjson.Parse(data)
	if err != nil {
		return err
	}
	parsed := time.Now()
	if *chassis != "" {
		if err := snap.CheckChassis(*chassis); err != nil {
			return fmt.Errorf("lflow compile: --chassis %w; or leave --chassis out to compile for no chassis", err)
		}
	}
	snap.Chassis = *chassis
	comp, rep := sbjson.Compile(snap)
	rep.Seconds = time.Since(parsed).Seconds()
	rep.ReadSeconds = parsed.Sub(start).Seconds()
	if *dump {
		if _, err := io.WriteString(stdout, pipeline.Render(comp, pipeline.RenderOptions{PortName: snap.PortName})); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	text := rep.String()
	if *chassis == "" && rep.Compiled < rep.Lflows && len(snap.ChassisNames()) > 0 {
		text += fmt.Sprintf("note:            compiled for no chassis, so template variables (^NAME) are undefined and is_chassis_resident() is false; --chassis NAME compiles as that chassis (registered: %s)\n",
			strings.Join(snap.ChassisNames(), ", "))
	}
	_, err = io.WriteString(stdout, text)
	return err
}

// requiredTables are the tables a snapshot must have (sbjson.Parse).
var requiredTables = []string{"Logical_Flow", "Datapath_Binding"}

var unknownTable = regexp.MustCompile(`unknown table "([A-Za-z_]+)"`)

// readSB reads the tables sbjson needs from a live Southbound with ONE
// ovn-sbctl call (`list A -- list B ...` runs in one transaction, so the
// tables are consistent with each other) and assembles them into a
// snapshot, the format --from reads. An optional table the server's schema
// lacks (an older OVN) is left out.
func readSB(remote string, timeout time.Duration) ([]byte, error) {
	tables := slices.Clone(sbjson.Tables)
	for {
		args := []string{"--db=" + remote, "--timeout=" + strconv.Itoa(max(1, int(timeout.Seconds()))),
			"--format=json"}
		for i, t := range tables {
			if i > 0 {
				args = append(args, "--")
			}
			args = append(args, "list", t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		cmd := exec.CommandContext(ctx, "ovn-sbctl", args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if m := unknownTable.FindStringSubmatch(msg); m != nil && slices.Contains(tables, m[1]) &&
				!slices.Contains(requiredTables, m[1]) {
				tables = slices.DeleteFunc(tables, func(t string) bool { return t == m[1] })
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("reading southbound %s: ovn-sbctl timed out after %s", remote, timeout)
			}
			return nil, fmt.Errorf("reading southbound %s: ovn-sbctl: %w: %s", remote, err, msg)
		}
		return assembleSnapshot(tables, stdout.Bytes())
	}
}

// assembleSnapshot pairs the JSON documents ovn-sbctl printed, one a line
// and one per listed table, with the table names.
func assembleSnapshot(tables []string, out []byte) ([]byte, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) != len(tables) {
		return nil, fmt.Errorf("reading southbound: ovn-sbctl printed %d tables, %d asked for", len(lines), len(tables))
	}
	var buf bytes.Buffer
	buf.Grow(len(out) + 32*len(tables))
	buf.WriteByte('{')
	for i, t := range tables {
		line := bytes.TrimSpace(lines[i])
		if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
			return nil, fmt.Errorf("reading southbound: ovn-sbctl output for %s is not a JSON object", t)
		}
		if i > 0 {
			buf.WriteString(",\n")
		}
		buf.WriteString(strconv.Quote(t))
		buf.WriteByte(':')
		buf.Write(line)
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

// readSnapshot reads a snapshot file, or assembles one from a folder holding
// one `ovn-sbctl --format=json list <Table>` output per <Table>.json.
func readSnapshot(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading snapshot: %w", err)
		}
		return data, nil
	}
	obj := map[string]json.RawMessage{}
	for _, t := range sbjson.Tables {
		data, err := os.ReadFile(filepath.Join(path, t+".json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading snapshot: %w", err)
		}
		obj[t] = json.RawMessage(strings.TrimSpace(string(data)))
	}
	return json.Marshal(obj)
}
