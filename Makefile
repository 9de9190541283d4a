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
# root; without it they skip with a reason, and fail instead under
# GOVS_TEST_NOSKIP=1 (as .ci/run sets it).
# One package at a time (-p 1): the namespace labs and govs bench's tests
# measure delivery and CPU time, which another package's tests running on
# the same cores would disturb.
test: build
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -p 1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# A short run of every fuzz target; any failure fails the run. The one
# exception is a known fault of the Go fuzzer (go.dev/issue/75804): when
# -fuzztime runs out while a worker is mid-call, a clean run can end in
# "--- FAIL" with the bare line "context deadline exceeded" and no failing
# input. Only a run whose output has exactly that line, and no failing input
# written, is run once more; the second run's result stands.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for pkg in $$($(GO) list $(PKGS)); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; exit 1; }; \
	  for t in $$(echo "$$list" | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    if $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg >"$$out" 2>&1; then cat "$$out"; continue; fi; \
	    cat "$$out"; \
	    if grep -q "^--- FAIL: $$t " "$$out" && grep -qxE '[[:space:]]*context deadline exceeded' "$$out" && ! grep -q 'Failing input written' "$$out"; then \
	      echo "fuzz $$pkg $$t: the fuzzer's spurious deadline error; running it once more"; \
	      $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	    else \
	      echo "fuzz $$pkg $$t: FAILED"; exit 1; \
	    fi; \
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
