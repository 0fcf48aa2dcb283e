#!/usr/bin/env bash
# The scenario's checks from this chassis: every local VM pings every VM of
# the lab (`vagrant provision --provision-with check`).
#   check.sh NAME CENTRAL_IP CHASSIS_LIST
# Vagrant uploads this script alone to /tmp and runs it there: lib.sh comes
# from the synced repository (or from beside this script when run by hand).
lib=/ovnbpf/vagrant/provision/lib.sh
[[ -f $lib ]] || lib=$(dirname "$0")/lib.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$lib"
ovnbpf-scenario check --chassis "$3" --on "$1" --nb-db "tcp:$2:6641"
