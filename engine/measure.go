package engine

import (
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// Runtime metrics the sampler reads; all are cheap and stop nothing.
const (
	metricHeapObjects = "/memory/classes/heap/objects:bytes"
	metricAllocs      = "/gc/heap/allocs:objects"
	metricAllocBytes  = "/gc/heap/allocs:bytes"
)

// sampler tracks the peak Go heap and process RSS of a run by sampling them
// every interval, and the allocations between start and stop.
type sampler struct {
	stop chan struct{}
	done sync.WaitGroup

	samples         []metrics.Sample
	allocs0, bytes0 uint64

	// Written by the sampling goroutine until stop; read after.
	peakHeap uint64
	peakRSS  int64
	hwmReset bool
}

func startSampler(every time.Duration) *sampler {
	s := &sampler{
		stop: make(chan struct{}),
		samples: []metrics.Sample{
			{Name: metricHeapObjects}, {Name: metricAllocs}, {Name: metricAllocBytes},
		},
	}
	// The kernel's RSS high-water mark catches peaks between samples; it
	// is process-wide, so reset it for this run where the kernel allows.
	s.hwmReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	s.read()
	s.allocs0, s.bytes0 = s.samples[1].Value.Uint64(), s.samples[2].Value.Uint64()
	s.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.read()
			select {
			case <-t.C:
			case <-s.stop:
				return
			}
		}
	})
	return s
}

// read takes one sample of heap and RSS.
func (s *sampler) read() {
	metrics.Read(s.samples)
	s.peakHeap = max(s.peakHeap, s.samples[0].Value.Uint64())
	if rss, err := statusField("VmRSS:"); err == nil {
		s.peakRSS = max(s.peakRSS, rss)
	}
}

// measurement is what the sampler saw.
type measurement struct {
	peakHeap           uint64
	peakRSS            int64
	allocs, allocBytes uint64
}

// finish stops sampling and returns the peaks and allocation counts.
func (s *sampler) finish() measurement {
	close(s.stop)
	s.done.Wait()
	s.read()
	if s.hwmReset {
		if hwm, err := statusField("VmHWM:"); err == nil {
			s.peakRSS = max(s.peakRSS, hwm)
		}
	}
	return measurement{
		peakHeap:   s.peakHeap,
		peakRSS:    s.peakRSS,
		allocs:     s.samples[1].Value.Uint64() - s.allocs0,
		allocBytes: s.samples[2].Value.Uint64() - s.bytes0,
	}
}

// statusField returns a "kB" field of /proc/self/status in bytes.
func statusField(name string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte(name))
	if i < 0 {
		return 0, os.ErrNotExist
	}
	f := bytes.Fields(b[i+len(name):])
	if len(f) < 2 {
		return 0, os.ErrNotExist
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	return kb << 10, err
}
