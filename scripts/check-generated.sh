#!/usr/bin/env bash
# Regenerates everything `make generate` makes, in a scratch copy of the tree,
# and fails when the result differs from what is committed (or from the working
# tree's generated files), naming the files.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Files as they are in the working tree (a tracked file deleted there is left out).
git ls-files --cached --others --exclude-standard -z | while IFS= read -r -d '' f; do
	[[ -e $f ]] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$scratch"
(cd "$scratch" && go generate ./... >/dev/null)
stale=0
while IFS= read -r -d '' f; do
	if [[ ! -f $f ]] || ! cmp -s "$f" "$scratch/$f"; then
		echo "check-generated: $f is stale or missing: run 'make generate' and commit it"
		stale=1
	fi
done < <(cd "$scratch" && find . -type f \( -name '*_bpfel.go' -o -name '*_bpfel.o' -o -name 'model.go' -o -path '*/sbdb/*' -o -path '*/ovsdb/*' \) -printf '%P\0')
((stale)) && exit 1
echo "check-generated: generated code is up to date"
