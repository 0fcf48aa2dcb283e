package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// cpioWriter writes a newc cpio archive, the format the kernel unpacks as
// initramfs. Parent folders are made on demand; nothing needs root.
type cpioWriter struct {
	w    io.Writer
	ino  uint32
	have map[string]bool
	err  error
}

func newCPIO(w io.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1, have: map[string]bool{}} }

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

func (c *cpioWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	if c.err != nil {
		return
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if c.have[name] {
		return
	}
	c.parents(name)
	c.have[name] = true
	c.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad(len(hdr) + len(name) + 1)
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) parents(name string) {
	dir := path.Dir(name)
	if dir == "." || dir == "/" || c.have[dir] {
		return
	}
	c.entry(dir, modeDir|0o755, 0, 0, nil)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) Dir(name string)                         { c.entry(name, modeDir|0o755, 0, 0, nil) }
func (c *cpioWriter) File(name string, perm uint32, b []byte) { c.entry(name, modeFile|perm, 0, 0, b) }
func (c *cpioWriter) Symlink(name, target string) {
	c.entry(name, modeLink|0o777, 0, 0, []byte(target))
}
func (c *cpioWriter) CharDev(name string, major, minor uint32) {
	c.entry(name, modeChr|0o600, major, minor, nil)
}

// HostFile copies a file of this machine into the archive at the same path.
func (c *cpioWriter) HostFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("adding %s to the initramfs: %w", src, err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	c.File(dst, uint32(st.Mode().Perm()), b)
	return nil
}

// Close writes the trailer.
func (c *cpioWriter) Close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

var lddRE = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// HostProgram copies a dynamically linked program of this machine with the
// shared libraries ldd names; the guest's user space is this machine's
// Debian, whatever kernel boots it.
func (c *cpioWriter) HostProgram(prog string) error {
	p, err := exec.LookPath(prog)
	if err != nil {
		return fmt.Errorf("%s is not installed here: run 'make deps': %w", prog, err)
	}
	if err := c.HostFile(p, "/usr/bin/"+filepath.Base(p)); err != nil {
		return err
	}
	out, err := exec.Command("ldd", p).Output()
	if err != nil { // static: nothing more to copy
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := lddRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if err := c.HostFile(m[1], m[1]); err != nil {
			return err
		}
	}
	return nil
}

// gzipFile creates path and returns a writer that compresses into it.
type gzFile struct {
	f *os.File
	z *gzip.Writer
}

func createGz(p string) (*gzFile, error) {
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	z, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	return &gzFile{f, z}, nil
}

func (g *gzFile) Write(b []byte) (int, error) { return g.z.Write(b) }

func (g *gzFile) Close() error {
	err := g.z.Close()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}
