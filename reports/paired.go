package reports

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/aclements/go-moremath/stats"
)

// Paired comparison. When two result directories were run interleaved
// (spillbench ab and calibrate take turns repetition by repetition), the
// i-th repetitions of a cell on the two sides ran moments apart, and a
// slow period of the host falls on both. Comparing the two samples as
// independent, as benchstat must for runs made at different times, lets
// that drift widen both intervals; comparing the pairs takes it out. In
// interleaved quick sweeps on a 2-core VM the spread of the paired log
// ratios was a third to a half of what the unpaired comparison sees.
//
// The test is Wilcoxon's signed-rank test on the log ratios new/old of
// the pairs: it assumes only that, with nothing changed, a ratio is as
// likely above 1 as below (the sides take turns going first). The change
// is the Hodges-Lehmann estimate of the ratio: the median of the
// pairwise means of the log ratios.

// logRatios returns log(cur[i]/old[i]) for the pairs, or false if a value
// is not positive.
func logRatios(old, cur []float64) ([]float64, bool) {
	if len(old) != len(cur) {
		return nil, false
	}
	d := make([]float64, len(old))
	for i := range old {
		if old[i] <= 0 || cur[i] <= 0 || math.IsInf(old[i], 0) || math.IsInf(cur[i], 0) {
			return nil, false
		}
		d[i] = math.Log(cur[i] / old[i])
	}
	return d, true
}

// signedRank returns Wilcoxon's statistic W+ of d (the sum of the ranks
// of |d| over the positive differences; zeros dropped, ties given their
// average rank), the number of non-zero differences, and whether any of
// their magnitudes tie.
func signedRank(d []float64) (w float64, n int, ties bool) {
	type diff struct {
		abs float64
		pos bool
	}
	var ds []diff
	for _, x := range d {
		if x != 0 {
			ds = append(ds, diff{math.Abs(x), x > 0})
		}
	}
	slices.SortFunc(ds, func(a, b diff) int {
		switch {
		case a.abs < b.abs:
			return -1
		case a.abs > b.abs:
			return 1
		}
		return 0
	})
	for i := 0; i < len(ds); {
		j := i
		for j < len(ds) && ds[j].abs == ds[i].abs {
			j++
		}
		if j-i > 1 {
			ties = true
		}
		rank := float64(i+j+1) / 2 // the average of ranks i+1..j
		for k := i; k < j; k++ {
			if ds[k].pos {
				w += rank
			}
		}
		i = j
	}
	return w, len(ds), ties
}

// signedRankExactLimit is the largest number of pairs whose null
// distribution signedRankP computes exactly (ties included); beyond it,
// it uses the normal approximation.
const signedRankExactLimit = 50

// signedRankCounts is the distribution of W+ for n pairs with no ties:
// P(W+ = s) for s from 0 to n(n+1)/2, each of the 2^n sign assignments
// equally likely.
func signedRankCounts(n int) []float64 {
	if v, ok := signedRankCache.Load(n); ok {
		return v.([]float64)
	}
	ranks := make([]int, n)
	for i := range ranks {
		ranks[i] = i + 1
	}
	c := signedRankCountsOf(ranks)
	signedRankCache.Store(n, c)
	return c
}

var signedRankCache sync.Map

// signedRankP is the two-sided p-value of Wilcoxon's signed-rank test of
// d against a median of zero. Up to signedRankExactLimit non-zero
// differences it is exact, ties included (the distribution of W+ given
// the tied ranks); beyond, the normal approximation with the tie and
// continuity corrections.
func signedRankP(d []float64) float64 {
	w, n, _ := signedRank(d)
	if n == 0 {
		return 1
	}
	if n <= signedRankExactLimit {
		p := signedRankCountsOf(doubledRanks(d))
		k := int(math.Round(2 * w))
		lo, hi := 0.0, 0.0 // P(W+ <= w), P(W+ >= w)
		for s, q := range p {
			if s <= k {
				lo += q
			}
			if s >= k {
				hi += q
			}
		}
		return math.Min(1, 2*math.Min(lo, hi))
	}
	nf := float64(n)
	mean := nf * (nf + 1) / 4
	v := nf * (nf + 1) * (2*nf + 1) / 24
	v -= tieCorrection(d) / 48
	if v <= 0 {
		return 1
	}
	z := (math.Abs(w-mean) - 0.5) / math.Sqrt(v)
	if z < 0 {
		return 1
	}
	return math.Min(1, 2*(1-stats.StdNormal.CDF(z)))
}

