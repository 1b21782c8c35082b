package engine

import "testing"

// deliveries builds the verifier for a mix workload of n items, all sent,
// and the correct result for each.
func verifierFor(t *testing.T, n int) (*verifier, []Result) {
	t.Helper()
	wl, err := NewWorkload(WorkloadSpec{Name: "mix", Items: n, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(wl)
	var rs []Result
	for seq := range uint64(n) {
		it := wl.Item(seq)
		v.expect[seq] = expect(it)
		r, err := process(t.Context(), it)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return v, rs
}

func TestVerifierCounts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		deliver func(v *verifier, rs []Result)
		stopped bool
		want    Report
	}{
		{"all in order", func(v *verifier, rs []Result) {
			for _, r := range rs {
				v.deliver(r)
			}
		}, false, Report{Sent: 5, Delivered: 5}},
		{"duplicate", func(v *verifier, rs []Result) {
			for _, r := range append(rs, rs[2]) {
				v.deliver(r)
			}
		}, false, Report{Sent: 5, Delivered: 5, Duplicated: 1}},
		{"skipped item is lost and the next is out of order", func(v *verifier, rs []Result) {
			v.deliver(rs[0])
			v.deliver(rs[2])
			v.deliver(rs[3])
		}, true, Report{Sent: 5, Delivered: 3, Lost: 1, OutOfOrder: 1, Undelivered: 1}},
		{"corrupt data", func(v *verifier, rs []Result) {
			rs[1].Sum[0] ^= 1
			for _, r := range rs {
				v.deliver(r)
			}
		}, false, Report{Sent: 5, Delivered: 5, Corrupted: 1}},
		{"unknown sequence number", func(v *verifier, rs []Result) {
			rs[4].Seq = 99
			for _, r := range rs {
				v.deliver(r)
			}
		}, false, Report{Sent: 5, Delivered: 4, Corrupted: 1, Lost: 1}},
		{"the sequence number just past the last item", func(v *verifier, rs []Result) {
			rs[4].Seq = 5
			for _, r := range rs {
				v.deliver(r)
			}
		}, false, Report{Sent: 5, Delivered: 4, Corrupted: 1, Lost: 1}},
		{"stopped early: the rest is undelivered, not lost", func(v *verifier, rs []Result) {
			v.deliver(rs[0])
			v.deliver(rs[1])
		}, true, Report{Sent: 5, Delivered: 2, Undelivered: 3}},
		{"claimed success with items missing: lost", func(v *verifier, rs []Result) {
			v.deliver(rs[0])
		}, false, Report{Sent: 5, Delivered: 1, Lost: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, rs := verifierFor(t, 5)
			tc.deliver(v, rs)
			if got := v.finish(tc.stopped); got != tc.want {
				t.Fatalf("report %v\nwant   %v", got, tc.want)
			}
		})
	}
}

func TestVerifierChecksDeltasAgainstTheBasis(t *testing.T) {
	wl, _ := NewWorkload(WorkloadSpec{Name: "tree", Items: 40, Seed: 1, Scale: 0.2})
	v := newVerifier(wl)
	damaged := int64(0)
	for seq := range uint64(40) {
		it := wl.Item(seq)
		v.expect[seq] = expect(it)
		r, err := process(t.Context(), it)
		if err != nil {
			t.Fatal(err)
		}
		if r.Payload == PayloadDelta && seq%3 == 0 {
			r.Data = append([]byte(nil), r.Data...)
			r.Data[len(r.Data)-1] ^= 0xff // damage the last literal byte or copy
			damaged++
		}
		v.deliver(r)
	}
	rep := v.finish(false)
	if damaged < 3 || rep.Corrupted != damaged || rep.Delivered != 40 {
		t.Fatalf("%v: every one of the %d damaged deltas must count as corrupted, and nothing else", rep, damaged)
	}
}
