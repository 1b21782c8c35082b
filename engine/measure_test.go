package engine

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// Every sample reads the process's resident set, not only the final
// high-water mark.
func TestSamplerReadsTheResidentSet(t *testing.T) {
	one := &sampler{samples: []metrics.Sample{{Name: metricHeapObjects}, {Name: metricAllocs}, {Name: metricAllocBytes}}}
	one.read()
	if one.peakRSS <= 0 || one.peakHeap == 0 {
		t.Fatalf("one sample: RSS %d, heap %d", one.peakRSS, one.peakHeap)
	}
	s := startSampler(time.Hour)
	m := s.finish()
	if m.peakRSS <= 0 {
		t.Fatalf("peak RSS %d after two samples", m.peakRSS)
	}
	if m.peakHeap == 0 {
		t.Fatalf("peak heap %d after two samples", m.peakHeap)
	}
}

// A peak between two samples is caught by the kernel's high-water mark,
// which the sampler resets at its start where the kernel allows: 64 MiB
// touched and given back between the first sample and the last shows in
// the peak although no sample saw it.
func TestSamplerCatchesThePeakBetweenSamples(t *testing.T) {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("the RSS high-water mark cannot be reset here (%v): the sampler relies on its samples alone", err)
	}
	f.Close()
	s := startSampler(time.Hour) // one sample at the start, one at the end
	if !s.hwmReset {
		t.Fatal("clear_refs is writable, yet the sampler did not reset the high-water mark")
	}
	const size = 64 << 20
	touch(size)
	debug.FreeOSMemory()
	m := s.finish()
	if m.peakRSS < size {
		t.Fatalf("peak RSS %d MiB; 64 MiB were resident between the samples", m.peakRSS>>20)
	}
}

var sink byte

// touch makes n bytes resident and lets them go.
func touch(n int) {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	sink = b[n-1]
}

var keep [][]byte

// allocate makes n allocations of 64 bytes, kept until the next call.
func allocate(n int) {
	keep = make([][]byte, 0, n)
	for range n {
		keep = append(keep, make([]byte, 64))
	}
}

// The sampler counts the allocations between its start and its finish,
// not those before. The runtime's counters flush lazily, so the bounds
// allow a few percent.
func TestSamplerCountsTheRunsAllocations(t *testing.T) {
	allocate(200000) // before the start: not the run's
	s := startSampler(time.Hour)
	allocate(100000)
	m := s.finish()
	keep = nil
	if m.allocs < 90000 || m.allocs > 110000 || m.allocBytes < 90000*64 || m.allocBytes > 110000*64+(2<<20) {
		t.Fatalf("100000 allocations of 64 bytes counted as %d allocations, %d bytes", m.allocs, m.allocBytes)
	}
}
