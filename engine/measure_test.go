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
