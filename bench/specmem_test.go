package bench

import (
	"bufio"
	"runtime"
	"strings"
	"testing"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/spill"
)

// The per-item bytes of the memory estimate are the generators' own:
// each workload's items, generated, weigh within a quarter of it.
func TestWorkloadBytesMatchTheGenerators(t *testing.T) {
	if testing.Short() {
		t.Skip("generates about 200 MB of items")
	}
	for name, items := range map[string]int{"mix": 4000, "tree": 600, "hol": 4000, "bulk": 120} {
		wl, err := engine.NewWorkload(engine.WorkloadSpec{Name: name, Items: items, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var bytes float64
		for seq := range uint64(items) {
			it := wl.Item(seq)
			bytes += float64(len(it.Target) + len(it.Basis) + len(it.Reason))
		}
		est := workloadMemory(name, items, 1) - float64(items)*itemOverhead
		if r := est / bytes; r < 0.75 || r > 1.25 {
			t.Errorf("%s: %d items weigh %.0f bytes, the estimate says %.0f (x%.2f)", name, items, bytes, est, r)
		}
	}
}

// A ring's slots weigh what the estimate gives them.
func TestRingSlotBytes(t *testing.T) {
	const n = 1 << 16
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b, err := spill.New(n, engine.ResultCodec{}, spill.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / n
	runtime.KeepAlive(b)
	if per > ringSlotBytes || per < ringSlotBytes/2 {
		t.Fatalf("a ring slot takes %.0f bytes; the estimate uses %d", per, ringSlotBytes)
	}
}

// Sizes that cannot fit in memory are refused with the field, its line
// and what to do; the built-in specs fit in 4 GiB.
func TestSpecRefusesWhatCannotFitInMemory(t *testing.T) {
	const machine = 8 << 30
	for _, tc := range []struct{ src, want string }{
		{"workload: [mix]\nring: [2000000000]\n", "spec.yaml:2: ring 2000000000: a sweep with it needs about 512.2 GiB of memory and this machine has 8.0 GiB"},
		{"workload:\n  - {name: mix, items: 1000000000000}\n", "spec.yaml:2: workload mix (items 1000000000000, scale 0): a sweep with it needs about"},
		{"workload:\n  - mix\n  - {name: bulk, scale: 1e30}\n", "spec.yaml:3: workload bulk (items 0, scale 1e+30)"},
		{"workload:\n  - {name: tree, items: 200000, scale: 1}\n", "give fewer items or a smaller scale"},
	} {
		_, err := parseSpec("spec.yaml", []byte(tc.src), machine)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("spec %q: error %v, want one line containing %q", tc.src, err, tc.want)
		}
	}
	for _, name := range Builtins() {
		b, err := builtin.ReadFile("specs/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseSpec(name+".yaml", b, 4<<30); err != nil {
			t.Errorf("built-in %s does not fit in 4 GiB: %v", name, err)
		}
	}
	if _, err := parseSpec("s.yaml", []byte("workload:\n  - {name: mix, items: 1000000000000}\n"), 0); err != nil {
		t.Errorf("with the machine's memory unknown, nothing is refused: %v", err)
	}
}

func TestParseMemTotal(t *testing.T) {
	for in, want := range map[string]int64{
		"MemTotal:       24731708 kB\nMemFree: 1 kB\n": 24731708 << 10,
		"MemFree: 1 kB\n":     0,
		"MemTotal: lots kB\n": 0,
	} {
		if got := parseMemTotal(bufio.NewScanner(strings.NewReader(in))); got != want {
			t.Errorf("parseMemTotal(%q) = %d, want %d", in, got, want)
		}
	}
}
