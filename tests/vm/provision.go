package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/lab"
)

// The Vagrant lab's provisioning, run for real on the project machines:
// Debian 12 VMs (a debootstrap root file system on a virtio disk, systemd,
// the Debian kernel of the matrix with its modules) on the cross network,
// one central and two chassis, each running the very scripts Vagrant runs
// (vagrant/provision/*.sh, same arguments) and then the check. Vagrant
// itself (boxes, synced folders) is the only part left out.

// rootfsPackages: what the scripts would otherwise apt-get (the VMs have no
// network beyond the lab's).
var rootfsPackages = []string{"systemd-sysv", "udev", "kmod", "procps", "iproute2", "iputils-ping", "ethtool",
	"ca-certificates", "openvswitch-switch", "ovn-central", "ovn-host", "ovn-common"}

// debootstrapRoot makes (once, cached) a Debian 12 root file system.
func debootstrapRoot(cache string) (string, error) {
	root := filepath.Join(cache, "bookworm-"+shortHash(strings.Join(rootfsPackages, ",")))
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return root, nil
	}
	logf("debootstrap: Debian 12 with %s into %s (once; cached)", strings.Join(rootfsPackages, " "), root)
	_ = os.RemoveAll(root)
	tmp := root + ".tmp"
	_ = os.RemoveAll(tmp)
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(rootfsPackages, ","),
		"bookworm", tmp, "http://deb.debian.org/debian")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap: %w: %s", err, lastLines(string(out), 10))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	return root, os.Rename(tmp, root)
}

