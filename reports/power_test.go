package reports

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/perf/benchmath"
)

// TestUCriticalAgreesWithTheUTest checks the rejection bounds against the
// test compare runs: on tie-free samples, U falls outside the bounds
// exactly when benchmath's Mann-Whitney p-value is below alpha.
func TestUCriticalAgreesWithTheUTest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	thr := benchmath.DefaultThresholds
	for _, n := range [][2]int{{4, 4}, {5, 7}, {8, 8}, {12, 16}, {16, 16}, {30, 20}, {60, 60}} {
		for _, alpha := range []float64{0.05, 0.01, 0.05 / 16} {
			lo, hi := uCritical(n[0], n[1], alpha)
			for trial := range 200 {
				shift := 0.3 * float64(trial%7)
				a, b := make([]float64, n[0]), make([]float64, n[1])
				for i := range a {
					a[i] = r.NormFloat64()
				}
				for i := range b {
					b[i] = r.NormFloat64() + shift
				}
				thr.CompareAlpha = alpha
				p := benchmath.AssumeNothing.Compare(benchmath.NewSample(a, &thr), benchmath.NewSample(b, &thr)).P
				u := uStatistic(a, b, 1) // NewSample sorted both
				if rejects := u <= lo || u >= hi; rejects != (p < alpha) {
					// The normal approximation above the exact limit may
					// disagree right at the boundary; nowhere else.
					if n[0] > 50 && math.Abs(p-alpha) < alpha/5 {
						continue
					}
					t.Fatalf("n=%v alpha=%g: U=%g outside [%g, %g] is %v, but p=%.5f", n, alpha, u, lo, hi, rejects, p)
				}
			}
		}
	}
}

// normalSampler returns a source of n values around 100 with normal noise
// of relative standard deviation sd, from a fixed seed.
func normalSampler(seed uint64) func(n int, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, seed))
	return func(n int, sd float64) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 100 * (1 + sd*r.NormFloat64())
		}
		return xs
	}
}

// TestMinDetectableOnNormalNoise checks the minimum detectable change
// against a distribution whose answer is known. For normal noise of 2%
// and 16 runs a side, a U test at 5% reaches 80% power at a shift of
// (z(0.975)+z(0.8)) * 2% * sqrt(2/16) / sqrt(3/pi) = 2.03%. The estimate
// comes from one pair of samples, so it varies; and a change of the size
// it reports, applied to fresh samples from the true distribution, must
// be detected about 80% of the time.
func TestMinDetectableOnNormalNoise(t *testing.T) {
	normal := normalSampler(7)
	var estimates []float64
	for range 20 {
		estimates = append(estimates, MinDetectable(normal(16, 0.02), normal(16, 0.02), 0.05, DefaultPower))
	}
	med := median(estimates)
	t.Logf("median estimate %.4f", med)
	if med < 0.017 || med > 0.024 {
		t.Fatalf("median estimate %.4f over 20 sample pairs; theory says 0.0203", med)
	}
	// Power at the median estimate, measured with benchmath itself on
	// fresh samples from the true distribution.
	thr := benchmath.DefaultThresholds
	hits := 0
	const trials = 600
	for range trials {
		a, b := normal(16, 0.02), normal(16, 0.02)
		for i := range b {
			b[i] *= 1 + med
		}
		if benchmath.AssumeNothing.Compare(benchmath.NewSample(a, &thr), benchmath.NewSample(b, &thr)).P < 0.05 {
			hits++
		}
	}
	t.Logf("power at it %.3f", float64(hits)/trials)
	if p := float64(hits) / trials; p < 0.72 || p > 0.88 {
		t.Fatalf("a change of %.4f was detected in %.0f%% of fresh trials; want about 80%%", med, 100*p)
	}
}

// TestMinDetectableScales checks the shape of the answer: more noise,
// fewer runs or a stricter alpha need a larger change; samples too small
// for alpha cannot see any; samples with no noise see every change.
func TestMinDetectableScales(t *testing.T) {
	sample := normalSampler(9)
	a, b := sample(16, 0.01), sample(16, 0.01)
	base := MinDetectable(a, b, 0.05, DefaultPower)
	for _, tc := range []struct {
		name string
		got  float64
	}{
		{"4x the noise", MinDetectable(sample(16, 0.04), sample(16, 0.04), 0.05, DefaultPower)},
		{"a quarter of the runs", MinDetectable(a[:4], b[:4], 0.05, DefaultPower)},
		{"alpha / 100", MinDetectable(a, b, 0.0005, DefaultPower)},
	} {
		if !(tc.got > base) {
			t.Errorf("%s: %.4f, not above the base %.4f", tc.name, tc.got, base)
		}
	}
	if got := MinDetectable(a[:3], b[:3], 0.05, DefaultPower); !math.IsInf(got, 1) {
		t.Errorf("3 runs a side cannot be significant at 5%%, yet the detectable change is %g", got)
	}
	exact := []float64{7, 7, 7, 7, 7, 7}
	if got := MinDetectable(exact, exact, 0.05, DefaultPower); got != 0 {
		t.Errorf("exact samples: detectable change %g, want 0", got)
	}
	zero := []float64{0, 0, 0, 0, 0, 0}
	if got := MinDetectable(zero, zero, 0.05, DefaultPower); !math.IsInf(got, 1) {
		t.Errorf("samples at zero: detectable change %g, want +Inf (no relative change)", got)
	}
	if MinDetectable(a, b, 0.05, DefaultPower) != base {
		t.Error("one pair of samples gave two answers")
	}
}
