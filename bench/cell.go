package bench

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/spill"
)

// Kind is what a cell measures.
type Kind string

const (
	// KindEngine runs the whole pipeline with the spill buffer.
	KindEngine Kind = "Engine"
	// KindRing runs the same workload through the bare in-memory ring:
	// the limit of the no-spill path.
	KindRing Kind = "Ring"
	// KindRawFS writes and reads back, sequentially, as many bytes as an
	// engine cell spilled, in the same kind of spill directory: the
	// filesystem's limit for the spill path.
	KindRawFS Kind = "RawFS"
)

// Cell is one point of the sweep.
type Cell struct {
	Kind        Kind
	Workload    engine.WorkloadSpec
	Threshold   int64
	Granularity spill.Granularity
	Compression spill.Compression
	Reclaim     spill.Reclaim
	Backend     Backend
	Workers     int
	Ring        int
	Schedule    engine.Schedule
	Fault       FaultSpec
	// Target and Input are an external cell's (KindExternal, and the
	// RawFS limit measured beside it); nil for the engine's.
	Target *Target
	Input  *Input
}

// Keys returns the cell's name keys and values in name order.
func (c Cell) Keys() [][2]string {
	if c.Target != nil {
		return c.externalKeys()
	}
	keys := [][2]string{{"workload", c.Workload.Name}}
	if c.Kind != KindRing {
		keys = append(keys,
			[2]string{"threshold", spill.FormatSize(c.Threshold)},
			[2]string{"gran", c.Granularity.String()},
			[2]string{"comp", c.Compression.String()},
			[2]string{"reclaim", c.Reclaim.String()},
			[2]string{"backend", string(c.Backend)})
	}
	keys = append(keys,
		[2]string{"workers", strconv.Itoa(c.Workers)},
		[2]string{"ring", strconv.Itoa(c.Ring)},
		[2]string{"schedule", c.Schedule.String()})
	if c.Kind != KindRing {
		keys = append(keys, [2]string{"fault", c.Fault.String()})
	}
	return keys
}

// Name is the cell's benchmark name without the "Benchmark" prefix:
// Engine/workload=mix/threshold=64KiB/gran=batch/.../fault=none. The
// /key=value parts are what benchproc and benchstat project on.
func (c Cell) Name() string {
	var b strings.Builder
	b.WriteString(string(c.Kind))
	for _, kv := range c.Keys() {
		fmt.Fprintf(&b, "/%s=%s", kv[0], kv[1])
	}
	return b.String()
}

// Policy returns the spill policy of an engine cell, before an injector
// adds its directory or FS wrapper.
func (c Cell) Policy(dir string) *spill.Policy {
	p := &spill.Policy{Threshold: c.Threshold, Granularity: c.Granularity, Compression: c.Compression, Reclaim: c.Reclaim}
	switch c.Backend {
	case BackendDir:
		p.Dir = dir
	case BackendMemory:
		p.InMemoryOnly = true
	}
	return p
}

// Cells expands a spec to its engine cells, in a fixed order (the axes'
// order, each axis in the order the spec lists its values), followed by a
// ring cell for each distinct workload, workers and ring capacity.
func (s *Spec) Cells() []Cell {
	if s.Target != nil {
		return s.externalCells()
	}
	var cells []Cell
	for _, w := range s.Workloads {
		for _, t := range s.Thresholds {
			for _, g := range s.Granularity {
				for _, c := range s.Compression {
					for _, r := range s.Reclaim {
						for _, b := range s.Backends {
							for _, n := range s.Workers {
								for _, ring := range s.Rings {
									for _, sc := range s.Schedules {
										for _, f := range s.Faults {
											if len(f.Workloads) > 0 && !slices.Contains(f.Workloads, w.Name) ||
												len(f.Thresholds) > 0 && !slices.Contains(f.Thresholds, t) {
												continue
											}
											cells = append(cells, Cell{Kind: KindEngine, Workload: w, Threshold: t, Granularity: g,
												Compression: c, Reclaim: r, Backend: b, Workers: n, Ring: ring, Schedule: sc, Fault: f})
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, w := range s.Workloads {
		for _, n := range s.Workers {
			for _, ring := range s.Rings {
				for _, sc := range s.Schedules {
					c := Cell{Kind: KindRing, Workload: w, Workers: n, Ring: ring, Schedule: sc}
					if !seen[c.Name()] {
						seen[c.Name()] = true
						cells = append(cells, c)
					}
				}
			}
		}
	}
	return cells
}

// Shard is the part i (counting from 0) of n a run covers.
type Shard struct{ I, N int }

// ParseShard reads "i/n" with 0 <= i < n.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: write i/n with 0 <= i < n, such as 0/4", s)
	}
	return Shard{i, n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// Has reports whether the shard runs the cell. The choice hashes the
// cell's name, so it does not depend on the order of cells or on the rest
// of the spec, and the shards of a sweep partition its cells.
func (s Shard) Has(c Cell) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(c.Name()))
	return int(h.Sum64()%uint64(s.N)) == s.I
}

// ShardCells returns the cells of spec that shard s runs. A shard that
// runs none is an error: a sweep that measured nothing must not pass
// for a complete one (with more shards than cells some shards are
// always empty, and hashing can leave one empty with fewer).
func ShardCells(spec *Spec, s Shard) ([]Cell, error) {
	all := spec.Cells()
	var cells []Cell
	for _, c := range all {
		if s.Has(c) {
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		return nil, fmt.Errorf("shard %s selects none of the spec's %d cells (a cell's shard is a hash of its name); use fewer shards", s, len(all))
	}
	return cells, nil
}
