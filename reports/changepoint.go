package reports

// Change points: where a benchmark's level moved over a history of runs,
// found by E-divisive means. See DetectChangePoints.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
)

// ChangePointConfig configures DetectChangePoints. A zero field takes
// DefaultChangePoints' value.
type ChangePointConfig struct {
	// Alpha is the family-wise error rate over all the series tested
	// together: the chance that a change point is reported where
	// nothing changed.
	Alpha float64
	// MinSegment is the fewest points a level may have: a change point
	// needs as many before and after it. One point is an outlier, not a
	// level; three are the fewest whose median ignores one outlier.
	MinSegment int
	// Permutations is the least number of shuffles per test (see
	// DetectChangePoints for when there are more).
	Permutations int
	// Confidence is that of a change's interval, from Resamples
	// bootstrap resamples.
	Confidence float64
	Resamples  int
}

// DefaultChangePoints is the configuration history show uses.
var DefaultChangePoints = ChangePointConfig{
	Alpha:        DefaultAlpha,
	MinSegment:   3,
	Permutations: 999,
	Confidence:   0.95,
	Resamples:    1000,
}

func (c ChangePointConfig) withDefaults() ChangePointConfig {
	d := DefaultChangePoints
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.MinSegment == 0 {
		c.MinSegment = d.MinSegment
	}
	if c.Permutations == 0 {
		c.Permutations = d.Permutations
	}
	if c.Confidence == 0 {
		c.Confidence = d.Confidence
	}
	if c.Resamples == 0 {
		c.Resamples = d.Resamples
	}
	return c
}

// permutations is the number of shuffles per test for m series: enough
// that the smallest p-value is a tenth of the strictest level, Alpha/m.
func (c ChangePointConfig) permutations(m int) int {
	return max(c.Permutations, int(math.Ceil(10*float64(m)/c.Alpha))-1)
}

// ChangePoint is a point of a series where a new level starts.
type ChangePoint struct {
	Series int // index of the series in DetectChangePoints' argument
	Index  int // the first point of the new level
	// Before and After are the segments either side, [start, end):
	// from the previous change point (or the first point) to this one,
	// and from this one to the next (or past the last point).
	Before, After [2]int
	Q             float64 // energy statistic of the split
	P             float64 // permutation p-value of the split
	Level         float64 // the level P was below (see DetectChangePoints)
	// Ratio is the median point of After over that of Before; Lo and
	// Hi bound it with the configured confidence.
	Ratio, Lo, Hi float64
	// Net is the median point of the series' last segment over that of
	// Before: this change with every later one. Lasting says the series
	// ends at a level that differs from Before: this is the last change
	// point, or a permutation test of Before against the last segment
	// passes the strictest level (NetP is its p-value; P for the last
	// change point). A regression that a later change only partly undid
	// is still lasting; one that was reverted is not.
	Net, NetP float64
	Lasting   bool
}

// ErrNotPositive is returned for a series with a value that is not a
// positive number: change points are found on a log scale.
var ErrNotPositive = errors.New("a value is not a positive number")

