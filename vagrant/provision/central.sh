#!/usr/bin/env bash
# Provisions the OVN central: ovsdb-server (NB, SB) and ovn-northd from Debian,
# listening on TCP for the chassis, and the scenario's logical topology.
#   central.sh CHASSIS_LIST      e.g. central.sh hv1,hv2
# Vagrant uploads this script alone to /tmp and runs it there: lib.sh comes
# from the synced repository (or from beside this script when run by hand).
lib=/ovnbpf/vagrant/provision/lib.sh
[[ -f $lib ]] || lib=$(dirname "$0")/lib.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$lib"
chassis=$1
apt_install ovn-central
systemctl enable --now ovn-central >/dev/null
install_binaries
# The chassis reach the databases over the lab's private network.
ovn-nbctl set-connection ptcp:6641
ovn-sbctl set-connection ptcp:6642
ovnbpf-scenario nb --chassis "$chassis"
log "central up: NB tcp:6641, SB tcp:6642; topology: $(ovn-nbctl --bare --columns=name list Logical_Switch | xargs) + lr0"
