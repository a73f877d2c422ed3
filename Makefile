# echelon — see README.md. Every target works from a fresh clone.
GO ?= go

.PHONY: build test bench golden fmt lint tools fuzz

build:
	$(GO) build -o bin/echelon ./cmd/echelon

# The README's test command; .ci/run calls exactly this.
test:
	bash scripts/test.sh

# Every fuzz target, 60 s each (make test runs a fixed count of executions of each).
FUZZTIME ?= 60s
fuzz:
	@for pkg in ./lang ./planner ./exec; do \
	  for target in $$($(GO) test $$pkg -list '^Fuzz' | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x || exit 1; \
	  done; \
	done

# Benchmarks and peer comparisons; figures go to BENCHMARKS.md.
bench:
	bash scripts/bench.sh

# Rewrite golden/ from specs/ (compiled plans, show views, simulations).
golden:
	$(GO) test ./planner ./sim -run Golden -update

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) run ./cmd/echelon fmt specs

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Build or find terraform, kube-apiserver, etcd, kubectl and helm (cached).
tools:
	bash scripts/tools.sh
