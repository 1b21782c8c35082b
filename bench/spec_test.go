package bench

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"

	"github.com/spillbench/spillbench/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, writing testdata/name.got-test
// on a mismatch (and the golden file itself with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./bench -update to create it", err)
	}
	if !bytes.Equal(got, want) {
		os.WriteFile(path+".got-test", got, 0o644)
		t.Fatalf("%s differs from the golden file; see %s.got-test (go test ./bench -update accepts it)", name, path)
	}
}

func TestBuiltinSpecsExpandToTheirGoldenCells(t *testing.T) {
	for _, name := range Builtins() {
		s, err := LoadSpec(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var b bytes.Buffer
		for _, c := range s.Cells() {
			b.WriteString(c.Name() + "\n")
		}
		if name == "full" {
			// Too big for a golden file: check its size and spot cells.
			if n := len(s.Cells()); n != 7500 {
				t.Errorf("full spec: %d cells, want 7500", n)
			}
			if !strings.Contains(b.String(), "Engine/workload=hol/threshold=64MiB/gran=item/comp=zstd:3/reclaim=respill/backend=dir/workers=4/ring=1024/schedule=seeded/fault=vanish:unmount\n") {
				t.Error("full spec lacks its last fault cell")
			}
			continue
		}
		golden(t, "specs/"+name+".cells", b.Bytes())
	}
}

func TestSpecDefaultsAndRange(t *testing.T) {
	s, err := ParseSpec("t.yaml", []byte("workload: [mix]\nthreshold: 4KiB..64KiB x4\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{4 << 10, 16 << 10, 64 << 10}
	if !slices.Equal(s.Thresholds, want) {
		t.Fatalf("thresholds %v, want %v", s.Thresholds, want)
	}
	if s.Count != 1 || s.Backends[0] != BackendDir || s.Faults[0].Injector != "none" || len(s.Cells()) != 4 {
		t.Fatalf("defaults: %+v, %d cells", s, len(s.Cells()))
	}
	if s.MaxCount != s.Count || s.CI != 0 || s.Benchtime != 0 || s.GOGC != 100 || s.MaxSteal != 0.05 || !slices.Equal(s.Schedules, []engine.Schedule{engine.Seeded}) {
		t.Fatalf("measurement defaults: %+v", s)
	}
	s, err = ParseSpec("t.yaml", []byte("workload: [mix]\ncount: 4\nmax-count: 9\nci: 1.5%\nbenchtime: 80ms\ngogc: off\nmax-steal: 0.1\nschedule: [free, seeded]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxCount != 9 || s.CI != 0.015 || s.Benchtime != 80*time.Millisecond || s.GOGC != -1 || s.MaxSteal != 0.1 || len(s.Cells()) != 4 {
		t.Fatalf("measurement settings: %+v, %d cells", s, len(s.Cells()))
	}
}

func TestSpecErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"unknown axis", "workload: [mix]\ntreshold: [4KiB]\n", 2, `unknown axis or setting "treshold"`},
		{"bad size", "workload: [mix]\nthreshold: [4KiBB]\n", 2, "give a positive size"},
		{"zero size", "workload: [mix]\nthreshold: [0]\n", 2, "positive size"},
		{"bad range", "workload: [mix]\nthreshold: 64KiB..4KiB x4\n", 2, "LO..HI xF"},
		{"empty list", "workload: [mix]\ngranularity: []\n", 2, "empty list"},
		{"bad granularity", "workload: [mix]\ngranularity: [record]\n", 2, "use batch or item"},
		{"bad compression", "workload: [mix]\ncompression: [lz4]\n", 2, "use none, zstd or zstd:N"},
		{"bad workload", "workload: [nope]\n", 1, "unknown workload"},
		{"workload key", "workload:\n  - {name: mix, itemz: 3}\n", 2, `unknown key "itemz"`},
		{"no workload", "threshold: [4KiB]\n", 1, "runs no workload"},
		{"bad count", "workload: [mix]\ncount: 0\n", 2, "count at least 1"},
		{"max-count below count", "workload: [mix]\ncount: 5\nmax-count: 3\n", 1, "max-count 3 is below count 5"},
		{"ambiguous ci", "workload: [mix]\nci: 5\n", 2, "percentage above 0"},
		{"bad benchtime", "workload: [mix]\nbenchtime: fast\n", 2, "duration such as 150ms"},
		{"bad gogc", "workload: [mix]\ngogc: 0\n", 2, "or off"},
		{"bad schedule", "workload: [mix]\nschedule: [random]\n", 2, "use seeded or free"},
		{"bad injector", "workload: [mix]\nfault:\n  - {injector: magic, mode: eio}\n", 3, "unknown injector"},
		{"bad mode", "workload: [mix]\nfault:\n  - {injector: tmpfs, mode: eio}\n", 3, "has no mode"},
		{"bad rule", "workload: [mix]\nfault:\n  - {injector: mock, mode: eio, rule: \"(op seek)\"}\n", 3, "never happens"},
		{"kernel fault in memory", "workload: [mix]\nbackend: [memory]\nfault:\n  - {injector: tmpfs, mode: enospc}\n", 4, "use backend: [dir]"},
		{"twice", "workload: [mix]\nworkload: [hol]\n", 2, "given twice"},
		{"not yaml", "workload: [mix\n", 1, "not valid YAML"},
		{"not a mapping", "- mix\n", 1, "YAML mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec("t.yaml", []byte(tc.yaml))
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a SpecError", err)
			}
			if se.Line != tc.line || !strings.Contains(se.Msg, tc.want) || se.File != "t.yaml" {
				t.Fatalf("error %q: want t.yaml:%d and %q", err, tc.line, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
		})
	}
}

func TestLoadSpecMissingFile(t *testing.T) {
	_, err := LoadSpec(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "quick, ci, default, tuning, full") {
		t.Fatalf("error %v should say which specs exist", err)
	}
}

func TestShardsPartitionTheCells(t *testing.T) {
	s, err := LoadSpec("default")
	if err != nil {
		t.Fatal(err)
	}
	all := s.Cells()
	for n := 1; n <= 7; n++ {
		seen := map[string]int{}
		for i := range n {
			for _, c := range all {
				if (Shard{i, n}).Has(c) {
					seen[c.Name()]++
				}
			}
		}
		if len(seen) != len(all) {
			t.Fatalf("%d shards cover %d of %d cells", n, len(seen), len(all))
		}
		for name, k := range seen {
			if k != 1 {
				t.Fatalf("%d shards: %s runs in %d of them", n, name, k)
			}
		}
	}
	for _, bad := range []string{"", "1", "2/2", "-1/3", "a/b", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted it", bad)
		}
	}
}

