package bench

import (
	"context"
	"testing"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
)

// BenchmarkQuick runs the quick spec's engine and ring cells as standard
// Go benchmarks, for those who prefer plain Go tooling:
//
//	go test -run '^$' -bench Quick -count 5 ./bench | go tool benchstat -col /gran -
//
// One op is one whole engine run. Fault cells measure failures, not
// speed: spillbench run records them in outcomes.jsonl, and here they are
// skipped.
func BenchmarkQuick(b *testing.B) {
	spec, err := LoadSpec("quick")
	if err != nil {
		b.Fatal(err)
	}
	r := &runner{spec: spec, profiles: "none", workloads: map[engine.WorkloadSpec]*engine.Prepared{}}
	for _, c := range spec.Cells() {
		b.Run(c.Name(), func(b *testing.B) {
			if c.Fault.Injector != "none" {
				b.Skip("a fault cell: see outcomes.jsonl of spillbench run")
			}
			if _, err := r.prepared(c.Workload); err != nil { // outside the timer
				b.Fatal(err)
			}
			b.ResetTimer()
			m, err := r.execute(context.Background(), c, nil, b.N, -1, &cellState{c: c})
			if err != nil || m.last.Err != nil {
				b.Fatalf("run: %v %v", err, m.last.Err)
			}
			b.ReportMetric(float64(m.delivered)/m.wall.Seconds(), "items/s")
			b.ReportMetric(float64(m.spill.BytesWritten)/float64(b.N), "spill-bytes/op")
		})
	}
	if held := injectors.Resources.Held(); len(held) > 0 {
		b.Fatalf("resources still held: %v", held)
	}
}
