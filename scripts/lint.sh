#!/usr/bin/env bash
# gofmt, go vet, and the layout rules of ARCHITECTURE.md that a compiler cannot see.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go' | grep -v '_bpfe[lb]\.go$') 2>/dev/null || true)
if [[ -n $unformatted ]]; then
	echo "lint: gofmt would change:"; echo "$unformatted"; fail=1
fi
go vet ./... || fail=1
# pipeline/ is pure: the standard library only.
if [[ -d pipeline ]]; then
	bad=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./pipeline/... | grep -v '^github.com/ovnbpf/ovnbpf/pipeline' || true)
	if [[ -n $bad ]]; then
		echo "lint: pipeline/ must import the standard library only, but depends on:"; echo "$bad"; fail=1
	fi
fi
# Only daemons log: library packages must not import log or log/slog.
for pkg in pipeline maps loader; do
	[[ -d $pkg ]] || continue
	if go list -f '{{join .Imports "\n"}}' ./$pkg/... | grep -qxE 'log|log/slog'; then
		echo "lint: $pkg/ logs; libraries return errors and only daemons log"; fail=1
	fi
done
if ((fail)); then exit 1; fi
echo "lint: clean"
