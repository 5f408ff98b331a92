# Edge Serverless Box — build, test, demo.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/edgeserverlessbox/esb/internal/cli.Version=$(VERSION)
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build esb esb-rie test unit e2e demo bench bench-smoke proto fmt vet clean

all: build

build: esb esb-rie

esb:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/esb ./cmd/esb

esb-rie:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/esb-rie ./cmd/esb-rie

# The whole test suite: unit, integration and end-to-end (installs what it needs
# with apt-get and starts private dockerd/containerd).
test:
	scripts/test.sh

# Unit tests only; no daemon needed.
unit:
	$(GO) vet ./...
	$(GO) test ./...

# The end-to-end tests only (esb up on the examples, docker and containerd),
# against the private daemons of scripts/test-daemons.sh.
e2e:
	eval "$$(scripts/test-daemons.sh start)" && ESB_E2E=1 $(GO) test -count=1 -timeout 20m -run E2E ./test/e2e/

# Set this machine up and run the bundled example.
demo:
	scripts/demo.sh

# Regenerate docs/benchmarks.md (takes a while; run on an otherwise idle machine).
bench:
	scripts/bench.sh

# Every benchmark scenario, as briefly as possible: checks the harness still works.
bench-smoke:
	scripts/bench.sh -smoke

proto:
	cd api/agent/v1 && $(GO) generate

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
