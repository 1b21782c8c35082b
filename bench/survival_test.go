package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillbench/spillbench/reports"
)

// TestSurvivalSweepsRun runs the survival sweeps sampled (every 97th
// operation, byte, bit and length) and checks their headline: no panic,
// no silent loss, no unreported fault; the document generator reads the
// result. make docs runs them whole.
func TestSurvivalSweepsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the sweeps take seconds even sampled")
	}
	dir := filepath.Join(t.TempDir(), "survive")
	n, err := Survive(SurvivalOptions{Out: dir, Stride: 97})
	if err != nil {
		t.Fatal(err)
	}
	runs, env, err := reports.LoadSurvival(dir)
	if err != nil || len(runs) != n || n < 100 || !env.Complete {
		t.Fatalf("%d runs read of %d written, env %+v: %v", len(runs), n, env, err)
	}
	sweeps := map[string]int{}
	for _, r := range runs {
		sweeps[r.Sweep]++
		if r.Panicked || r.Silent || r.Reached == "none" || r.ReportedRecords != r.ActualRecords {
			t.Errorf("run %+v breaks the contract", r)
		}
		if r.Sweep == "operation" && r.At > r.Ops && (r.Injected != 0 || !r.Recovered) {
			t.Errorf("run K+1 of %s/%s/%s was not clean: %+v", r.Gran, r.Backend, r.Fault, r)
		}
	}
	for _, s := range []string{"operation", "byte", "corruption"} {
		if sweeps[s] == 0 {
			t.Errorf("no %s sweep runs", s)
		}
	}
	doc := string(reports.SurvivalDoc(runs, env, "spillbench survive --stride 97"))
	if !strings.Contains(doc, "0 panics, 0 silent losses") || !strings.Contains(doc, "## Every bit and every length") {
		t.Fatalf("document:\n%s", doc[:min(len(doc), 600)])
	}
	os.RemoveAll(dir)
}