func shortHash(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// roleScript runs at boot in each VM (a systemd unit): it addresses eth0,
// then runs the Vagrant provisioner of its role with the Vagrantfile's
// arguments, and on a chassis the check; results go to the console as
// records.
const roleScript = `#!/bin/bash
set -u
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^ovnbpf\.$1=//p"; }
role=$(arg role) name=$(arg name) ip=$(arg ip) central=$(arg central) chassis=$(arg chassis) flavour=$(arg flavour)
kernel=$(uname -r)
record() { # record NAME OK DETAIL
	local detail=${3//[\"\\]/ }
	printf '\n@@ovnbpf-vm {"kernel":"%s","check":{"name":"%s","ran":true,"ok":%s,"detail":"%s"}}\n' \
		"$kernel" "$1" "$2" "$(echo "$detail" | tr '\n\t\r' '   ' | cut -c1-600)" > /dev/ttyS0
}
hostname "$name"
ip link set lo up
ip addr add "$ip/24" dev eth0
ip link set eth0 mtu 1500 up
cd /ovnbpf/vagrant
# One image serves every role: stop what a VM of this role would not have installed.
if [[ $role == central ]]; then
	systemctl disable --now ovn-host ovn-controller 2>/dev/null
else
	systemctl disable --now ovn-central 2>/dev/null
fi
if [[ $role == central ]]; then
	out=$(bash provision/central.sh "$chassis" 2>&1); rc=$?
	echo "$out" > /dev/ttyS0
	[[ $rc == 0 ]] && record "provision central" true "$(echo "$out" | tail -1)" || record "provision central" false "$(echo "$out" | tail -5)"
	exit 0
fi
out=$(bash provision/chassis.sh "$name" "$flavour" "$ip" "$central" "$chassis" 2>&1); rc=$?
echo "$out" > /dev/ttyS0
if [[ $rc != 0 ]]; then
	journalctl -u ovnbpfd -u ovn-controller -n 30 --no-pager > /dev/ttyS0 2>&1
	record "provision $name ($flavour)" false "$(echo "$out" | tail -5)"
else
	record "provision $name ($flavour)" true "$(echo "$out" | tail -1)"
	out=$(bash provision/check.sh "$name" "$central" "$chassis" 2>&1); rc=$?
	echo "$out" > /dev/ttyS0
	[[ $rc == 0 ]] || journalctl -u ovnbpfd -u ovn-controller -n 30 --no-pager > /dev/ttyS0 2>&1
	[[ $rc == 0 ]] && record "check from $name" true "$(echo "$out" | tail -1)" || record "check from $name" false "$(echo "$out" | grep -E 'FAIL|error|not up' | head -3) $(echo "$out" | tail -1)"
fi
printf '\n@@ovnbpf-vm {"kernel":"%s","done":true}\n' "$kernel" > /dev/ttyS0
systemctl poweroff
`

const roleUnit = `[Unit]
Description=ovnbpf VM lab: run this VM's Vagrant provisioner
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ovnbpf-lab-role
[Install]
WantedBy=multi-user.target
`

// diskInit boots the Debian root file system: load the disk's driver, mount
// it, hand over to systemd.
const diskInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod /lib/modules/ovnbpf/$m.ko || echo "init: insmod $m failed"; done < /lib/modules/ovnbpf/order
mkdir -p /newroot
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
mount -o rw /dev/vda /newroot || { echo "init: no root disk"; poweroff -f; }
umount /proc /sys
exec switch_root /newroot /lib/systemd/systemd
`

// buildLabDisk makes the VMs' shared disk image (each VM boots it with
// -snapshot): the root file system, the kernel's modules, the repository's
// Vagrant provisioning with the binaries build.sh makes, and the role unit.
func buildLabDisk(work, repo, root string, k *Kernel) (string, string, error) {
	stage := filepath.Join(work, "labroot")
	if out, err := exec.Command("cp", "-a", root+"/.", stage).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("copying the root file system: %w: %s", err, out)
	}
	defer os.RemoveAll(stage)
	mods := filepath.Join(stage, "lib", "modules")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		return "", "", err
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(k.Root, "lib", "modules", k.Release), mods+"/").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("copying modules: %w: %s", err, out)
	}
	cmd := exec.Command(filepath.Join(repo, "vagrant", "provision", "build.sh"))
	cmd.Env = append(os.Environ(), "OVNBPF_BUILD="+filepath.Join(stage, "ovnbpf", "vagrant", ".build"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("vagrant/provision/build.sh: %w: %s", err, out)
	}
	for _, src := range []string{"go.mod", "vagrant/provision"} {
		dst := filepath.Join(stage, "ovnbpf", src)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", "", err
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(repo, src), dst).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("copying %s: %w: %s", src, err, out)
		}
	}
	files := map[string]string{
		"usr/local/sbin/ovnbpf-lab-role":                                     roleScript,
		"etc/systemd/system/ovnbpf-lab-role.service":                         roleUnit,
		"etc/systemd/system/multi-user.target.wants/ovnbpf-lab-role.service": "",
		"etc/fstab": "/dev/vda / ext4 rw 0 1\n",
	}
	for p, body := range files {
		full := filepath.Join(stage, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", "", err
		}
		if body == "" {
			_ = os.Remove(full)
			if err := os.Symlink("/etc/systemd/system/ovnbpf-lab-role.service", full); err != nil {
				return "", "", err
			}
			continue
		}
		if err := os.WriteFile(full, []byte(body), 0o755); err != nil {
			return "", "", err
		}
	}
	// No login prompt on the console the runner reads.
	_ = os.Remove(filepath.Join(stage, "etc/systemd/system/getty.target.wants/getty@tty1.service"))
	disk := filepath.Join(work, "lab.ext4")
	if out, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-d", stage, disk, "3G").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("mke2fs: %w: %s", err, out)
	}
	// The initramfs only finds and mounts the disk.
	initrd := filepath.Join(work, "disk-"+k.Release+".cpio.gz")
	f, err := createGz(initrd)
	if err != nil {
		return "", "", err
	}
	c := newCPIO(f)
	for _, d := range []string{"proc", "sys", "dev"} {
		c.Dir(d)
	}
	c.CharDev("dev/console", 5, 1)
	c.File("init", 0o755, []byte(diskInit))
	if err := c.HostFile("/bin/busybox", "bin/busybox"); err != nil {
		return "", "", err
	}
	modDir := filepath.Join(k.Root, "lib", "modules", k.Release)
	ms, err := moduleClosure(modDir, []string{"virtio_pci", "virtio_blk"})
	if err != nil {
		return "", "", err
	}
	var order []string
	for _, m := range ms {
		b, err := readModule(filepath.Join(modDir, m.Path))
		if err != nil {
			return "", "", err
		}
		c.File("lib/modules/ovnbpf/"+m.Name+".ko", 0o644, b)
		order = append(order, m.Name)
	}
	c.File("lib/modules/ovnbpf/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	if err := c.Close(); err != nil {
		f.Close()
		return "", "", err
	}
	return disk, initrd, f.Close()
}

// runVagrantProvisioning boots the central and two chassis (flavours from
// -vagrant-chassis, as the Vagrantfile's OVNBPF_CHASSIS) on the cross network
// and collects what their provisioners and checks say.
func runVagrantProvisioning(ctx context.Context, work, repo string, o options, k *Kernel) (rs []*Result, err error) {
	root, err := debootstrapRoot(o.cache)
	if err != nil {
		return nil, err
	}
	disk, initrd, err := buildLabDisk(work, repo, root, k)
	if err != nil {
		return nil, err
	}
	ns, cleanup, err := crossNetwork(3)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	const central = "192.0.2.10"
	flavours, err := lab.ParseChassis(o.vagrantChassis)
	if err != nil {
		return nil, fmt.Errorf("-vagrant-chassis: %w", err)
	}
	if len(flavours) != 2 {
		return nil, fmt.Errorf("-vagrant-chassis: give two chassis (the runner boots a central and two chassis)")
	}
	chassis := flavours[0].Name + "," + flavours[1].Name
	mk := func(i int, name, role, ip string) *VM {
		flavour := ""
		if i > 0 {
			flavour = flavours[i-1].Flavour
		}
		params := []string{"root=/dev/vda", "rw", "net.ifnames=0", "systemd.show_status=false",
			"ovnbpf.role=" + role, "ovnbpf.name=" + name, "ovnbpf.ip=" + ip, "ovnbpf.central=" + central,
			"ovnbpf.chassis=" + chassis, "ovnbpf.flavour=" + flavour}
		return &VM{Name: "lab-" + name, Kernel: k, Initrd: initrd, Disk: disk, Params: params, MemMB: 1024, CPU: o.cpu,
			Tap: fmt.Sprintf("tap%d", i), MAC: fmt.Sprintf("52:54:00:00:03:%02x", 10+i), Netns: ns,
			Console: filepath.Join(work, "lab-"+name+".console"), Timeout: o.timeout}
	}
	vms := []*VM{mk(0, "central", "central", central),
		mk(1, flavours[0].Name, "chassis", "192.0.2.11"), mk(2, flavours[1].Name, "chassis", "192.0.2.12")}
	// The central serves until both chassis are done; then it is stopped by its pid.
	cctx, stopCentral := context.WithCancel(ctx)
	defer stopCentral()
	rs = make([]*Result, len(vms))
	chassisDone := make(chan struct{}, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx
			if i == 0 {
				c = cctx
			}
			rs[i] = vm.Boot(c, logf)
			logf("%s: finished in %s", vm.Name, rs[i].Elapsed.Round(time.Second))
			if i > 0 {
				chassisDone <- struct{}{}
			}
		}()
		if i == 0 {
			time.Sleep(2 * time.Second) // the central first: the chassis wait for it anyway
		}
	}
	for range len(vms) - 1 {
		<-chassisDone
	}
	stopCentral()
	wg.Wait()
	// The central never finishes by itself: it passed if it provisioned.
	if r := rs[0]; r != nil {
		for _, rec := range r.Records {
			if rec.Check != nil {
				r.Err, r.Complete = nil, true
			}
		}
	}
	return rs, nil
}
