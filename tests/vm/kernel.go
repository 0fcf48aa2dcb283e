package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Kernel is one kernel of the matrix, unpacked from Debian's package.
type Kernel struct {
	Asked   string // what the matrix names: a meta-package or a concrete package
	Package string // the concrete linux-image package
	Deb     string // the cached .deb
	Root    string // where the package is unpacked (cached)
	Release string // the folder under /lib/modules, as `uname -r` prints it
	Vmlinuz string
}

var concreteRE = regexp.MustCompile(`^linux-image-[0-9]+\.[0-9]+[.-][0-9]`)

// resolvePackage turns a meta-package (linux-image-cloud-amd64) into the
// concrete kernel package it depends on today. Offline, the last resolution
// recorded in the cache stands.
func resolvePackage(cache, asked string) (string, error) {
	if concreteRE.MatchString(asked) {
		return asked, nil
	}
	memo := filepath.Join(cache, "resolved", asked)
	out, err := exec.Command("apt-cache", "show", "--no-all-versions", asked).Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			deps, ok := strings.CutPrefix(line, "Depends:")
			if !ok {
				continue
			}
			for _, d := range strings.Split(deps, ",") {
				name := strings.Fields(strings.TrimSpace(d))
				if len(name) > 0 && concreteRE.MatchString(name[0]) {
					_ = os.MkdirAll(filepath.Dir(memo), 0o755)
					_ = os.WriteFile(memo, []byte(name[0]), 0o644)
					return name[0], nil
				}
			}
		}
		return "", fmt.Errorf("%s depends on no linux-image package (apt-cache show %s)", asked, asked)
	}
	if b, merr := os.ReadFile(memo); merr == nil {
		return strings.TrimSpace(string(b)), nil
	}
	return "", fmt.Errorf("resolving %s (apt-cache show; is it in the apt sources? see apt-cache search linux-image): %w", asked, err)
}

// fetchKernel downloads (once) and unpacks (once) a kernel package into the cache.
func fetchKernel(cache, asked string, logf func(string, ...any)) (*Kernel, error) {
	pkg, err := resolvePackage(cache, asked)
	if err != nil {
		return nil, err
	}
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, fmt.Errorf("making cache folder: %w", err)
	}
	deb, err := newestDeb(debs, pkg)
	if err != nil {
		return nil, err
	}
	if deb == "" {
		logf("downloading %s into %s", pkg, debs)
		cmd := exec.Command("apt-get", "download", "-q", pkg)
		cmd.Dir = debs
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("apt-get download %s: %w: %s", pkg, err, strings.TrimSpace(string(out)))
		}
		if deb, err = newestDeb(debs, pkg); err != nil || deb == "" {
			return nil, fmt.Errorf("apt-get download %s left no .deb in %s", pkg, debs)
		}
	}
	root := filepath.Join(cache, "root", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(root, ".unpacked")); err != nil {
		logf("unpacking %s", filepath.Base(deb))
		_ = os.RemoveAll(root)
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("making %s: %w", root, err)
		}
		if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, out)
		}
		vmlinuz, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
		if len(vmlinuz) != 1 {
			return nil, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", deb, len(vmlinuz))
		}
		// The package ships no modules.dep: dpkg's postinst runs depmod.
		release := strings.TrimPrefix(filepath.Base(vmlinuz[0]), "vmlinuz-")
		if out, err := exec.Command("depmod", "-b", root, release).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("depmod -b %s %s: %w: %s", root, release, err, out)
		}
		if err := os.WriteFile(filepath.Join(root, ".unpacked"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	k := &Kernel{Asked: asked, Package: pkg, Deb: deb, Root: root}
	vmlinuz, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(vmlinuz) != 1 {
		return nil, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", deb, len(vmlinuz))
	}
	k.Vmlinuz = vmlinuz[0]
	k.Release = strings.TrimPrefix(filepath.Base(k.Vmlinuz), "vmlinuz-")
	if _, err := os.Stat(filepath.Join(root, "lib", "modules", k.Release, "modules.dep")); err != nil {
		return nil, fmt.Errorf("%s has no modules.dep for %s: %w", deb, k.Release, err)
	}
	return k, nil
}

// newestDeb finds the cached .deb of pkg; several versions sort by name.
func newestDeb(dir, pkg string) (string, error) {
	m, err := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "", nil
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

// Module is one kernel module to load in the guest, in load order.
type Module struct {
	Name string // as lsmod names it
	Path string // inside the unpacked package
}

func modName(p string) string {
	b := filepath.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// moduleClosure lists the modules (with every dependency, dependencies first)
// that give the guest what wanted names, skipping those built into the kernel.
// A wanted module the kernel has in neither form is an error.
func moduleClosure(modDir string, wanted []string) ([]Module, error) {
	deps := map[string][]string{} // name -> [path, dep paths...]
	f, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[modName(mod)] = append([]string{mod}, strings.Fields(rest)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(modDir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(l)] = true
		}
	}
	var out []Module
	seen := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		entry, ok := deps[name]
		if !ok {
			if builtin[name] {
				return nil
			}
			return fmt.Errorf("module %s: neither in modules.dep nor built in", name)
		}
		// modules.dep lists the whole closure; visiting each first orders it.
		for _, d := range entry[1:] {
			if err := visit(modName(d)); err != nil {
				return err
			}
		}
		out = append(out, Module{Name: name, Path: entry[0]})
		return nil
	}
	for _, w := range wanted {
		if err := visit(strings.ReplaceAll(w, "-", "_")); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readModule returns a module's object, decompressed: the guest's busybox
// insmod takes plain .ko files on every kernel.
func readModule(path string) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".ko.gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return io.ReadAll(z)
	case strings.HasSuffix(path, ".ko.xz"), strings.HasSuffix(path, ".ko.zst"):
		tool := "xz"
		if strings.HasSuffix(path, ".zst") {
			tool = "zstd"
		}
		var stderr bytes.Buffer
		cmd := exec.Command(tool, "-dc", path)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s -dc %s: %w: %s", tool, path, err, stderr.String())
		}
		return out, nil
	}
	return nil, errors.New("unknown module compression: " + path)
}
