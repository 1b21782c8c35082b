package reports

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/perf/benchmath"
)

// bruteSignedRankP is the two-sided p-value of the signed-rank test by
// enumerating every sign assignment of d's magnitudes: the definition,
// computed without the recurrence signedRankP uses.
func bruteSignedRankP(d []float64) float64 {
	w, n, _ := signedRank(d)
	abs := make([]float64, 0, len(d))
	for _, x := range d {
		if x != 0 {
			abs = append(abs, math.Abs(x))
		}
	}
	// The ranks of the magnitudes, as signedRank gives them.
	ranks := make([]float64, len(abs))
	for i, a := range abs {
		below, equal := 0, 0
		for _, b := range abs {
			if b < a {
				below++
			} else if b == a {
				equal++
			}
		}
		ranks[i] = float64(below) + float64(equal+1)/2
	}
	lo, hi := 0, 0
	for mask := 0; mask < 1<<n; mask++ {
		s := 0.0
		for i := range n {
			if mask&(1<<i) != 0 {
				s += ranks[i]
			}
		}
		if s <= w+1e-9 {
			lo++
		}
		if s >= w-1e-9 {
			hi++
		}
	}
	total := float64(int(1) << n)
	return math.Min(1, 2*math.Min(float64(lo)/total, float64(hi)/total))
}

func TestSignedRankPMatchesEnumeration(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 3 + trial%12
		d := make([]float64, n)
		for i := range d {
			d[i] = r.NormFloat64() + 0.4 // some with a shift, so small p-values occur too
		}
		got, want := signedRankP(d), bruteSignedRankP(d)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("n=%d %v: p %v, enumeration %v", n, d, got, want)
		}
	}
}

func TestSignedRankPWithTiesMatchesEnumeration(t *testing.T) {
	// Tied magnitudes share their average rank; the p-value is the
	// exact one given those ranks.
	r := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		d := make([]float64, 16)
		for i := range d {
			d[i] = math.Round(2*r.NormFloat64()+1) / 2 // half steps: many ties
		}
		got, want := signedRankP(d), bruteSignedRankP(d)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("%v: p %v, enumeration %v", d, got, want)
		}
	}
}

func TestSignedRankTestHoldsItsLevel(t *testing.T) {
	// With nothing changed, and noise that is the same for both sides
	// of a pair but skewed (a slow period slows both), the differences
	// are symmetric and a test at 0.05 rejects about 5% of the time.
	r := rand.New(rand.NewPCG(5, 6))
	const trials = 4000
	rejected := 0
	for range trials {
		old, cur := make([]float64, 12), make([]float64, 12)
		for i := range old {
			host := 1 + r.ExpFloat64()*0.2 // shared by the pair
			old[i] = host * (1 + 0.02*r.NormFloat64())
			cur[i] = host * (1 + 0.02*r.NormFloat64())
		}
		d, _ := logRatios(old, cur)
		if signedRankP(d) < 0.05 {
			rejected++
		}
	}
	// Binomial(4000, at most 0.05): mean 200, sd 14. The exact test is
	// conservative at n=12 (its largest level below 0.05 is 0.042).
	if rejected > 200+3*14 || rejected < 100 {
		t.Fatalf("rejected %d of %d at level 0.05", rejected, trials)
	}
}

func TestHodgesLehmann(t *testing.T) {
	// Walsh averages of 1,2,3: 1, 1.5, 2, 2, 2.5, 3; their median is 2.
	if got := hodgesLehmann([]float64{1, 2, 3}); got != 2 {
		t.Fatalf("HL(1,2,3) = %v, want 2", got)
	}
	// Walsh averages of 0,10: 0, 5, 10.
	if got := hodgesLehmann([]float64{0, 10}); got != 5 {
		t.Fatalf("HL(0,10) = %v, want 5", got)
	}
	// One wild value moves it little (the mean would move by 100/5).
	if got := hodgesLehmann([]float64{1, 2, 3, 4, 100}); got != 3 {
		t.Fatalf("HL with an outlier = %v, want 3", got)
	}
}

