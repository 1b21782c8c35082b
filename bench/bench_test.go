package bench

import (
	"context"
	"testing"

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
	r := &runner{spec: spec, profiles: "none"}
	for _, c := range spec.Cells() {
		b.Run(c.Name(), func(b *testing.B) {
			if c.Fault.Injector != "none" {
				b.Skip("a fault cell: see outcomes.jsonl of spillbench run")
			}
			var items, wall, spilled float64
			for i := 0; i < b.N; i++ {
				out, _, _, _, err := r.execute(context.Background(), c, nil, -1)
				if err != nil || out.Err != nil {
					b.Fatalf("run: %v %v", err, out.Err)
				}
				items += float64(out.Report.Delivered)
				wall += out.Wall.Seconds()
				spilled += float64(out.Spill.BytesWritten)
			}
			b.ReportMetric(items/wall, "items/s")
			b.ReportMetric(spilled/float64(b.N), "spill-bytes/op")
		})
	}
	if held := injectors.Resources.Held(); len(held) > 0 {
		b.Fatalf("resources still held: %v", held)
	}
}
