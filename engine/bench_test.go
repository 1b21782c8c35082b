package engine

import (
	"fmt"
	"testing"

	"github.com/spillbench/spillbench/spill"
)

// BenchmarkPipeline runs each workload end to end with spilling off and at
// a tight threshold (16 KiB; 2 KiB for mix, whose reorder window is short),
// per granularity. One op is one whole run; benchstat -col /spill compares
// the modes.
//
//	go test ./engine -run '^$' -bench Pipeline -benchtime 3x -count 5
func BenchmarkPipeline(b *testing.B) {
	specs := []WorkloadSpec{
		{Name: "mix", Items: 20000},
		{Name: "tree", Items: 400, Scale: 0.25},
		{Name: "hol", Items: 3000, Scale: 0.25},
		{Name: "bulk", Items: 150, Scale: 0.25},
	}
	for _, spec := range specs {
		spec.Seed = 1
		wl, err := NewWorkload(spec)
		if err != nil {
			b.Fatal(err)
		}
		threshold := int64(tight)
		if spec.Name == "mix" {
			threshold = 2 << 10
		}
		modes := []struct {
			name   string
			policy *spill.Policy
		}{
			{"spill=off", nil},
			{"spill=batch", &spill.Policy{Threshold: threshold, Granularity: spill.Batch, Dir: b.TempDir()}},
			{"spill=item", &spill.Policy{Threshold: threshold, Granularity: spill.PerItem, Dir: b.TempDir()}},
		}
		for _, m := range modes {
			b.Run(fmt.Sprintf("workload=%s/%s", spec.Name, m.name), func(b *testing.B) {
				var items, spillBytes, wall float64
				var peakBuf int64
				var peakHeap uint64
				for i := 0; i < b.N; i++ {
					out, err := Run(b.Context(), Config{Workload: wl, Spill: m.policy})
					if err != nil {
						b.Fatal(err)
					}
					if out.Err != nil || !out.Report.Clean() {
						b.Fatalf("run failed: %v %v", out.Err, out.Report)
					}
					items += float64(out.Report.Delivered)
					wall += out.Wall.Seconds()
					spillBytes += float64(out.Spill.BytesWritten)
					peakBuf = max(peakBuf, out.PeakBuffered)
					peakHeap = max(peakHeap, out.PeakHeap)
				}
				b.ReportMetric(items/wall, "items/s")
				b.ReportMetric(spillBytes/float64(b.N), "spill-bytes/op")
				b.ReportMetric(float64(peakBuf), "peak-buffered-B")
				b.ReportMetric(float64(peakHeap), "peak-heap-B")
			})
		}
	}
}