// doubledRanks returns twice the (average) ranks of the non-zero
// magnitudes of d: integers, even with ties.
func doubledRanks(d []float64) []int {
	var abs []float64
	for _, x := range d {
		if x != 0 {
			abs = append(abs, math.Abs(x))
		}
	}
	slices.Sort(abs)
	var r2 []int
	for i := 0; i < len(abs); {
		j := i
		for j < len(abs) && abs[j] == abs[i] {
			j++
		}
		for range j - i {
			r2 = append(r2, i+j+1) // twice the average of ranks i+1..j
		}
		i = j
	}
	return r2
}

// signedRankCountsOf is the distribution of the sum of the ranks that are
// positive when each is, or is not, with probability one half: of W+
// itself for ranks 1..n, of twice W+ for doubled ranks.
func signedRankCountsOf(ranks2 []int) []float64 {
	top := 0
	for _, r := range ranks2 {
		top += r
	}
	c := make([]float64, top+1)
	c[0] = 1
	for _, r := range ranks2 {
		for s := top; s >= r; s-- {
			c[s] += c[s-r]
		}
	}
	total := math.Ldexp(1, len(ranks2))
	for i := range c {
		c[i] /= total
	}
	return c
}

// tieCorrection is the sum over groups of tied non-zero magnitudes of
// t^3 - t.
func tieCorrection(d []float64) float64 {
	var abs []float64
	for _, x := range d {
		if x != 0 {
			abs = append(abs, math.Abs(x))
		}
	}
	slices.Sort(abs)
	sum := 0.0
	for i := 0; i < len(abs); {
		j := i
		for j < len(abs) && abs[j] == abs[i] {
			j++
		}
		t := float64(j - i)
		sum += t*t*t - t
		i = j
	}
	return sum
}

// signedRankCritical returns the two-sided rejection bounds of W+ for n
// tie-free pairs at level alpha (reject when W+ <= lo or W+ >= hi); lo is
// -1 when no outcome is extreme enough.
func signedRankCritical(n int, alpha float64) (lo, hi float64) {
	top := float64(n * (n + 1) / 2)
	if n > signedRankExactLimit {
		mean, sd := top/2, math.Sqrt(float64(n*(n+1)*(2*n+1))/24)
		lo = math.Floor(mean + stats.StdNormal.InvCDF(alpha/2)*sd)
		return lo, top - lo
	}
	p := signedRankCounts(n)
	lo, cum := -1, 0.0
	for s, q := range p {
		if cum += q; 2*cum >= alpha { // the test rejects at p < alpha
			break
		}
		lo = float64(s)
	}
	return lo, top - lo
}

// hodgesLehmann is the median of the pairwise means (Walsh averages) of
// d: the location estimate that goes with the signed-rank test.
func hodgesLehmann(d []float64) float64 {
	var walsh []float64
	for i := range d {
		for j := i; j < len(d); j++ {
			walsh = append(walsh, (d[i]+d[j])/2)
		}
	}
	slices.Sort(walsh)
	m := len(walsh)
	if m%2 == 1 {
		return walsh[m/2]
	}
	return (walsh[m/2-1] + walsh[m/2]) / 2
}

// MinDetectablePaired is MinDetectable for a paired comparison: the
// smallest relative change that the signed-rank test at level alpha
// would detect with probability power in n pairs whose log ratios scatter
// as d's do about their center. The scatter is resampled as
// MinDetectable resamples noise (a variance-corrected smoothed
// bootstrap, from a fixed seed).
func MinDetectablePaired(d []float64, alpha, power float64) float64 {
	n := len(d)
	if n < 2 {
		return math.Inf(1)
	}
	lo, hi := signedRankCritical(n, alpha)
	if lo < 0 {
		return math.Inf(1) // too few pairs for any result to reach alpha
	}
	center := hodgesLehmann(d)
	noise := make([]float64, n)
	for i, x := range d {
		noise[i] = x - center
	}
	if !slices.ContainsFunc(noise, func(e float64) bool { return e != 0 }) {
		return 0
	}
	// The null is scatter symmetric about no change, which is what the
	// signed-rank test assumes: the scatter is mirrored about the center.
	// Subtracting the mean instead leaves a skewed scatter whose median
	// is not zero, and with a hundred pairs the test rejects it unshifted.
	for _, e := range noise[:n] {
		noise = append(noise, -e)
	}
	draw := smoothedBootstrap(noise, rand.New(rand.NewPCG(0x7061, uint64(n))))
	const trials = 400
	draws := make([][]float64, trials)
	for t := range draws {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = draw()
		}
		draws[t] = xs
	}
	shifted := make([]float64, n)
	return smallestDetected(power, func(change float64) float64 {
		s := math.Log1p(change)
		hits := 0
		for _, xs := range draws {
			for i, x := range xs {
				shifted[i] = x + s
			}
			if w, _, _ := signedRank(shifted); w <= lo || w >= hi {
				hits++
			}
		}
		return float64(hits) / trials
	})
}
