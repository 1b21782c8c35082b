# spillbench developer commands. `make test` is what CI runs.
GO ?= go
FUZZTIME ?= 30s

.PHONY: test fmt-check vet staticcheck race fuzz bench

test: fmt-check vet staticcheck race

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

race:
	$(GO) test -race -count=1 ./...

# Fuzz the spill record decoder for a bounded time (FUZZTIME=5m make fuzz).
fuzz:
	$(GO) test ./spill -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)

# Spill buffer micro-benchmarks, in Go benchmark format (benchstat reads it).
bench:
	$(GO) test ./spill -run '^$$' -bench . -benchmem -count 5
