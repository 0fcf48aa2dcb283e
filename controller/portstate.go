package controller

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/google/uuid"
)

// ManualBindings are the VIFs bound with `ovnbpfctl port bind IFNAME LPORT` on
// hosts without a local OVSDB, persisted as JSON so a restart keeps them.
type ManualBindings struct {
	mu    sync.Mutex
	path  string
	ports map[string]string // ifname -> logical port
}

type portStateFile struct {
	Ports map[string]string `json:"ports"`
}

// LoadManualBindings reads path (a missing file is an empty set).
func LoadManualBindings(path string) (*ManualBindings, error) {
	m := &ManualBindings{path: path, ports: map[string]string{}}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading port bindings: %w", err)
	}
	var f portStateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parsing port bindings %s: %w", path, err)
	}
	for k, v := range f.Ports {
		m.ports[k] = v
	}
	return m, nil
}

// Bind attaches ifname to lport. An interface holds one logical port; a
// logical port bound to two interfaces is refused.
func (m *ManualBindings) Bind(ifname, lport string) error {
	if ifname == "" || lport == "" {
		return fmt.Errorf("port bind needs an interface name and a logical port")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, p := range m.ports {
		if p == lport && i != ifname {
			return fmt.Errorf("logical port %s is already bound to %s: unbind it first", lport, i)
		}
	}
	old, had := m.ports[ifname]
	m.ports[ifname] = lport
	if err := m.save(); err != nil {
		if had {
			m.ports[ifname] = old
		} else {
			delete(m.ports, ifname)
		}
		return err
	}
	return nil
}

// Unbind detaches ifname; unknown names are an error so typos show.
func (m *ManualBindings) Unbind(ifname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.ports[ifname]
	if !ok {
		return fmt.Errorf("interface %s is not bound", ifname)
	}
	delete(m.ports, ifname)
	if err := m.save(); err != nil {
		m.ports[ifname] = old
		return err
	}
	return nil
}

// VIFs returns the bindings as VIFs, sorted by interface name.
func (m *ManualBindings) VIFs() []VIF {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []VIF
	for i, p := range m.ports {
		out = append(out, VIF{IfaceID: p, Ifname: i})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Ifname < out[b].Ifname })
	return out
}

// save writes atomically: a crash mid-write leaves the previous file.
func (m *ManualBindings) save() error {
	if err := os.MkdirAll(filepath.Dir(m.path), 0o755); err != nil {
		return fmt.Errorf("making state folder: %w", err)
	}
	b, err := json.MarshalIndent(portStateFile{Ports: m.ports}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding port bindings: %w", err)
	}
	tmp := m.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing port bindings: %w", err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return fmt.Errorf("writing port bindings: %w", err)
	}
	return nil
}

// loadHostID returns this host's ovnbpf identity from dir/host-id, creating
// it on first use. It tells this daemon's Chassis row from one another host
// registered under the same system-id.
func loadHostID(dir string) (string, error) {
	path := filepath.Join(dir, "host-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := string(b); len(id) >= 36 {
			return id[:36], nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("making state folder: %w", err)
	}
	id := uuid.NewString()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing host id: %w", err)
	}
	return id, nil
}
