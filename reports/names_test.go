package reports

import (
	"slices"
	"testing"
)

func TestVaryingKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []string
		short []string
		fixed string
	}{
		{"none", nil, nil, ""},
		{
			"the report's cells",
			[]string{
				"Engine/workload=mix/threshold=2KiB/comp=none/reclaim=keep/backend=dir/workers=2/ring=1024/schedule=seeded/fault=none",
				"Engine/workload=mix/threshold=4MiB/comp=zstd:3/reclaim=keep/backend=dir/workers=2/ring=1024/schedule=seeded/fault=none",
				"Engine/workload=hol/threshold=2KiB/comp=none/reclaim=keep/backend=dir/workers=2/ring=1024/schedule=seeded/fault=none",
			},
			[]string{"workload=mix/threshold=2KiB/comp=none", "workload=mix/threshold=4MiB/comp=zstd:3", "workload=hol/threshold=2KiB/comp=none"},
			"reclaim=keep, backend=dir, workers=2, ring=1024, schedule=seeded, fault=none",
		},
		{
			"kinds vary",
			[]string{"Engine/workload=mix/workers=2", "Ring/workload=mix/workers=4"},
			[]string{"Engine/workers=2", "Ring/workers=4"},
			"workload=mix",
		},
		{
			"a key some names lack varies",
			[]string{"Engine/workload=mix/schedule=seeded/fault=none", "Engine/workload=mix/fault=none"},
			[]string{"schedule=seeded", "Engine"},
			"workload=mix, fault=none",
		},
		{
			"nothing varies: the kind",
			[]string{"Engine/workload=mix/fault=none", "Engine/workload=mix/fault=none"},
			[]string{"Engine", "Engine"},
			"workload=mix, fault=none",
		},
		{
			"one name",
			[]string{"Engine/workload=hol"},
			[]string{"Engine"},
			"workload=hol",
		},
		{
			"no kind: strategies",
			[]string{"gran=batch/comp=none/reclaim=keep", "gran=item/comp=none/reclaim=keep"},
			[]string{"gran=batch", "gran=item"},
			"comp=none, reclaim=keep",
		},
		{
			"no kind, nothing left",
			[]string{"gran=batch/comp=none", "comp=none"},
			[]string{"gran=batch", "-"},
			"comp=none",
		},
		{
			"bare words are parts too",
			[]string{"Sort/small/n=10", "Sort/large/n=10"},
			[]string{"small", "large"},
			"n=10",
		},
		{
			"keys in order of first appearance",
			[]string{"K/b=1/a=1", "K/a=2/b=2/c=0"},
			[]string{"b=1/a=1", "a=2/b=2/c=0"},
			"",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			short, fixed := varyingKeys(tc.in)
			if !slices.Equal(short, tc.short) || fixed != tc.fixed {
				t.Fatalf("varyingKeys(%q)\n = %q, %q\nwant %q, %q", tc.in, short, fixed, tc.short, tc.fixed)
			}
		})
	}
}

func TestDropKey(t *testing.T) {
	for in, want := range map[string]string{
		"Engine/workload=mix/threshold=2KiB": "Engine/threshold=2KiB",
		"Engine/threshold=2KiB/workload=mix": "Engine/threshold=2KiB",
		"Engine/workloads=3/threshold=2KiB":  "Engine/workloads=3/threshold=2KiB",
		"Engine":                             "Engine",
	} {
		if got := dropKey(in, "workload"); got != want {
			t.Errorf("dropKey(%q, workload) = %q, want %q", in, got, want)
		}
	}
}

func TestByteTicks(t *testing.T) {
	label := func(lo, hi float64) []string {
		var ls []string
		for _, tk := range (byteTicks{}).Ticks(lo, hi) {
			ls = append(ls, tk.Label)
		}
		return ls
	}
	for _, tc := range []struct {
		lo, hi float64
		want   []string
	}{
		{0, 75 << 20, []string{"0B", "16MiB", "32MiB", "48MiB", "64MiB"}},
		{0, 4.8 * 1024, []string{"0B", "1KiB", "2KiB", "3KiB", "4KiB"}},
		{2048, 6 * 1024, []string{"2KiB", "3KiB", "4KiB", "5KiB", "6KiB"}},
		{5, 5, nil},
	} {
		if got := label(tc.lo, tc.hi); !slices.Equal(got, tc.want) {
			t.Errorf("byteTicks(%g, %g) = %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestBudgetOffAxis(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, ymin, ymax float64
		want               []string
	}{
		{2 << 10, 4 << 20, 0, 80 << 20, nil},
		{2 << 10, 4 << 20, 0, 4.8 * 1024, []string{"↑ off the top, up to 4MiB"}},
		{4 << 10, 16 << 20, 0, 3000, []string{"↑ all above the axis: 4KiB to 16MiB"}},
		{2 << 10, 4 << 20, 40 << 20, 80 << 20, []string{"↓ all below the axis: 2KiB to 4MiB"}},
		{2 << 10, 4 << 20, 1 << 20, 2 << 20, []string{"↑ off the top, up to 4MiB", "↓ off the bottom, down to 2KiB"}},
		{2 << 10, 4 << 20, 4 << 10, 8 << 20, []string{"↓ off the bottom, down to 2KiB"}},
	} {
		if got := budgetOffAxis(tc.lo, tc.hi, tc.ymin, tc.ymax); !slices.Equal(got, tc.want) {
			t.Errorf("budgetOffAxis(%g, %g, %g, %g) = %q, want %q", tc.lo, tc.hi, tc.ymin, tc.ymax, got, tc.want)
		}
	}
}
