// Package engine is the full concurrent pipeline every benchmark and fault
// run drives, after oc-rsync's concurrent delta pipeline:
//
//	producer -> bounded work queue -> N workers -> reorder buffer -> consumer
//
// The producer numbers work items with monotonic sequence numbers, records
// what each item's result must say, and feeds a bounded queue that blocks
// when full. Workers run a real strategy per item (whole-file checksum, or
// an rsync-style rolling-checksum block match against a basis) and finish
// out of order. Their results pass through a spill.Buffer (or, with
// spilling off, the bare spill.Ring) with the reference's back-pressure
// rule: on a capacity error, deliver what is deliverable, then force the
// insert. The consumer takes results strictly in sequence and verifies each
// one against the producer's record, re-applying deltas to their basis; the
// Report counts what was sent, delivered, lost, duplicated, corrupted and
// out of order.
//
// The order in which results reach the reorder buffer is, by default, a
// seeded schedule (Seeded): a simulation of the workers, each item taking
// a modelled time, fixes it, and a gate between the workers and the
// consumer holds early results back, so every run of a configuration
// makes the same inserts, evictions and reloads. The workers still run
// concurrently and do the real work. Free takes results as the Go
// scheduler finishes them, different on every run.
//
// Workers keep their delta tables and scratch space between items, and a
// Prepared workload holds every item generated in advance: a run then
// spends its time on the work it models (checksums, deltas, the buffer,
// its I/O), not on generating files or collecting garbage.
//
// An error from the buffer stops the run: the context is cancelled, every
// goroutine exits, and the Outcome carries the typed error, its rsync-style
// exit code (ExitCode) and the report, so a fault run can tell "failed
// cleanly, nothing lost" from "lost data".
//
// Workloads (mix, tree, hol, bulk) are deterministic generators, documented
// on their types in workload.go.
package engine
