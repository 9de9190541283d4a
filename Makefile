# govs — userspace IPVS. See README.md.
GO        ?= go
BIN       := bin/govs
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 10s

.PHONY: all build test test-short lint fuzz bench demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/govs

# The test command (README and .ci/run call exactly this). Namespace tests need
# root; without it they skip with a reason.
test: build
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# A short smoke run of every fuzz target. A target that fails is run once
# more: a real crasher is written to testdata/fuzz and fails the rerun too.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || \
	    { echo "retrying $$t once (the Go fuzzer can end with a spurious 'context deadline exceeded'; a real failure is saved to testdata and fails again)"; \
	      $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; }; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Builds govs, brings up a namespace lab, balances real HTTP through it and
# prints govs -L -n. METHOD=dr|tun|masq (default dr).
METHOD ?= dr
demo: build
	$(GO) run ./cmd/govs-demo -govs $(BIN) -method $(METHOD)

clean:
	rm -rf bin
