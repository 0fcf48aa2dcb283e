#!/usr/bin/env bash
# Provisions one chassis: the local OVSDB configured like any OVN host, the
# chassis' datapath (flavour ovs: OVS + ovn-controller, the reference; flavour
# ovnbpf: ovnbpfd), and the scenario's workloads placed on this chassis.
#   chassis.sh NAME FLAVOUR ENCAP_IP CENTRAL_IP CHASSIS_LIST
# Vagrant uploads this script alone to /tmp and runs it there: lib.sh comes
# from the synced repository (or from beside this script when run by hand).
lib=/ovnbpf/vagrant/provision/lib.sh
[[ -f $lib ]] || lib=$(dirname "$0")/lib.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$lib"
name=$1 flavour=$2 encap_ip=$3 central_ip=$4 chassis=$5
sb="tcp:$central_ip:6642"
apt_install openvswitch-switch ovn-common iproute2 iputils-ping ethtool
install_binaries
systemctl start ovsdb-server
set_external_ids "$name" "$encap_ip" "$sb"
no_wait=()
case $flavour in
ovs) start_reference_chassis ;;
ovnbpf)
	start_ovnbpf_chassis
	no_wait=(--no-wait)
	;;
*)
	echo "chassis.sh: flavour $flavour: use ovs or ovnbpf" >&2
	exit 1
	;;
esac
wait_registered "$name" "$sb"
ovnbpf-scenario plug --chassis "$chassis" --on "$name" "${no_wait[@]}"
log "chassis $name ($flavour) up, encap $encap_ip"