// TestCellNamesProjectThroughBenchproc writes every cell's name with
// benchfmt, reads it back, and projects each key with benchproc, as
// benchstat -col /gran does.
// Every key of quick's cells projects through benchproc to the values the
// spec lists, written out here by hand, and the first cell to exactly its
// settings.
func TestCellNamesProjectThroughBenchproc(t *testing.T) {
	s, err := LoadSpec("quick")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := benchfmt.NewWriter(&buf)
	for _, c := range s.Cells() {
		w.Write(&benchfmt.Result{Name: benchfmt.Name(c.Name()), Iters: 1, Values: []benchfmt.Value{{Value: 1, Unit: "ns/op"}}})
	}
	// "" where a kind of cell has no such key (Ring has no threshold).
	values := map[string][]string{
		"workload":  {"mix", "hol"},
		"threshold": {"2KiB", "4MiB", ""},
		"gran":      {"batch", "item", ""},
		"comp":      {"none", "zstd:3", ""},
		"reclaim":   {"keep", ""},
		"backend":   {"dir", ""},
		"workers":   {"2"},
		"ring":      {"1024"},
		"schedule":  {"seeded"},
		"fault":     {"none", "mock:eio", "tmpfs:enospc", ""},
	}
	first := map[string]string{"workload": "mix", "threshold": "2KiB", "gran": "batch", "comp": "none", "reclaim": "keep",
		"backend": "dir", "workers": "2", "ring": "1024", "schedule": "seeded", "fault": "none"}
	for key, want := range values {
		proj, err := (&benchproc.ProjectionParser{}).Parse("/"+key, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := benchfmt.NewReader(bytes.NewReader(buf.Bytes()), "results.txt")
		seen := map[string]bool{}
		n := 0
		for r.Scan() {
			res, ok := r.Result().(*benchfmt.Result)
			if !ok {
				t.Fatalf("%v", r.Result())
			}
			got := proj.Project(res).Get(proj.Fields()[0])
			if !slices.Contains(want, got) {
				t.Fatalf("%s: /%s projects to %q, not one of %q", res.Name, key, got, want)
			}
			if n == 0 && got != first[key] {
				t.Fatalf("first cell %s: /%s is %q, want %q", res.Name, key, got, first[key])
			}
			seen[got] = true
			n++
		}
		if n != len(s.Cells()) || len(seen) != len(want) {
			t.Fatalf("/%s: %d of %d results read, values %v, want all of %q", key, n, len(s.Cells()), seen, want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0-1": {0, 1}, "0,2": {0, 2}, "1-3,5": {1, 2, 3, 5}} {
		if got, err := ParseCPUs(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "2-1", "-1", "1-"} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) accepted it", bad)
		}
	}
}
