# spillbench developer commands. `make test` is what CI runs.
GO ?= go
FUZZTIME ?= 30s

.PHONY: run test lint fmt-check vet staticcheck cyclo race fuzz mutate bench report docs clean

# The quick sweep on the embedded spec into ./out/quick-<time>, then its
# report (the path is printed last).
run:
	@dir=out/quick-$$(date +%Y%m%d-%H%M%S) && \
	$(GO) run ./cmd/spillbench run --spec quick --out $$dir && \
	$(GO) run ./cmd/spillbench report $$dir

test: lint race

lint: fmt-check vet staticcheck cyclo

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags failpoint ./injectors

staticcheck:
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags failpoint ./injectors

# No function outside tests above cyclomatic complexity 25.
cyclo:
	$(GO) tool gocyclo -over 25 -ignore '_test\.go$$' .

race:
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags failpoint ./injectors

# Fuzz every decoder for a bounded time each (FUZZTIME=5m make fuzz).
fuzz:
	$(GO) test ./spill -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzApplyDelta$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzDeltaRoundTrip$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzDecodeResult$$' -fuzztime $(FUZZTIME)
	$(GO) test ./injectors -run '^$$' -fuzz '^FuzzParseRule$$' -fuzztime $(FUZZTIME)
	$(GO) test ./injectors -run '^$$' -fuzz '^FuzzParseTerms$$' -fuzztime $(FUZZTIME)
	$(GO) test ./bench -run '^$$' -fuzz '^FuzzParseSpec$$' -fuzztime $(FUZZTIME)

# Mutation testing of the spill buffer and the engine (gremlins): every
# mutant its tests leave alive (or that hangs them) is printed. Slow:
# about 15 minutes for spill and 20 for the engine on 2 cores. gremlins
# gives each mutant its coverage run's time times the coefficient; a
# coverage run Go served from its test cache took 0.14 s and timed out
# every engine mutant, so the cache is cleared first.
mutate:
	$(GO) clean -testcache
	$(GO) tool gremlins unleash --workers 2 --timeout-coefficient 3 -S lt ./spill
	$(GO) clean -testcache
	$(GO) tool gremlins unleash --workers 2 --timeout-coefficient 3 -S lt ./engine

# Micro-benchmarks of the spill buffer and whole-pipeline benchmarks per
# workload, in Go benchmark format: `make bench > new.txt`, then
# `go tool benchstat -col /spill new.txt` or compare two such files.
bench:
	$(GO) test ./spill -run '^$$' -bench . -benchmem -count 6
	$(GO) test ./engine -run '^$$' -bench . -benchtime 3x -count 6

# The report of the newest result directory under ./out.
report:
	@dir=$$(ls -td out/*/ 2>/dev/null | head -1); \
	if [ -z "$$dir" ]; then echo "no result directory in ./out; run make run first"; exit 1; fi; \
	$(GO) run ./cmd/spillbench report $$dir

# Regenerate the committed design documents from runs on this machine:
# the report of a quick sweep, threshold tuning from the tuning sweep
# (the full sweep's engine cells; about half an hour on 2 cores),
# the injection mechanism comparison, and the fault survival sweeps
# (their document, with its figure, from the result directory), and GNU
# sort as an external target beside the engine's inject run.
docs:
	rm -rf out/docs-quick out/docs-tuning out/docs-inject out/docs-survive out/docs-sort docs/design/reports/quick \
		docs/design/threshold-tuning docs/design/injection-mechanisms docs/design/fault-survival docs/design/external-targets
	$(GO) run ./cmd/spillbench run --spec quick --out out/docs-quick -q
	$(GO) run ./cmd/spillbench report --format md --out docs/design/reports/quick out/docs-quick
	rm -f docs/design/reports/quick/plots/*.png
	$(GO) run ./cmd/spillbench run --spec tuning --out out/docs-tuning -q
	$(GO) run ./cmd/spillbench report --doc tuning --out docs/design out/docs-tuning
	$(GO) run -tags failpoint ./cmd/spillbench inject --out out/docs-inject -q
	$(GO) run ./cmd/spillbench report --doc injection --out docs/design out/docs-inject
	$(GO) run ./cmd/spillbench survive --out out/docs-survive -q
	$(GO) run ./cmd/spillbench report --doc survival --out docs/design out/docs-survive
	$(GO) run ./cmd/spillbench run --spec sort --out out/docs-sort -q
	$(GO) run ./cmd/spillbench report --doc external --out docs/design out/docs-sort out/docs-inject

clean:
	rm -rf out