func TestMinDetectablePairedAgreesWithNormalTheory(t *testing.T) {
	// Normal log ratios of sd sigma: the signed-rank test has 3/pi the
	// efficiency of the t test, so a shift of about
	// (z(1-alpha/2) + z(power)) * sigma / sqrt(n * 3/pi) is detected
	// with the given power.
	r := rand.New(rand.NewPCG(7, 8))
	for _, sigma := range []float64{0.01, 0.05} {
		const n = 20
		d := make([]float64, n)
		for i := range d {
			d[i] = sigma * r.NormFloat64()
		}
		got := MinDetectablePaired(d, 0.05, 0.8)
		want := (1.96 + 0.8416) * sigma / math.Sqrt(n*3/math.Pi)
		if math.Abs(math.Log1p(got)-want) > 0.35*want {
			t.Errorf("sigma %v: detects %.4f, normal theory %.4f", sigma, math.Log1p(got), want)
		}
	}
	if got := MinDetectablePaired([]float64{0.01, -0.01, 0.02}, 0.05, 0.8); !math.IsInf(got, 1) {
		t.Errorf("three pairs can never reach 0.05, yet it detects %v", got)
	}
}

// Skewed scatter over many pairs, as a tuning sweep's configurations
// give (a tenth of them far faster): the smallest detectable change is
// near what the core's scatter gives, not zero. Centred at its mean
// instead of mirrored about its center, the scatter's median sits off
// zero and 144 pairs reject it unshifted.
func TestMinDetectablePairedOfSkewedScatter(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const n, sigma = 144, 0.05
	d := make([]float64, n)
	for i := range d {
		d[i] = sigma * r.NormFloat64()
		if i%10 == 0 {
			d[i] += 1.5
		}
	}
	got := MinDetectablePaired(d, 0.05/16, 0.8)
	z := 2.955 + 0.8416 // z(1 - 0.05/32), z(0.8)
	want := z * sigma / math.Sqrt(n*3/math.Pi)
	if math.Log1p(got) < want/2 || math.Log1p(got) > 3*want {
		t.Errorf("skewed scatter: detects %.4f, the core's scatter alone %.4f", math.Log1p(got), want)
	}
}

func TestPairedComparisonSeesThroughSharedDrift(t *testing.T) {
	// Drift shared by the pairs (a slow host period) of ±15%, and 1% of
	// noise of their own: new is 3% slower. Pair by pair the change is
	// plain; as two independent samples it drowns.
	r := rand.New(rand.NewPCG(9, 10))
	var old, cur []float64
	for range 12 {
		host := 1 + 0.15*r.NormFloat64()
		old = append(old, 100*host*(1+0.01*r.NormFloat64()))
		cur = append(cur, 103*host*(1+0.01*r.NormFloat64()))
	}
	cell := func(vs []float64) *Cell {
		smp := benchmath.NewSample(append([]float64(nil), vs...), &benchmath.DefaultThresholds)
		return &Cell{Sample: smp, Summary: benchmath.AssumeNothing.Summary(smp, 0.95), Recorded: vs}
	}
	paired := comparePaired("x", cell(old), cell(cur), false, 0.05)
	unpaired := compareCells("x", cell(old), cell(cur), false, 0.05)
	if !paired.Paired || paired.P >= 0.01 || !paired.Worse || math.Abs(paired.Ratio-1.03) > 0.01 {
		t.Fatalf("paired: p %v, ratio %v, worse %v", paired.P, paired.Ratio, paired.Worse)
	}
	if unpaired.P < 0.05 {
		t.Fatalf("unpaired saw the change through the drift (p %v): the test data is too easy", unpaired.P)
	}
	cs := []Change{paired}
	detectable(cs)
	if cs[0].MinChange > 0.03 {
		t.Fatalf("paired comparison says it sees only changes of %v", cs[0].MinChange)
	}
	// Samples that do not pair up fall back to the unpaired test.
	short := cell(cur[:11])
	if c := comparePaired("x", cell(old), short, false, 0.05); c.Paired {
		t.Fatal("12 old values paired with 11 new ones")
	}
}

