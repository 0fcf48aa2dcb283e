#!/usr/bin/env bash
# Builds the lab's static binaries into vagrant/.build: run on the host by the
# Vagrantfile's trigger (when the host has Go), or in a VM by lib.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${OVNBPF_BUILD:-$src/vagrant/.build}
if ! command -v go >/dev/null; then
	echo "build.sh: no Go on this host: the VMs will fetch Go and build there"
	exit 0
fi
mkdir -p "$out"
cd "$src"
pkgs=(./vagrant/scenario)
for cmd in ovnbpfd ovnbpfctl; do
	if compgen -G "cmd/$cmd/*.go" >/dev/null; then pkgs+=("./cmd/$cmd"); fi
done
rm -f "$out/ovnbpf-scenario" "$out/ovnbpfd" "$out/ovnbpfctl"
if ! CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o "$out/" "${pkgs[@]}"; then
	# No stale binaries stay behind: the VMs build from the synced sources.
	rm -f "$out/scenario" "$out/ovnbpfd" "$out/ovnbpfctl"
	echo "build.sh: building on the host failed (above): the VMs will fetch Go and build there" >&2
	exit 0
fi
mv -f "$out/scenario" "$out/ovnbpf-scenario"
echo "build.sh: built ${pkgs[*]} into $out"
