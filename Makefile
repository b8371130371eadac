# arbiter — make run starts the demo, make test runs every test.
GO        ?= go
BIN       := bin/arbiter
FUZZTIME  ?= 1m
BENCHTIME ?= 10s
# bench-cgi and bench-wsgi measure each row this many times and report the median run.
BENCHROUNDS ?= 3
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/arbiter-dev/arbiter/cmd.Version=$(VERSION)

.PHONY: all build run test test-short lint fuzz bench bench-core bench-nginx bench-cgi bench-wsgi bench-reload bench-scale chaos clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/arbiter

# The quickstart demo (examples/quickstart): static files over HTTP and FastCGI.
run: build
	$(BIN) run examples/quickstart/app.toml

# Every test, with the race detector, plus vet and gofmt.
test: lint
	$(GO) test -race -count=1 -timeout 15m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" ./...; \
	else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@latest); skipped"; fi

# Each native fuzz test for FUZZTIME (default 1m). Not part of make test.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Benchmarks against baselines measured in the same run (docs/benchmarks.md).
bench: bench-core bench-nginx bench-cgi bench-wsgi

bench-core: build
	$(GO) run ./internal/bench/core -duration $(BENCHTIME)

bench-nginx: build
	$(GO) run ./internal/bench/nginx -arbiter $(BIN) -duration $(BENCHTIME)

bench-cgi: build
	$(GO) run ./internal/bench/cgi -arbiter $(BIN) -duration $(BENCHTIME) -rounds $(BENCHROUNDS)

bench-wsgi: build
	$(GO) run ./internal/bench/wsgi -arbiter $(BIN) -duration $(BENCHTIME) -rounds $(BENCHROUNDS)

bench-reload:
	$(GO) run ./internal/bench/reload -duration 60s

# A bursty load against a dynamic fleet and fixed fleets of its bounds.
bench-scale: build
	$(GO) run ./internal/bench/scale -arbiter $(BIN)

# arbiter's reliability scenarios at full scale (docs/reliability.md); up to
# 15 minutes. Not part of make test, which runs each at a small scale.
chaos:
	$(GO) run ./internal/chaos/cmd

clean:
	rm -rf bin
