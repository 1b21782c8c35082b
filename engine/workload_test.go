package engine

import (
	"bytes"
	"reflect"
	"testing"
)

func TestWorkloadsAreDeterministic(t *testing.T) {
	for _, name := range Workloads {
		a, err := NewWorkload(WorkloadSpec{Name: name, Items: 30, Seed: 11, Scale: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewWorkload(WorkloadSpec{Name: name, Items: 30, Seed: 11, Scale: 0.05})
		other, _ := NewWorkload(WorkloadSpec{Name: name, Items: 30, Seed: 12, Scale: 0.05})
		same := true
		for seq := range uint64(30) {
			x, y := a.Item(seq), b.Item(seq)
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("%s: item %d differs between two generators with one seed", name, seq)
			}
			if !bytes.Equal(a.Basis(seq), x.Basis) {
				t.Fatalf("%s: Basis(%d) differs from Item(%d).Basis", name, seq, seq)
			}
			same = same && bytes.Equal(other.Item(seq).Target, x.Target)
		}
		if same {
			t.Fatalf("%s: another seed generated the same targets", name)
		}
	}
}

func TestMixMatchesTheReferenceDistribution(t *testing.T) {
	wl, _ := NewWorkload(WorkloadSpec{Name: "mix", Items: 10000, Seed: 1})
	var counts [3]int
	for seq := range uint64(wl.Len()) {
		it := wl.Item(seq)
		counts[it.Status]++
		switch n := len(it.Reason); it.Status {
		case NeedsRedo:
			if n < 64 || n > 256 {
				t.Fatalf("redo reason of %d bytes", n)
			}
		case Failed:
			if n < 256 || n > 1024 {
				t.Fatalf("failure reason of %d bytes", n)
			}
		}
	}
	for status, want := range []float64{0.7, 0.2, 0.1} {
		if got := float64(counts[status]) / 10000; got < want-0.02 || got > want+0.02 {
			t.Errorf("%s: %.3f of items, want %.1f", Status(status), got, want)
		}
	}
	if wl.Drift() != 8 {
		t.Errorf("mix drift %d, want 8", wl.Drift())
	}
}

func TestTreeHasAHeavyTail(t *testing.T) {
	wl, _ := NewWorkload(WorkloadSpec{Name: "tree", Items: 2000, Seed: 1})
	small, large, total := 0, 0, 0
	for seq := range uint64(wl.Len()) {
		size, _ := wl.(*treeWorkload).shape(seq)
		total += size
		switch {
		case size <= 16<<10+256:
			small++
		case size > 256<<10:
			large++
		}
	}
	if small < 1600 || large < 20 || large > 80 {
		t.Fatalf("%d small and %d large files of 2000; want most small and a tail of about 2%% large", small, large)
	}
}

func TestHOLStallsItemTwo(t *testing.T) {
	wl, _ := NewWorkload(WorkloadSpec{Name: "hol", Items: 50, Seed: 1, Scale: 0.1})
	slow := wl.Item(2)
	if slow.Strategy != Delta || len(slow.Target) < 2<<20 {
		t.Fatalf("item 2: strategy %d, %d bytes; want a multi-MiB delta", slow.Strategy, len(slow.Target))
	}
	if fast := wl.Item(3); len(fast.Target) > 8<<10 {
		t.Fatalf("item 3 is %d bytes; the others must be small", len(fast.Target))
	}
	// With fewer than three items the last one stalls.
	for n := 1; n <= 2; n++ {
		wl, _ := NewWorkload(WorkloadSpec{Name: "hol", Items: n, Seed: 1, Scale: 0.01})
		if it := wl.Item(uint64(n - 1)); it.Strategy != Delta || wl.Basis(uint64(n-1)) == nil {
			t.Errorf("%d items: the last is not the stalled delta", n)
		}
	}
}

func TestNewWorkloadRejectsBadSpecs(t *testing.T) {
	for _, s := range []WorkloadSpec{{Name: "nope"}, {Name: "mix", Items: -1}, {Name: "tree", Scale: -2}} {
		if _, err := NewWorkload(s); err == nil {
			t.Errorf("NewWorkload(%+v) accepted it", s)
		}
	}
}