func TestInterleavedNeedsOneTokenOnBothSides(t *testing.T) {
	set := func(path, token string) *Set {
		return &Set{Dirs: []*Dir{{Path: path, Env: Env{Lockstep: token}}}}
	}
	for _, tc := range []struct {
		old, cur *Set
		want     bool
	}{
		{set("a", "t1"), set("b", "t1"), true},
		{set("a", "t1"), set("b", "t2"), false},
		{set("a", ""), set("b", ""), false},
		{set("a", "t1"), set("a", "t1"), false},
		// A repetition failed on one side: its partners would shift.
		{set("a", "t1"), &Set{Dirs: []*Dir{{Path: "b", Env: Env{Lockstep: "t1", Failed: 1}}}}, false},
		{&Set{Dirs: append(set("a", "t1").Dirs, set("c", "t1").Dirs...)}, set("b", "t1"), false},
		// A side per pair of processes: directory by directory.
		{&Set{Dirs: append(set("a/p00", "t1").Dirs, set("a/p01", "t2").Dirs...)}, &Set{Dirs: append(set("b/p00", "t1").Dirs, set("b/p01", "t2").Dirs...)}, true},
		{&Set{Dirs: append(set("a/p00", "t1").Dirs, set("a/p01", "t2").Dirs...)}, &Set{Dirs: append(set("b/p00", "t2").Dirs, set("b/p01", "t1").Dirs...)}, false},
	} {
		if got := Interleaved(tc.old, tc.cur); got != tc.want {
			t.Errorf("Interleaved(%v, %v) = %v", tc.old.Dirs[0], tc.cur.Dirs[0], got)
		}
	}
}

func TestSummarizeKeepsTheRecordedOrder(t *testing.T) {
	// Pairs are matched by position, so the order the repetitions were
	// recorded in must survive benchmath sorting its sample.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "env.json"), []byte(`{"lockstep": "t"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "results.txt"), []byte(
		"BenchmarkEngine/workload=mix 1 3 ns/op\nBenchmarkEngine/workload=mix 1 1 ns/op\nBenchmarkEngine/workload=mix 1 2 ns/op\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "outcomes.jsonl"), nil, 0o644)
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Summarize(set, Query{Unit: "sec/op"})
	if err != nil {
		t.Fatal(err)
	}
	c := tab.Cells[0][0]
	ns := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = math.Round(x * 1e9)
		}
		return out
	}
	if !slices.Equal(ns(c.Recorded), []float64{3, 1, 2}) || !slices.Equal(ns(c.Sample.Values), []float64{1, 2, 3}) {
		t.Fatalf("recorded %v, sample %v", c.Recorded, c.Sample.Values)
	}
}

func TestLoadTakesADirectoryOfResultDirectories(t *testing.T) {
	// A side of spillbench ab holds a result directory per pair of
	// processes; naming the side loads them all, in order.
	side := t.TempDir()
	for _, p := range []string{"p01", "p00"} {
		dir := filepath.Join(side, p)
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "env.json"), []byte(`{"lockstep": "`+p+`"}`), 0o644)
		os.WriteFile(filepath.Join(dir, "results.txt"), []byte("BenchmarkEngine/workload=mix 1 3 ns/op\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "outcomes.jsonl"), nil, 0o644)
	}
	set, err := Load(side)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Dirs) != 2 || set.Dirs[0].Env.Lockstep != "p00" || set.Dirs[1].Env.Lockstep != "p01" {
		t.Fatalf("loaded %d directories: %+v", len(set.Dirs), set.Dirs)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("an empty directory loaded as results")
	}
}