// DetectChangePoints finds the change points of every series, each a
// benchmark's points in order (a history's entries, oldest first), and
// returns them by series, then index.
//
// It tests each whole series at once with E-divisive means (Matteson and
// James, "A Nonparametric Approach for Multiple Change Point Analysis of
// Multivariate Data", JASA 2014), the method MongoDB's CI uses (Daly et
// al., "Change Point Detection in Software Performance Testing", ICPE
// 2020) and Apache Otava (formerly Hunter) took from it. Comparing each
// run with the one before, as history show did first, misses a slow drift
// (1% a commit is never significant between neighbours) and raises a
// false alarm whenever two neighbours happen to differ.
//
//   - A point is one run's median of one benchmark. Runs of one commit
//     differ by more than their repetitions suggest (the host, the
//     process's memory layout), so the run, not the repetition, is what
//     the test exchanges. Points are compared as logarithms: a change is
//     relative, and a 10% step weighs the same at any scale.
//   - A split τ of a segment is scored by the energy statistic between
//     the m points before τ and the k points from τ up to some later κ:
//     Q = mk/(m+k) · (2/(mk)·Σ|xᵢ-yⱼ| − 1/C(m,2)·Σ|xᵢ-xᵢ'| − 1/C(k,2)·Σ|yⱼ-yⱼ'|),
//     how much farther apart the two sides are than each is within
//     itself. Searching κ too, not only the segment's end, finds a level
//     that moved for a while and came back. The candidate is the τ of the
//     largest Q with m, k ≥ MinSegment.
//   - A permutation test says whether that Q is more than noise: shuffle
//     the segment's points (exchangeable if nothing changed), take the
//     largest Q of the shuffled segment, and count how often it reaches
//     the observed one. The generator is seeded from the segment's
//     values, so a history gives the same answer every time.
//   - A split that passes is kept and both sides are searched again, until
//     no segment has a split that passes or room for one.
//
// Multiplicity. A grid has many benchmarks (16 Engine cells in quick),
// each with its own series and tests. The first test of every series
// forms one family, held by Holm-Bonferroni to Alpha: with nothing
// changed anywhere, the chance of any change point at all is at most
// Alpha, since a series whose first test fails has no other. Later
// splits of a series that did change are held to Alpha/len(series),
// Holm's strictest level. The permutation count is raised until the
// smallest p-value, 1/(shuffles+1), is a tenth of that level.
//
// Magnitude. A change is the ratio of the median point of the segment
// after it to that of the segment before it (each bounded by the
// neighbouring change points or the ends), with a percentile bootstrap
// interval that resamples points, as golang.org/x/perf/benchseries does
// for the Go performance dashboard's ratios. With segments of a few
// points the interval is narrower than it should be: it says how large a
// change is; the permutation test says whether there is one.
//
// Measured on simulated histories (each run the median of 8 repetitions
// with 3% lognormal noise, so runs scatter by about 1.3%): with nothing
// changed, a change point turned up in 2.7% of 1000 grids of 4 series of
// 10 runs, 4.1% of 1000 of 4 series of 20 runs, and 6.5% of 200 of 16
// series of 20 runs (5% expected at most, give or take the sampling).
// Among 4 series of 20 runs, a 10% step in one after run 10 was found at
// run 10 in 200 of 200 grids, and a drift of 1% a run over the last 10
// runs was found within them in 200 of 200. Among 16 series a 5% step was
// found at its run ±1 in 199 of 200, a 3% step in 121 of 200.
//
// Note: the R package ecp compares, at every step, the best splits of all
// segments together; here each segment is tested alone (binary
// segmentation), which finds the same splits for the few changes a
// history holds and keeps each p-value about one segment. Otava replaced
// the permutation test with a t-test for speed; with the dozens of points
// of a history, shuffling is cheap and assumes no distribution.
func DetectChangePoints(series [][]float64, cfg ChangePointConfig) ([]ChangePoint, error) {
	cfg = cfg.withDefaults()
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) {
		return nil, fmt.Errorf("change points: alpha %g is not between 0 and 1", cfg.Alpha)
	}
	if !(cfg.Confidence > 0 && cfg.Confidence < 1) {
		return nil, fmt.Errorf("change points: confidence %g is not between 0 and 1", cfg.Confidence)
	}
	if cfg.MinSegment < 1 || cfg.Permutations < 1 || cfg.Resamples < 1 {
		return nil, fmt.Errorf("change points: MinSegment, Permutations and Resamples must be positive")
	}
	logs := make([][]float64, len(series))
	for j, s := range series {
		logs[j] = make([]float64, len(s))
		for i, v := range s {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("change points: series %d, point %d: %v: %w", j, i, v, ErrNotPositive)
			}
			logs[j][i] = math.Log(v)
		}
	}
	m := len(series)
	d := detector{cfg: cfg, perms: cfg.permutations(m), strict: cfg.Alpha / float64(max(m, 1))}

	// The first split of every series, one family under Holm.
	first := make([]split, m)
	order := make([]int, m)
	for j := range logs {
		first[j] = d.test(logs[j], 0, len(logs[j]))
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(first[a].p, first[b].p) })
	var out []ChangePoint
	for k, j := range order {
		level := cfg.Alpha / float64(m-k)
		if !first[j].ok || first[j].p >= level {
			break
		}
		s := first[j]
		s.level = level
		splits := []split{s}
		x := logs[j]
		splits = d.recurse(x, 0, s.tau, splits)
		splits = d.recurse(x, s.tau, len(x), splits)
		slices.SortFunc(splits, func(a, b split) int { return a.tau - b.tau })
		for i, s := range splits {
			before, after := [2]int{0, s.tau}, [2]int{s.tau, len(x)}
			if i > 0 {
				before[0] = splits[i-1].tau
			}
			if i+1 < len(splits) {
				after[1] = splits[i+1].tau
			}
			ratio, lo, hi := d.ratio(series[j][before[0]:before[1]], series[j][after[0]:after[1]])
			cp := ChangePoint{Series: j, Index: s.tau, Before: before, After: after,
				Q: s.q, P: s.p, Level: s.level, Ratio: ratio, Lo: lo, Hi: hi,
				Net: ratio, NetP: s.p, Lasting: true}
			if last := splits[len(splits)-1].tau; i+1 < len(splits) {
				cp.Net = median(series[j][last:]) / median(series[j][before[0]:before[1]])
				cp.NetP = d.apart(x[before[0]:before[1]], x[last:])
				cp.Lasting = cp.NetP < d.strict
			}
			out = append(out, cp)
		}
	}
	slices.SortFunc(out, func(a, b ChangePoint) int {
		if a.Series != b.Series {
			return a.Series - b.Series
		}
		return a.Index - b.Index
	})
	return out, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type detector struct {
	cfg    ChangePointConfig
	perms  int     // shuffles per test
	strict float64 // Alpha over the number of series
}

