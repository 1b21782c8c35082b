package spill

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	if s.ItemsSpilled > 0 {
		b.ReportMetric(float64(s.WriteCalls)/float64(s.ItemsSpilled), "writes/spilled-item")
		b.ReportMetric(float64(s.BytesWritten+s.BytesRead)/elapsed.Seconds()/1e6, "traffic-MB/s")
	}
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

// BenchmarkNoSpillOverhead measures what the buffer costs over the bare
// ring when nothing spills: the same arrival order goes through both,
// alternating in chunks so that both see the machine in the same state,
// and the ratio of their times is reported as x-ring. One op is one item.
//
// drain=ready takes items out as the engine does, DrainReady into a reused
// slice, against the ring drained into one the same way (the engine's
// bare-ring limit); drain=next takes them one Next call at a time against
// the ring's Next.
func BenchmarkNoSpillOverhead(b *testing.B) {
	w := newBenchWorkload(1<<16, 1024)
	for _, g := range []Granularity{Batch, PerItem} {
		for _, drain := range []string{"ready", "next"} {
			b.Run("gran="+g.String()+"/drain="+drain, func(b *testing.B) {
				buf, err := New(2048, Bytes{}, Policy{Threshold: 1 << 30, Granularity: g, Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer buf.Close()
				ring := NewRing[[]byte](2048)
				run := noSpillRun{w: w, ring: ring, buf: buf, next: drain == "next"}
				const chunk = 4096
				b.ResetTimer()
				for done := 0; done < b.N; done += chunk {
					run.chunk(b, done, min(done+chunk, b.N))
				}
				b.StopTimer()
				if s := buf.Stats(); s.SpillEvents != 0 {
					b.Fatalf("%d spill events under a 1 GiB budget", s.SpillEvents)
				}
				b.ReportMetric(float64(run.tBuf.Nanoseconds())/float64(b.N), "buffer-ns/item")
				b.ReportMetric(float64(run.tRing.Nanoseconds())/float64(b.N), "ring-ns/item")
				b.ReportMetric(run.tBuf.Seconds()/run.tRing.Seconds(), "x-ring")
			})
		}
	}
}

// noSpillRun feeds one arrival order to a ring and a buffer in turns.
type noSpillRun struct {
	w           benchWorkload
	ring        *Ring[[]byte]
	buf         *Buffer[[]byte]
	next        bool // drain with Next, not DrainReady
	out         [][]byte
	tBuf, tRing time.Duration
}

// chunk puts items [from, to) of the stream through the ring, then the
// same items through the buffer, timing each.
func (r *noSpillRun) chunk(b *testing.B, from, to int) {
	n := len(r.w.order)
	start := time.Now()
	for i := from; i < to; i++ {
		at := i % n
		if err := r.ring.Insert(uint64(i-at+r.w.order[at]), r.w.items[r.w.order[at]]); err != nil {
			b.Fatal(err)
		}
		if r.next {
			for {
				if _, ok := r.ring.Next(); !ok {
					break
				}
			}
			continue
		}
		out := r.out[:0]
		for {
			v, ok := r.ring.Next()
			if !ok {
				break
			}
			out = append(out, v)
		}
		r.out = out
	}
	mid := time.Now()
	for i := from; i < to; i++ {
		at := i % n
		if err := r.buf.Insert(uint64(i-at+r.w.order[at]), r.w.items[r.w.order[at]]); err != nil {
			b.Fatal(err)
		}
		if r.next {
			for {
				if _, ok, err := r.buf.Next(); err != nil {
					b.Fatal(err)
				} else if !ok {
					break
				}
			}
			continue
		}
		var err error
		if r.out, err = r.buf.DrainReady(r.out[:0]); err != nil {
			b.Fatal(err)
		}
	}
	r.tRing += mid.Sub(start)
	r.tBuf += time.Since(mid)
}

// BenchmarkSpillTraffic measures the spill path against the filesystem's
// limit in the same directory and run: the benchmark workload through a
// spilling buffer, alternating with writing and reading back as many
// bytes sequentially in 1 MiB calls (raw). It reports the spill traffic
// (bytes written plus bytes read back, per second of the buffer's run),
// raw's rate, their ratio as of-raw, and the write and read calls per
// spilled item. One op is one item.
func BenchmarkSpillTraffic(b *testing.B) {
	w := newBenchWorkload(1<<16, 1024)
	for _, threshold := range []int64{4 << 10, 64 << 10} {
		for _, g := range []Granularity{PerItem, Batch} {
			// io=none is the reference's one call per record; default
			// stages in a sixteenth of the budget; half gives staging
			// the most an explicit IOBuffer may.
			for _, io := range []struct {
				name string
				size int64
			}{{"none", -1}, {"default", 0}, {"half", threshold / 2}} {
				name := fmt.Sprintf("threshold=%s/gran=%s/io=%s", FormatSize(threshold), g, io.name)
				b.Run(name, func(b *testing.B) {
					benchSpillTraffic(b, w, Policy{Threshold: threshold, Granularity: g, IOBuffer: io.size})
				})
			}
		}
	}
}

func benchSpillTraffic(b *testing.B, w benchWorkload, p Policy) {
	dir := b.TempDir()
	p.Dir = filepath.Join(dir, "spill")
	buf, err := New(2048, Bytes{}, p)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	raw, err := os.CreateTemp(dir, "raw")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	chunk := make([]byte, 1<<20)
	var out [][]byte
	var tBuf, tRaw time.Duration
	var rawBytes int64
	n := len(w.order)
	const step = 1 << 14
	b.ResetTimer()
	for done := 0; done < b.N; done += step {
		m := min(step, b.N-done)
		before := buf.Stats()
		start := time.Now()
		for i := done; i < done+m; i++ {
			round, at := i/n, i%n
			if err := buf.Insert(uint64(round*n+w.order[at]), w.items[w.order[at]]); err != nil {
				b.Fatal(err)
			}
			if out, err = buf.DrainReady(out[:0]); err != nil {
				b.Fatal(err)
			}
		}
		tBuf += time.Since(start)
		s := buf.Stats()
		wrote, read := s.BytesWritten-before.BytesWritten, s.BytesRead-before.BytesRead
		start = time.Now()
		if err := rawWriteRead(raw, chunk, wrote, read); err != nil {
			b.Fatal(err)
		}
		tRaw += time.Since(start)
		rawBytes += wrote + read
	}
	b.StopTimer()
	s := buf.Stats()
	traffic := float64(s.BytesWritten+s.BytesRead) / tBuf.Seconds()
	rawRate := float64(rawBytes) / tRaw.Seconds()
	b.ReportMetric(traffic/1e6, "traffic-MB/s")
	b.ReportMetric(rawRate/1e6, "raw-MB/s")
	b.ReportMetric(traffic/rawRate, "of-raw")
	if s.ItemsSpilled > 0 {
		b.ReportMetric(float64(s.WriteCalls)/float64(s.ItemsSpilled), "writes/spilled-item")
		b.ReportMetric(float64(s.ReadCalls)/float64(s.ItemsSpilled), "reads/spilled-item")
	}
}

// rawWriteRead writes wrote bytes to f from offset 0 in len(chunk) calls,
// then reads read bytes back, cycling over what was written.
func rawWriteRead(f *os.File, chunk []byte, wrote, read int64) error {
	for off := int64(0); off < wrote; {
		n, err := f.WriteAt(chunk[:min(int64(len(chunk)), wrote-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	for off := int64(0); off < read; {
		at := off % max(wrote, 1)
		n, err := f.ReadAt(chunk[:min(int64(len(chunk)), read-off, max(wrote, 1)-at)], at)
		if err != nil && n == 0 {
			return err
		}
		off += int64(n)
	}
	return nil
}
