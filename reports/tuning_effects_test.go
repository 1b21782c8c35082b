package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The Hodges-Lehmann interval covers the true shift of normal data about
// 95% of the time, and needs six values to exist at all.
func TestHodgesLehmannIntervalCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const shift, trials = 0.1, 400
	covered := 0
	for range trials {
		d := make([]float64, 30)
		for i := range d {
			d[i] = shift + 0.05*rng.NormFloat64()
		}
		lo, hi := hodgesLehmannInterval(d, 0.05)
		if lo <= math.Exp(shift) && math.Exp(shift) <= hi {
			covered++
		}
	}
	if rate := float64(covered) / trials; rate < 0.92 || rate > 0.98 {
		t.Errorf("the 95%% interval covered the shift in %.1f%% of %d trials", 100*rate, trials)
	}
	if lo, hi := hodgesLehmannInterval([]float64{0.1, 0.2, 0.3, 0.1, 0.2}, 0.05); lo != 0 || !math.IsInf(hi, 1) {
		t.Errorf("five values: interval (%g, %g), want none (0, +Inf)", lo, hi)
	}
}

// effectSet is a tuning-like sweep: in workload fast, item is 10% faster
// than batch in every one of 24 configurations; in workload same, the two
// are alike; every run scatters by 5%.
func effectSet(t *testing.T) *Set {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 3))
	var b strings.Builder
	b.WriteString("Unit items/s better=higher\n")
	for _, w := range []string{"fast", "same"} {
		for _, th := range []string{"4KiB", "16KiB", "64KiB", "256KiB", "1MiB", "4MiB", "16MiB", "64MiB"} {
			for _, workers := range []int{1, 2, 4} {
				for _, g := range []string{"batch", "item"} {
					level := 1e5 * float64(workers)
					if w == "fast" && g == "item" {
						level *= 1.10
					}
					for range 6 {
						fmt.Fprintf(&b, "BenchmarkEngine/workload=%s/threshold=%s/gran=%s/workers=%d/fault=none 1 1e6 ns/op %g items/s\n",
							w, th, g, workers, level*math.Exp(0.05*rng.NormFloat64()))
					}
				}
			}
		}
	}
	return resultSet(t, b.String())
}

// A 10% effect over 24 configurations is real, estimated within its
// interval, and the row beside it with no effect is not; the
// recommendation follows the effect, though cell by cell (6 runs, Holm
// over 48 cells) no single cell could show 10%.
func TestKnobEffectsFindAConsistentShift(t *testing.T) {
	s := effectSet(t)
	effects := knobEffects(s, []string{"fast", "same"})
	if len(effects) != 2 {
		t.Fatalf("%d effects, want item vs batch in two workloads: %+v", len(effects), effects)
	}
	for _, e := range effects {
		if e.cells != 24 || e.key != "gran" || e.alt != "item" || e.base != "batch" {
			t.Errorf("%s: %d configurations of %s %s vs %s, want 24 of gran item vs batch", e.workload, e.cells, e.key, e.alt, e.base)
		}
		switch e.workload {
		case "fast":
			if !e.real || e.lo > 1.10 || e.hi < 1.10 || math.Abs(e.ratio-1.10) > 0.03 || e.faster < 20 {
				t.Errorf("fast: %+v; want a real effect near +10%% whose interval holds it", e)
			}
		case "same":
			if e.real || e.lo > 1 || e.hi < 1 {
				t.Errorf("same: %+v; want no real effect, its interval holding no change", e)
			}
		}
		if math.IsInf(e.sees, 1) || e.sees > 0.10 {
			t.Errorf("%s: the effect table could see only %v", e.workload, e.sees)
		}
	}
	rec := knobRecommendation(s, effects, "gran", "batch", "granularity")
	if rec[1] != "item" || !strings.Contains(rec[2], "really faster by more than 5% in 1 workloads, really slower in 0") {
		t.Errorf("recommendation %q", rec)
	}
	var d doc
	effectSection(&d, effects)
	md := string(d.markdown())
	if !strings.Contains(md, "| item vs batch | fast | 24 | +9") || !strings.Contains(md, "| **yes** |") {
		t.Errorf("the Knob effects table:\n%s", md)
	}
}