// split is a candidate change point of a segment and its test.
type split struct {
	ok    bool // the segment had room for a split
	tau   int  // index in the whole series
	q, p  float64
	level float64
}

// recurse appends the splits that pass in x[a:b], and in the segments
// they make, each held to Holm's strictest level.
func (d *detector) recurse(x []float64, a, b int, splits []split) []split {
	s := d.test(x, a, b)
	if !s.ok || s.p >= d.strict {
		return splits
	}
	s.level = d.strict
	splits = append(splits, s)
	splits = d.recurse(x, a, s.tau, splits)
	return d.recurse(x, s.tau, b, splits)
}

// test finds the best split of x[a:b] and its permutation p-value.
func (d *detector) test(x []float64, a, b int) split {
	seg := x[a:b]
	ms := d.cfg.MinSegment
	if len(seg) < 2*ms {
		return split{}
	}
	var e energy
	e.load(seg)
	tau, q := e.best(ms)
	p := d.permute(seg, q, func(e *energy) float64 {
		_, q := e.best(ms)
		return q
	})
	return split{ok: true, tau: a + tau, q: q, p: p}
}

// apart is the permutation p-value of the energy statistic between two
// segments.
func (d *detector) apart(a, b []float64) float64 {
	x := append(slices.Clone(a), b...)
	var e energy
	e.load(x)
	return d.permute(x, e.q(0, len(a), len(x)), func(e *energy) float64 {
		return e.q(0, len(a), len(x))
	})
}

// permute returns the p-value of statistic q of the points x: how often
// stat of them shuffled reaches q, the observed one counted too. Once the
// p-value cannot end below Alpha, no level here can pass it, and it stops
// early with the estimate from the shuffles done: most series, where
// nothing changed, take a tenth of the shuffles.
func (d *detector) permute(x []float64, q float64, stat func(*energy) float64) float64 {
	rng := rand.New(seedFrom(x))
	y := slices.Clone(x)
	var e energy
	reached, done := 0, 0
	for done < d.perms && float64(reached+1) <= d.cfg.Alpha*float64(d.perms+1) {
		rng.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
		e.load(y)
		// The same points in another order sum in another order: allow
		// for rounding, so that a tie counts as reaching q.
		if stat(&e) >= q-1e-12*math.Abs(q) {
			reached++
		}
		done++
	}
	return float64(reached+1) / float64(done+1)
}

