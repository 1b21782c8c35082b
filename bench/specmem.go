package bench

import (
	"bufio"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/spillbench/spillbench/spill"
)

// A spec's memory, estimated before anything runs: a sweep that cannot
// fit in the machine's memory is refused with the field to change,
// instead of dying of "fatal error: out of memory" with mounts still up.
//
// A sweep keeps every workload it prepares (each generated once, with
// what its results must say), and a cell adds its reorder ring (a slot
// per sequence number of the window, allocated whole) and the results
// it buffers: the spill threshold's worth, or with the memory backend
// the whole window's. The collector lets the heap grow to
// (1 + GOGC/100) times what is live.

// workloadBytes is what a prepared workload holds, on average, per item
// at scale 1 (targets, bases and reasons, from the size distributions of
// engine/workload.go), and once (hol's one large item, target and basis).
// TestWorkloadBytesMatchTheGenerators holds them to the generators.
var workloadBytes = map[string]struct{ perItem, once float64 }{
	"mix":  {perItem: 2080 + 100},               // target 64..4096 B; a reason for 3 in 10
	"tree": {perItem: 69849 * 1.95},             // shape 256 B..4 MiB; 19 in 20 have a basis of its size
	"hol":  {perItem: 4608, once: 2 * 24 << 20}, // 1..8 KiB; one 24 MiB basis and target
	"bulk": {perItem: 557056},                   // 64 KiB..1 MiB
}

const (
	// itemOverhead is a prepared item's bookkeeping beyond its bytes.
	itemOverhead = 256
	// ringSlotBytes is a reorder ring slot of the engine's results.
	// TestRingSlotBytes holds it to the ring's allocation.
	ringSlotBytes = 128
	// baseBytes is the process itself: runtime, binary, profiles.
	baseBytes = 64 << 20
	// spoolBytes is what the spooled backend keeps in memory at most.
	spoolBytes = 1 << 20
)

// workloadMemory is the estimated bytes of a prepared workload.
func workloadMemory(name string, items int, scale float64) float64 {
	if scale == 0 {
		scale = 1
	}
	w := workloadBytes[name]
	n := float64(itemsOf(name, items))
	return n*(w.perItem*scale+itemOverhead) + w.once*scale
}

// defaultItems are the engine's item counts of a workload spec that
// gives none (engine.NewWorkload).
var defaultItems = map[string]int{"mix": 20000, "tree": 2000, "hol": 4000, "bulk": 200}

// ringMemory is the bytes of a reorder ring of capacity n: its slots
// are a power of two.
func ringMemory(n int) float64 {
	if n <= 1 {
		return ringSlotBytes
	}
	return math.Ldexp(ringSlotBytes, bits.Len(uint(n-1)))
}

// checkMemory refuses a spec whose estimated peak exceeds total bytes,
// naming the value that weighs most: the largest workload, or the ring
// or threshold of the largest cell. total 0 checks nothing.
func (p *specParser) checkMemory(total int64) error {
	s := p.s
	if total <= 0 {
		return nil
	}
	gc := 2.0
	if s.GOGC > 0 {
		gc = 1 + float64(s.GOGC)/100
	}
	var prepared, biggest float64
	big := -1
	for i, w := range s.Workloads {
		m := workloadMemory(w.Name, w.Items, w.Scale)
		prepared += m
		if m > biggest {
			biggest, big = m, i
		}
	}
	var cell, ringPart float64
	ringAt := -1
	for i, r := range s.Rings {
		for _, w := range s.Workloads {
			items := float64(itemsOf(w.Name, w.Items))
			mean := workloadMemory(w.Name, w.Items, w.Scale) / max(items, 1)
			window := min(float64(r), items) * mean
			buffered := window
			if !onlyMemoryBackend(s) {
				buffered = min(window, float64(maxThreshold(s))+spoolBytes)
			}
			if c := ringMemory(r) + buffered; c > cell {
				cell, ringPart, ringAt = c, ringMemory(r), i
			}
		}
	}
	need := (prepared+cell)*gc + baseBytes
	if need <= float64(total) {
		return nil
	}
	have := fmt.Sprintf("this machine has %s (MemTotal in /proc/meminfo)", humanBytes(float64(total)))
	if ringAt >= 0 && ringPart >= biggest {
		return p.errorf(p.nodeAt(p.ringLines, ringAt), "ring %d: a sweep with it needs about %s of memory and %s; give a smaller ring, such as 1024",
			s.Rings[ringAt], humanBytes(need), have)
	}
	if big >= 0 {
		w := s.Workloads[big]
		return p.errorf(p.nodeAt(p.workloadLines, big), "workload %s (items %d, scale %g): a sweep with it needs about %s of memory and %s; give fewer items or a smaller scale",
			w.Name, w.Items, w.Scale, humanBytes(need), have)
	}
	return p.errorf(p.root, "the sweep needs about %s of memory and %s; give smaller workloads, rings or thresholds", humanBytes(need), have)
}

// nodeAt is nodes[i], or the spec's root for a value the spec left to
// its default.
func (p *specParser) nodeAt(nodes []*yaml.Node, i int) *yaml.Node {
	if i < len(nodes) {
		return nodes[i]
	}
	return p.root
}

// itemsOf is a workload's item count: items, or its default for 0.
func itemsOf(name string, items int) int {
	if items == 0 {
		return defaultItems[name]
	}
	return items
}

// onlyMemoryBackend reports whether every cell keeps its results in
// memory only.
func onlyMemoryBackend(s *Spec) bool {
	for _, b := range s.Backends {
		if b != BackendMemory {
			return false
		}
	}
	return true
}

func maxThreshold(s *Spec) int64 {
	m := int64(spill.DefaultThreshold)
	if len(s.Thresholds) > 0 {
		m = 0
	}
	for _, t := range s.Thresholds {
		m = max(m, t)
	}
	return m
}

// humanBytes writes n bytes in binary units.
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for ; n >= 1024 && i < len(units)-1; i++ {
		n /= 1024
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// MachineMemory is the machine's memory in bytes, MemTotal of
// /proc/meminfo, or 0 where it cannot be read (no check is made then).
var MachineMemory = sync.OnceValue(func() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseMemTotal(bufio.NewScanner(f))
})

// parseMemTotal reads the MemTotal line of /proc/meminfo, in kB.
func parseMemTotal(sc *bufio.Scanner) int64 {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil || kb <= 0 {
			return 0
		}
		return kb << 10
	}
	return 0
}
