package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const crc32Old = "../../testdata/gobench/crc32-a.txt"

// plantFile copies a go test -bench file, scaling every ns/op of the
// benchmarks whose name contains match by factor (and their MB/s by its
// inverse), dropping those that contain drop.
func plantFile(t *testing.T, src, match string, factor float64, drop string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		fields := strings.Fields(l)
		if len(fields) > 0 && drop != "" && strings.Contains(fields[0], drop) {
			continue
		}
		if len(fields) >= 4 && strings.HasPrefix(fields[0], "Benchmark") && strings.Contains(fields[0], match) {
			for j := 2; j+1 < len(fields); j += 2 {
				v, _ := strconv.ParseFloat(fields[j], 64)
				switch fields[j+1] {
				case "ns/op":
					fields[j] = strconv.FormatFloat(v*factor, 'g', -1, 64)
				case "MB/s":
					fields[j] = strconv.FormatFloat(v/factor, 'g', -1, 64)
				}
			}
			l = strings.Join(fields, " ")
		}
		out = append(out, l)
	}
	path := filepath.Join(t.TempDir(), "planted.txt")
	os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644)
	return path
}

func TestCompareReadsGoBenchmarkFiles(t *testing.T) {
	const cell = "CRC32/poly=Castagnoli/size=512/align=0-2"
	slower := plantFile(t, crc32Old, "size=512/align=0", 1.3, "")
	code, out, errOut := run("compare", crc32Old, slower)
	if code != 1 || strings.Count(out, "regression: ") != 2 ||
		!strings.Contains(out, "regression: "+cell+" sec/op") || !strings.Contains(out, "regression: "+cell+" B/s") {
		t.Fatalf("x1.3 on %s: exit %d, want 1 naming its sec/op and B/s only\n%s%s", cell, code, out, errOut)
	}
	if !strings.Contains(out, "geomean") || !strings.Contains(out, "B/s (higher is better)") {
		t.Fatalf("no geomean or unit direction:\n%s", out)
	}
	// The same change the other way is an improvement in both units.
	if code, out, _ := run("compare", slower, crc32Old); code != 0 {
		t.Fatalf("an improvement exits %d:\n%s", code, out)
	}
	// Several files a side, and standard input.
	const crc32Other = "../../testdata/gobench/crc32-b.txt"
	slowerOther := plantFile(t, crc32Other, "size=512/align=0", 1.3, "")
	if code, out, _ := run("compare", crc32Old+","+crc32Other, slower+","+slowerOther); code != 1 || !strings.Contains(out, "n=20") {
		t.Fatalf("two files a side: exit %d, want n=20 a side\n%s", code, out)
	}
	if code, _, errOut := run("compare", crc32Old+","+crc32Old, slower); code != 2 || !strings.Contains(errOut, "given twice") {
		t.Fatalf("one file twice on a side: exit %d %s", code, errOut)
	}
	f, err := os.Open(slower)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin = f
	defer func() { stdin = os.Stdin }()
	if code, out, errOut := run("compare", "--format", "markdown", crc32Old, "-"); code != 1 || !strings.Contains(out, "| geomean |") {
		t.Fatalf("new side on stdin: exit %d\n%s%s", code, out, errOut)
	}
}

// A benchmark the new side lacks fails the gate with one line unless
// --allow-missing; a comparison that can see nothing is an error.
func TestCompareGateOnMissingAndBlindInput(t *testing.T) {
	fewer := plantFile(t, crc32Old, "nothing", 1, "size=15/")
	code, out, errOut := run("compare", crc32Old, fewer)
	if code != 1 || !strings.Contains(out, "only in old: CRC32/poly=Castagnoli/size=15/align=0-2") ||
		!strings.Contains(errOut, "lacks 4 benchmark(s)") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("lost benchmark: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run("compare", "--allow-missing", crc32Old, fewer); code != 0 {
		t.Fatalf("--allow-missing: exit %d %s", code, errOut)
	}
	// Three runs a side: no p-value can pass Holm over 24 rows.
	var three []string
	b, _ := os.ReadFile(crc32Old)
	seen := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") {
			if seen[f[0]]++; seen[f[0]] > 3 {
				continue
			}
		}
		three = append(three, l)
	}
	small := filepath.Join(t.TempDir(), "three.txt")
	os.WriteFile(small, []byte(strings.Join(three, "\n")), 0o644)
	code, out, errOut = run("compare", small, plantFile(t, small, "CRC32", 2, ""))
	if code != 2 || !strings.Contains(errOut, "no row could show any change") || !strings.Contains(out, "it takes at least") {
		t.Fatalf("n=3 a side, everything 2x slower: exit %d, want 2 saying it cannot see\n%s%s", code, out, errOut)
	}
}

