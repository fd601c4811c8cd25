# smartcharge: build, run, test. Tool versions are pinned here.
SHELL := /bin/bash
GO    ?= go

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION            := v1.9.4

TOOLS   := $(CURDIR)/.cache/tools
BUF     := $(TOOLS)/buf-$(BUF_VERSION)
BIN     := $(CURDIR)/bin
export PATH := $(TOOLS):$(PATH)

FUZZTIME ?= 5s
BENCHTIME ?= 1s

.PHONY: bench-commission e2e bench-e2e bench-ocpp all build run serve test vet unit fuzz-short fuzz bench proto proto-lint proto-breaking tools clean redis-check

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## run: the demo: smartcharged on the embedded store with the demo depot,
## twelve simulated chargers with cars, and a live view. Ctrl-C stops it.
run: build
	BIN=$(BIN) ./examples/run-demo.sh

## serve: only the daemon with the demo site, no simulated chargers.
serve: build
	$(BIN)/smartcharged --insecure-local --log-level info --site-file examples/demo-depot.yaml

## test: vet, race tests against a real redis-server, brief fuzzing, buf lint.
test: vet unit fuzz-short proto-lint

vet:
	$(GO) vet ./...

unit: redis-check
	$(GO) test -race -count=1 -timeout 20m ./...

redis-check:
	@command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install redis-server (or run .ci/run)"; \
		if [ "$$CI" = "true" ]; then exit 1; fi; }

## fuzz-short: every fuzz target for $(FUZZTIME) (make fuzz FUZZTIME=5m for longer).
fuzz-short:
	@./.ci/fuzz.sh $(FUZZTIME)

fuzz:
	@./.ci/fuzz.sh $(or $(FUZZTIME_LONG),2m)

## bench: the Go benchmarks (performance targets live here).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## bench-ocpp: MeterValues round trips/s (server pinned to core 0, load on
## core 1) and memory per idle connection with 10,000 booted chargers.
bench-ocpp:
	./ocppadapter/ocppbench/bench.sh

## e2e: only the end-to-end tests (real daemon, redis-server, simulated chargers).
e2e: redis-check
	$(GO) test -race -count=1 -timeout 15m ./e2e/...

## bench-commission: time from a charger's boot to our fallback installed,
## 100 and 1,000 chargers of one site booting at once (real processes).
bench-commission: build redis-check
	E2E_SMARTCHARGED=$(BIN)/smartcharged $(GO) test -run '^$$' -bench Commissioning -benchtime 1x -timeout 20m ./e2e/

## bench-e2e: time from a grid-limit change to all profiles accepted (100
## and 1,000 chargers), smartcharged's CPU and memory holding 10,000
## chargers with heartbeats and meter values every 10 s, and a 30-minute
## demo depot run (energy, ledger violations, profile messages per charger
## per hour; DEMO_DURATION=5m for a short one). About an hour; the figures
## are in docs/benchmarks.md.
bench-e2e: build redis-check
	E2E_SMARTCHARGED=$(BIN)/smartcharged $(GO) test -run '^$$' -bench GridLimitChange -benchtime 1x -timeout 60m ./e2e/
	BIN=$(BIN) ./.ci/bench-hold.sh
	BIN=$(BIN) ./.ci/bench-demo.sh $${DEMO_DURATION:-30m}

## proto: regenerate the committed Go code from proto/ with local plugins.
proto: tools
	cd $(CURDIR) && $(BUF) generate
	$(BUF) lint

proto-lint: tools
	$(BUF) lint

## proto-breaking: compare proto/ with main.
proto-breaking: tools
	$(BUF) breaking --against '.git#branch=main'

tools: $(BUF) $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

$(BUF):
	GOBIN=$(TOOLS) GOFLAGS=-buildvcs=false $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	mv $(TOOLS)/buf $(BUF)
	ln -sf $(BUF) $(TOOLS)/buf

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

clean:
	rm -rf $(BIN)
