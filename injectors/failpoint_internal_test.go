//go:build failpoint

package injectors

import (
	"testing"
	"time"

	"github.com/spillbench/spillbench/spill"
)

// Eval returns nil both for an off term and for a sleep: the off
// evaluations before the Nth must not be logged as delays.
func TestFailpointLatencyLogsOnlyTheDelays(t *testing.T) {
	f := NewFailpoint()
	if err := f.Arm(Fault{Mode: ModeLatency, Latency: 2 * time.Millisecond, Nth: 3, Persistent: true, Site: spill.SiteBatchWrite}); err != nil {
		t.Fatal(err)
	}
	defer f.Teardown()
	fs := &failpointFS{fp: f}
	for range 5 {
		if err := fs.eval(OpWrite, spill.SiteBatchWrite, "spill", 0); err != nil {
			t.Fatal(err)
		}
	}
	var calls []int
	for _, o := range f.Observations() {
		calls = append(calls, o.Call)
	}
	if len(calls) != 3 || calls[0] != 3 || calls[2] != 5 {
		t.Fatalf("delays logged at calls %v, want 3, 4 and 5", calls)
	}
}
