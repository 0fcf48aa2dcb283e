# ovnbpf: the two commands a new user needs are `make lab` and `make test`.
# `make help` lists every target.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
# The pinned BPF toolchain: Debian 12's clang 14. Generated objects are committed
# and must be reproducible with exactly this compiler (check-generated).
BPF_CLANG ?= clang-14
export BPF_CLANG
# CI=true turns every privileged-test skip into a failure (internal/testutil).
TEST_TIMEOUT ?= 20m

# Debian packages the project needs: build, datapath, OVN and OVS references, lab tools.
DEB_PACKAGES := clang-14 llvm-14 libbpf-dev bpftool linux-libc-dev \
	ovn-central ovn-host openvswitch-switch openvswitch-common ovn-common \
	iproute2 iputils-ping iperf3 ethtool tcpdump \
	qemu-system-x86 busybox-static xz-utils zstd kmod

.PHONY: help deps generate check-generated build test test-privileged e2e-matrix difftrace incremental-long vm-test lab lab-down bench lint fuzz clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

deps: ## install every Debian package and Go module the project needs (idempotent, quick when present)
	@scripts/deps.sh $(DEB_PACKAGES)
	@$(GO) mod download

generate: ## regenerate BPF objects (bpf2go, pinned clang) and OVSDB models (modelgen)
	$(GO) generate ./...

check-generated: ## fail when committed generated code differs from what `make generate` makes
	@scripts/check-generated.sh

build: ## build ovnbpfd, ovnbpfctl and ovnbpf-lab into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test: deps build ## run unit and privileged tests (as root: CI runs them all)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-privileged: deps build ## run only the privileged tests (root, bpffs)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run Privileged ./...

e2e-matrix: deps build ## the end-to-end scenarios on a mixed ovnbpf/ovs cluster and on the ovs reference (test runs ovnbpf)
	OVNBPF_E2E_CHASSIS=hv1=ovnbpf,hv2=ovs $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./tests/e2e
	OVNBPF_E2E_CHASSIS=hv1=ovs,hv2=ovnbpf $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./tests/e2e
	OVNBPF_E2E_CHASSIS=hv1=ovs,hv2=ovs $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./tests/e2e

difftrace: deps build ## differential run against the real ovn-trace: 40,000 packets over 8 topologies (make test runs 10,400)
	$(GO) test -count=1 -timeout 15m -run Privileged -v ./tests/difftrace -long

incremental-long: deps build ## 10,000 random Northbound changes applied incrementally, maps compared with a recompute every 100 (make test runs 1,000; ~20 min)
	$(GO) test -count=1 -timeout 60m -run Privileged -v ./tests/incremental -args -long

vm-test: deps ## boot Debian 12's 6.1 and 6.12 kernels in qemu: load, attach, test and forward the datapath there; cross-VM Geneve
	$(GO) run ./tests/vm $(VM_FLAGS)

lab: deps build ## install, build, bring up the demo lab (real OVN central, two ovnbpf chassis) and ping every pair
	@$(BIN)/ovnbpf-lab down
	$(BIN)/ovnbpf-lab up --demo

lab-down: build ## remove the demo lab
	$(BIN)/ovnbpf-lab down

# The full run includes the control plane at ten times the reference scale
# (30 minutes or more of its 40); SCALE10=0 leaves it out.
SCALE10 ?= 1
bench: deps build ## measure ovnbpf beside its references in one run (QUICK=1: smoke run; SCALE10=0: without the 10x control plane; ONLY=data,packet,control; SYSTEMS=ovnbpf: control plane of ovnbpfd alone)
	$(GO) build -o $(BIN)/ovnbpf-bench ./tests/bench
	$(BIN)/ovnbpf-bench $(if $(QUICK),-quick) $(if $(filter 1,$(SCALE10)),-scale10) $(if $(ONLY),-only $(ONLY)) $(if $(SYSTEMS),-systems $(SYSTEMS)) -out results

lint: ## gofmt, go vet, and the layout rules of ARCHITECTURE.md
	@scripts/lint.sh

fuzz: ## fuzz the match and action parsers, and shape templates against plain lowering (FUZZTIME=1m each)
	$(GO) test ./pipeline -run '^$$' -fuzz FuzzParseMatch -fuzztime $(or $(FUZZTIME),1m)
	$(GO) test ./pipeline -run '^$$' -fuzz FuzzParseActions -fuzztime $(or $(FUZZTIME),1m)
	$(GO) test ./pipeline -run '^$$' -fuzz FuzzShapes -fuzztime $(or $(FUZZTIME),1m)

clean: ## remove build outputs and benchmark results
	rm -rf $(BIN) results
