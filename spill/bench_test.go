package spill

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// benchWorkload is a stream of results in arrival order: the reference's
// result mix (70% 37-byte successes, 20% redo with a 64-256 byte reason,
// 10% failures with a 256-1024 byte reason) with a local drift of 8, and a
// head-of-line straggler every window items that arrives only after the
// rest of its window. The window makes the buffer hold about window items.
type benchWorkload struct {
	items [][]byte
	order []int
}

func newBenchWorkload(n, window int) benchWorkload {
	r := rand.New(rand.NewPCG(1, 2))
	w := benchWorkload{items: make([][]byte, n), order: make([]int, 0, n)}
	for i := range w.items {
		size := 37
		switch p := r.IntN(10); {
		case p == 7 || p == 8:
			size = 37 + 64 + r.IntN(193)
		case p == 9:
			size = 37 + 256 + r.IntN(769)
		}
		w.items[i] = payload(uint64(i), size)
	}
	for start := 0; start < n; start += window {
		end := min(start+window, n)
		block := make([]int, 0, end-start)
		for i := start + 1; i < end; i++ {
			block = append(block, i)
		}
		for i := range block {
			j := min(len(block)-1, i+r.IntN(8))
			block[i], block[j] = block[j], block[i]
		}
		w.order = append(append(w.order, block...), start) // the straggler last
	}
	return w
}

func BenchmarkInsertDrain(b *testing.B) {
	w := newBenchWorkload(1<<16, 1024)
	for _, threshold := range []int64{4 << 10, 64 << 10, 1 << 20} {
		for _, g := range []Granularity{Batch, PerItem} {
			for _, c := range []Compression{{}, {Method: Zstd, Level: 3}} {
				p := Policy{Threshold: threshold, Granularity: g, Compression: c, Dir: b.TempDir()}
				name := fmt.Sprintf("threshold=%s/gran=%s/comp=%s", FormatSize(threshold), g, c)
				b.Run(name, func(b *testing.B) { benchInsertDrain(b, w, p) })
			}
		}
	}
}

func benchInsertDrain(b *testing.B, w benchWorkload, p Policy) {
	buf, err := New(2048, Bytes{}, p)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	var out [][]byte
	n := len(w.order)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round, at := i/n, i%n
		seq := uint64(round*n + w.order[at])
		if err := buf.Insert(seq, w.items[w.order[at]]); err != nil {
			b.Fatal(err)
		}
		if out, err = buf.DrainReady(out[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	s := buf.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(s.BytesWritten)/float64(b.N), "spill-bytes/op")
	b.ReportMetric(float64(s.ReloadEvents)/float64(b.N), "reloads/op")
	b.ReportMetric(float64(s.PeakMemory), "peak-mem-B")
}

// BenchmarkRingOnly is the no-spill baseline: the bare ring with the same
// arrival order.
func BenchmarkRingOnly(b *testing.B) {
	w := newBenchWorkload(1<<16, 1024)
	r := NewRing[[]byte](2048)
	n := len(w.order)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round, at := i/n, i%n
		if err := r.Insert(uint64(round*n+w.order[at]), w.items[w.order[at]]); err != nil {
			b.Fatal(err)
		}
		for {
			if _, ok := r.Next(); !ok {
				break
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "items/s")
}

// BenchmarkSeamWriteAt compares a positional write through the FS seam with
// the same write on the *os.File directly: the seam must cost nothing
// measurable.
func BenchmarkSeamWriteAt(b *testing.B) {
	rec := make([]byte, 512)
	b.Run("direct", func(b *testing.B) {
		f, err := os.CreateTemp(b.TempDir(), "direct")
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(rec)))
		for i := 0; i < b.N; i++ {
			if _, err := f.WriteAt(rec, int64(i%1024)*512); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seam", func(b *testing.B) {
		f, err := createAnonymous(OS, SiteBackendCreate, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close(SiteBackendClose)
		b.SetBytes(int64(len(rec)))
		for i := 0; i < b.N; i++ {
			if _, err := f.WriteAt(SiteRecordWrite, rec, int64(i%1024)*512); err != nil {
				b.Fatal(err)
			}
		}
	})
}