func TestCompareBadInputs(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(empty, []byte("no benchmarks here\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", crc32Old, empty}, "holds no benchmark results"},
		{[]string{"compare", "-", "-"}, "only one side"},
		{[]string{"compare", crc32Old, filepath.Join(t.TempDir(), "missing.txt")}, "missing.txt"},
		{[]string{"compare", "--threshold", "5", crc32Old, crc32Old}, "ambiguous"},
		{[]string{"compare", "--threshold", "0.05%%", crc32Old, crc32Old}, "not a percentage"},
		{[]string{"compare", "--metric", "furlongs/op", crc32Old, crc32Old}, "furlongs/op"},
	} {
		code, _, errOut := run(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Merging the same shard twice, or two runs that hold the same cell,
// would double repetitions silently: both are refused.
func TestReportRefusesDuplicateShards(t *testing.T) {
	copied := copyResultDir(t, quickData, "nothing", nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--out", t.TempDir(), quickData, quickData}, "given twice"},
		{[]string{"report", "--out", t.TempDir(), quickData, copied}, "cell Engine/workload=mix/threshold=2KiB"},
	} {
		code, _, errOut := run(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, errOut, tc.want)
		}
	}
}

// x1.3 on every time of one cell of a real quick run exits 1 naming that
// cell alone, in sec/op and items/s; the cell's throughput rising never
// exits 1.
func TestCompareNamesExactlyThePlantedCell(t *testing.T) {
	const cell = "Engine/workload=mix/threshold=4MiB/gran=batch/comp=zstd:3/"
	slower := copyResultDir(t, quickData, cell, func(_ int, v float64) float64 { return v * 1.3 })
	code, out, errOut := run("compare", "--metric", "sec/op", quickData, slower)
	if code != 1 || strings.Count(out, "regression: ") != 1 || !strings.Contains(out, "regression: "+cell) {
		t.Fatalf("x1.3 on %s: exit %d, want 1 naming it alone\n%s%s", cell, code, out, errOut)
	}
	if code, out, _ := run("compare", "--metric", "sec/op", slower, quickData); code != 0 {
		t.Fatalf("the same cell 1.3x faster: exit %d\n%s", code, out)
	}
}

// The machine 15% slower in every engine cell between two stored runs:
// compare takes the drift out, says so, and still names a cell 30% slower
// besides, alone; --drift=false compares raw, and the drift alone fails
// the gate (in the cells whose spread lets +15% be significant).
func TestCompareTakesOutDriftBetweenStoredRuns(t *testing.T) {
	const cell = "Engine/workload=mix/threshold=4MiB/gran=batch/comp=zstd:3/"
	drifted := copyResultDir(t, quickData, "Engine/", func(_ int, v float64) float64 { return v * 1.15 })
	code, out, errOut := run("compare", "--metric", "sec/op", quickData, drifted)
	if code != 0 || !strings.Contains(out, "drift: every sec/op row moved +15.0% together") {
		t.Fatalf("drift alone: exit %d, want 0 and the drift stated\n%s%s", code, out, errOut)
	}
	code, out, _ = run("compare", "--metric", "sec/op", "--drift=false", quickData, drifted)
	if code != 1 || strings.Count(out, "regression: ") < 3 || strings.Contains(out, "drift:") {
		t.Fatalf("drift alone, --drift=false: exit %d, want 1 with cells regressed\n%s", code, out)
	}
	planted := copyResultDir(t, drifted, cell, func(_ int, v float64) float64 { return v * 1.3 })
	code, out, errOut = run("compare", "--metric", "sec/op", quickData, planted)
	if code != 1 || strings.Count(out, "regression: ") != 1 || !strings.Contains(out, "regression: "+cell) {
		t.Fatalf("x1.3 on %s beside drift: exit %d, want 1 naming it alone\n%s%s", cell, code, out, errOut)
	}
}

// testdata/ab is a real interleaved run with 30% planted in one cell of
// the head: compare pairs its repetitions and names that cell alone.
func TestCompareOfACommittedABRun(t *testing.T) {
	const cell = "Engine/workload=mix/threshold=2KiB/gran=batch/"
	code, out, errOut := run("compare", "../../testdata/ab/base", "../../testdata/ab/head")
	if code != 1 || !strings.Contains(out, "pair by pair") || strings.Count(out, "regression: ") != 2 ||
		strings.Count(out, "regression: "+cell) != 2 {
		t.Fatalf("planted ab run: exit %d, want 1 naming %s in sec/op and items/s\n%s%s", code, cell, out, errOut)
	}
}
