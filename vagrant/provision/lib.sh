# shellcheck shell=bash
# Shell functions the Vagrant lab's provisioning shares (sourced, not run).
# A chassis here is configured exactly as ovn-controller's hosts are: through
# the Open_vSwitch table's external_ids in the local OVSDB. The workloads and
# the checks come from internal/lab's scenario (ovnbpf-scenario), the same one
# `ovnbpf-lab up --demo` builds in network namespaces.
set -euo pipefail

OVNBPF_SRC=${OVNBPF_SRC:-/ovnbpf}
OVNBPF_BUILD=${OVNBPF_BUILD:-$OVNBPF_SRC/vagrant/.build}

log() { echo "ovnbpf-provision: $*"; }

# apt_install installs the Debian packages that are missing (quick when none is).
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# install_binaries puts ovnbpfd, ovnbpfctl and ovnbpf-scenario in /usr/local/bin:
# built on the host by the Vagrantfile's trigger (build.sh) when the host has Go,
# otherwise built here with the Go toolchain go.mod names, fetched from go.dev.
install_binaries() {
	if [[ ! -x $OVNBPF_BUILD/ovnbpf-scenario ]]; then
		local ver
		ver=$(awk '$1 == "go" { print $2 }' "$OVNBPF_SRC/go.mod")
		if [[ ! -x /usr/local/go/bin/go ]] || ! /usr/local/go/bin/go version | grep -q "go$ver"; then
			apt_install ca-certificates curl
			log "fetching Go $ver (the host had none to build with)"
			rm -rf /usr/local/go
			curl -fsSL "https://go.dev/dl/go$ver.linux-amd64.tar.gz" | tar -C /usr/local -xz
		fi
		PATH=/usr/local/go/bin:$PATH OVNBPF_BUILD=/var/tmp/ovnbpf-build "$OVNBPF_SRC/vagrant/provision/build.sh"
		OVNBPF_BUILD=/var/tmp/ovnbpf-build
	fi
	for b in ovnbpf-scenario ovnbpfd ovnbpfctl; do
		if [[ -x $OVNBPF_BUILD/$b ]]; then
			install -m 0755 "$OVNBPF_BUILD/$b" /usr/local/bin/$b
		fi
	done
}

# set_external_ids configures this chassis the way ovn-controller reads it.
#   set_external_ids SYSTEM_ID ENCAP_IP SB_REMOTE
set_external_ids() {
	# Debian's ovsdb-server unit (ovs-ctl --system-id=random) writes
	# system-id.conf's content into external_ids:system-id at every start:
	# pin it there too, or a restart of ovsdb-server renames the chassis.
	echo "$1" >/etc/openvswitch/system-id.conf
	ovs-vsctl --no-wait set Open_vSwitch . \
		external_ids:system-id="$1" \
		external_ids:hostname="$1" \
		external_ids:ovn-remote="$3" \
		external_ids:ovn-encap-type=geneve \
		external_ids:ovn-encap-ip="$2" \
		external_ids:ovn-bridge=br-int
}

# start_reference_chassis: the reference flavour, OVS's kernel datapath and ovn-controller.
start_reference_chassis() {
	apt_install ovn-host
	systemctl disable --now ovnbpfd 2>/dev/null || true
	systemctl unmask ovs-vswitchd 2>/dev/null || true
	systemctl enable --now openvswitch-switch ovn-host ovn-controller 2>/dev/null
	systemctl restart ovn-controller
}

# start_ovnbpf_chassis: ovnbpfd as a systemd service beside the local OVSDB.
# ovs-vswitchd must not run (ovnbpfd is the datapath), nor ovn-controller;
# only ovsdb-server stays, pulled in by ovnbpfd.service. openvswitch-switch
# requires ovs-vswitchd, so it is disabled and ovs-vswitchd masked.
start_ovnbpf_chassis() {
	if [[ ! -x /usr/local/bin/ovnbpfd ]]; then
		echo "ovnbpf-provision: this build has no ovnbpfd (cmd/ovnbpfd): use the ovs flavour" >&2
		return 1
	fi
	systemctl disable --now ovn-host ovn-controller 2>/dev/null || true
	systemctl disable openvswitch-switch 2>/dev/null || true
	systemctl mask --now ovs-vswitchd 2>/dev/null
	systemctl start ovsdb-server
	install -m 0644 "$OVNBPF_SRC/vagrant/provision/ovnbpfd.service" /etc/systemd/system/ovnbpfd.service
	systemctl daemon-reload
	systemctl enable ovnbpfd 2>/dev/null
	systemctl restart ovnbpfd
}

# wait_registered waits until the Southbound DB has this chassis. The central
# may still be installing (libvirt brings the VMs up in parallel): wait long.
#   wait_registered SYSTEM_ID SB_REMOTE
wait_registered() {
	local deadline=$((SECONDS + 300))
	while ((SECONDS < deadline)); do
		if ovn-sbctl --db="$2" --timeout=10 --bare --columns=name find Chassis name="$1" 2>/dev/null | grep -qx "$1"; then
			return 0
		fi
		sleep 1
	done
	echo "ovnbpf-provision: chassis $1 did not register in $2 within 300s (is the central up?); the chassis daemon's last words:" >&2
	journalctl -u ovn-controller -u ovnbpfd -n 8 --no-pager -o cat >&2 || true
	return 1
}