// energy holds the distances between the points of a segment as 2-D
// prefix sums, so that the energy statistic of any split is a few
// lookups: O(n²) a segment for every split and κ, not O(n⁴).
type energy struct {
	n   int
	sum []float64 // sum[i*(n+1)+j]: distances between points [0,i) and [0,j)
}

func (e *energy) load(x []float64) {
	n, w := len(x), len(x)+1
	e.n = n
	if cap(e.sum) < w*w {
		e.sum = make([]float64, w*w)
	}
	e.sum = e.sum[:w*w]
	clear(e.sum[:w])
	for i := 1; i <= n; i++ {
		e.sum[i*w] = 0
		for j := 1; j <= n; j++ {
			e.sum[i*w+j] = math.Abs(x[i-1]-x[j-1]) + e.sum[(i-1)*w+j] + e.sum[i*w+j-1] - e.sum[(i-1)*w+j-1]
		}
	}
}

// block sums the distances between points [a,b) and points [c,d).
func (e *energy) block(a, b, c, d int) float64 {
	w := e.n + 1
	return e.sum[b*w+d] - e.sum[a*w+d] - e.sum[b*w+c] + e.sum[a*w+c]
}

// q is the energy statistic between points [a,τ) and [τ,κ). A block of
// a segment with itself counts every pair twice, hence no factor 2.
func (e *energy) q(a, tau, kappa int) float64 {
	m, k := float64(tau-a), float64(kappa-tau)
	v := 2 * e.block(a, tau, tau, kappa) / (m * k)
	if m > 1 {
		v -= e.block(a, tau, a, tau) / (m * (m - 1))
	}
	if k > 1 {
		v -= e.block(tau, kappa, tau, kappa) / (k * (k - 1))
	}
	return m * k / (m + k) * v
}

// best returns the split τ of the loaded points with the largest
// statistic between [0,τ) and [τ,κ) for any κ, each at least ms points,
// and that statistic.
func (e *energy) best(ms int) (int, float64) {
	bestTau, best := 0, math.Inf(-1)
	for tau := ms; tau+ms <= e.n; tau++ {
		for kappa := tau + ms; kappa <= e.n; kappa++ {
			if q := e.q(0, tau, kappa); q > best {
				bestTau, best = tau, q
			}
		}
	}
	return bestTau, best
}

// seedFrom seeds a generator from a segment's values: the same segment
// always gets the same shuffles.
func seedFrom(seg []float64) rand.Source {
	h := fnv.New64a()
	var b [8]byte
	for _, v := range seg {
		u := math.Float64bits(v)
		for i := range b {
			b[i] = byte(u >> (8 * i))
		}
		h.Write(b[:])
	}
	s := h.Sum64()
	return rand.NewPCG(s, s^0x9e3779b97f4a7c15)
}

// ratio is median(after)/median(before) with a percentile bootstrap
// interval: each side resampled, with replacement, as a whole.
func (d *detector) ratio(before, after []float64) (center, lo, hi float64) {
	center = median(after) / median(before)
	rng := rand.New(seedFrom(append(slices.Clone(before), after...)))
	rb, ra := make([]float64, len(before)), make([]float64, len(after))
	ratios := make([]float64, d.cfg.Resamples)
	for i := range ratios {
		for k := range rb {
			rb[k] = before[rng.IntN(len(before))]
		}
		for k := range ra {
			ra[k] = after[rng.IntN(len(after))]
		}
		ratios[i] = sortedMedian(ra) / sortedMedian(rb)
	}
	slices.Sort(ratios)
	tail := (1 - d.cfg.Confidence) / 2
	return center, quantile(ratios, tail), quantile(ratios, 1-tail)
}

// sortedMedian sorts xs in place and returns its median.
func sortedMedian(xs []float64) float64 {
	slices.Sort(xs)
	if n := len(xs); n%2 == 1 {
		return xs[n/2]
	}
	n := len(xs)
	return (xs[n/2-1] + xs[n/2]) / 2
}
