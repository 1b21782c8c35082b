package reports

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/aclements/go-moremath/stats"
)

// DefaultPower is the probability with which a minimum detectable change
// is detected: the usual 80%.
const DefaultPower = 0.8

// MinDetectable returns the smallest relative change (0.021 for 2.1%) that
// a Mann-Whitney U test at level alpha, the test benchstat and compare
// use, would detect with probability power when comparing n1 new values
// with n2 old ones whose noise is like the noise in old and cur. It
// returns +Inf when no change could be significant: samples that small
// cannot reach alpha, or a sample has nothing to judge its noise by.
//
// A `~` in a comparison means "not significant", not "no change"; the
// minimum detectable change says how large a change the run could have
// missed. Reports print it beside every interval.
//
// The noise is taken from the samples themselves, making no assumption
// about its shape (benchmark noise is skewed: interference only ever adds
// time): each value relative to its sample's median, pooled from both
// sides, and resampled with a little Gaussian smoothing (a smoothed
// bootstrap, variance-corrected), so that resampling does not invent ties. The same draws
// serve every change tried, so the power grows with the change and a
// bisection finds the smallest change that reaches it. The draws come
// from a fixed seed: one set of samples always gives one answer.
func MinDetectable(old, cur []float64, alpha, power float64) float64 {
	n1, n2 := len(old), len(cur)
	if n1 < 2 || n2 < 2 || MinPValue(n1, n2) >= alpha {
		return math.Inf(1)
	}
	a, okA := relativeNoise(old)
	b, okB := relativeNoise(cur)
	if !okA || !okB {
		return math.Inf(1) // a median of zero: no relative change to speak of
	}
	noise := append(a, b...)
	if !slices.ContainsFunc(noise, func(e float64) bool { return e != 0 }) {
		return 0 // no noise at all: any change shows
	}
	draw := smoothedBootstrap(noise, rand.New(rand.NewPCG(0x6d64, uint64(n1)<<32|uint64(n2))))
	lo, hi := uCritical(n1, n2, alpha)
	const trials = 400
	type trial struct{ a, b []float64 }
	ts := make([]trial, trials)
	sample := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 1 + draw()
		}
		slices.Sort(xs)
		return xs
	}
	for i := range ts {
		ts[i] = trial{sample(n1), sample(n2)}
	}
	return smallestDetected(power, func(change float64) float64 {
		hits := 0
		for _, t := range ts {
			if u := uStatistic(t.a, t.b, 1+change); u <= lo || u >= hi {
				hits++
			}
		}
		return float64(hits) / trials
	})
}

// smoothedBootstrap returns a sampler of noise like the noise given: a
// value drawn from it plus a little Gaussian smoothing, shrunk about the
// mean so that the smoothing does not widen it (the variance-corrected
// smoothed bootstrap).
func smoothedBootstrap(noise []float64, r *rand.Rand) func() float64 {
	bw := bandwidth(noise)
	ns := stats.Sample{Xs: noise}
	mean, v := ns.Mean(), ns.Variance()
	shrink := 1.0
	if v > 0 {
		shrink = 1 / math.Sqrt(1+bw*bw/v)
	}
	return func() float64 {
		e := noise[r.IntN(len(noise))] + bw*r.NormFloat64()
		return mean + (e-mean)*shrink
	}
}

// smallestDetected returns the smallest relative change whose detection
// rate reaches power, to a tenth of a percent of itself: it brackets by
// doubling from 1%, then bisects. detected must grow with the change
// (the same draws serve every change tried). +Inf if no change up to
// 100x is detected often enough.
func smallestDetected(power float64, detected func(change float64) float64) float64 {
	top := 0.01
	for detected(top) < power {
		if top *= 2; top > 100 {
			return math.Inf(1)
		}
	}
	bottom := 0.0
	for top-bottom > 1e-4 && top-bottom > 1e-3*top {
		mid := (bottom + top) / 2
		if detected(mid) >= power {
			top = mid
		} else {
			bottom = mid
		}
	}
	return top
}

// relativeNoise returns each value's deviation from the median of xs,
// relative to it; false if the median is zero.
func relativeNoise(xs []float64) ([]float64, bool) {
	s := slices.Sorted(slices.Values(xs))
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if m == 0 {
		return nil, false
	}
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = x/m - 1
	}
	return out, true
}

// bandwidth is Silverman's rule of thumb for smoothing the noise: small
// enough to keep its shape, large enough that resampled values tie only
// by chance.
func bandwidth(noise []float64) float64 {
	s := stats.Sample{Xs: noise}
	sd := s.StdDev()
	sorted := slices.Sorted(slices.Values(noise))
	iqr := quantile(sorted, 0.75) - quantile(sorted, 0.25)
	spread := sd
	if iqr > 0 {
		spread = min(sd, iqr/1.34)
	}
	if spread <= 0 || math.IsNaN(spread) {
		return 1e-9
	}
	return 0.9 * spread * math.Pow(float64(len(noise)), -0.2)
}

func quantile(sorted []float64, q float64) float64 {
	i := q * float64(len(sorted)-1)
	lo := int(math.Floor(i))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (i-float64(lo))*(sorted[hi]-sorted[lo])
}

// uStatistic counts the pairs in which a value of b, scaled by f, exceeds
// a value of a (ties count a half). a and b are sorted.
func uStatistic(a, b []float64, f float64) float64 {
	u, i := 0.0, 0
	for _, y := range b {
		y *= f
		for i < len(a) && a[i] < y {
			i++
		}
		u += float64(i)
		for j := i; j < len(a) && a[j] == y; j++ {
			u += 0.5
		}
	}
	return u
}

// uCritical returns the two-sided rejection bounds of the U statistic at
// level alpha: the test rejects when U <= lo or U >= hi. Up to
// go-moremath's exact limit it uses the exact distribution without ties,
// as MannWhitneyUTest does for tie-free samples; above, the normal
// approximation it uses there.
func uCritical(n1, n2 int, alpha float64) (lo, hi float64) {
	type bounds struct{ lo, hi float64 }
	cacheKey := struct {
		n1, n2 int
		alpha  float64
	}{n1, n2, alpha}
	if b, ok := uCriticalCache.Load(cacheKey); ok {
		return b.(bounds).lo, b.(bounds).hi
	}
	nn := float64(n1 * n2)
	if n1 <= stats.MannWhitneyExactLimit && n2 <= stats.MannWhitneyExactLimit {
		d := stats.UDist{N1: n1, N2: n2}
		lo = -1
		for u := 0.0; u <= nn/2; u++ {
			if 2*d.CDF(u) >= alpha {
				break
			}
			lo = u
		}
	} else {
		mean, sd := nn/2, math.Sqrt(nn*float64(n1+n2+1)/12)
		z := stats.StdNormal.InvCDF(alpha / 2)
		lo = math.Floor(mean + z*sd)
	}
	hi = nn - lo
	uCriticalCache.Store(cacheKey, bounds{lo, hi})
	return lo, hi
}

var uCriticalCache sync.Map
