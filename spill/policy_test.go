package spill

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "64K": 64 << 10, "64k": 64 << 10, "64KiB": 64 << 10, "64kb": 64 << 10,
		"1M": 1 << 20, "3G": 3 << 30, "2T": 2 << 40, "100B": 100, " 8M ": 8 << 20, "1MIB": 1 << 20,
		// The largest sizes that fit an int64, with and without a unit.
		"9223372036854775807": math.MaxInt64, "8589934591G": (math.MaxInt64 >> 30) << 30,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-1", "-4K", "1.5M", "64X", "K", "64KiBB", "64I", "9999999T", "8589934592G", "0x10"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1000: "1000B", 4096: "4KiB", 65536: "64KiB", 1536: "1536B", 1 << 20: "1MiB", 64 << 20: "64MiB", 3 << 40: "3TiB"} {
		got := FormatSize(n)
		if got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseSize(got); err != nil || back != n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{
		"none": {}, "NONE": {}, "zstd": {Zstd, DefaultZstdLevel}, "zstd:1": {Zstd, 1}, "zstd:22": {Zstd, 22}, " Zstd:9 ": {Zstd, 9},
	} {
		got, err := ParseCompression(in)
		if err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseCompression(got.String()); back != got {
			t.Errorf("ParseCompression(%q.String()) = %v", got, back)
		}
	}
	for _, in := range []string{"", "gzip", "zstd:", "zstd:0", "zstd:23", "zstd:-1", "zstd:x", "none:3"} {
		if got, err := ParseCompression(in); err == nil {
			t.Errorf("ParseCompression(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseGranularityAndReclaim(t *testing.T) {
	for _, g := range []Granularity{Batch, PerItem} {
		if back, err := ParseGranularity(g.String()); err != nil || back != g {
			t.Errorf("ParseGranularity(%q) = %v, %v", g, back, err)
		}
	}
	for _, r := range []Reclaim{Keep, RespillAfterRead} {
		if back, err := ParseReclaim(r.String()); err != nil || back != r {
			t.Errorf("ParseReclaim(%q) = %v, %v", r, back, err)
		}
	}
	if _, err := ParseGranularity("record"); err == nil {
		t.Error("ParseGranularity accepted record")
	}
	if _, err := ParseReclaim("drop"); err == nil {
		t.Error("ParseReclaim accepted drop")
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := (Policy{}).Validate(); err != nil {
		t.Fatalf("the zero policy is invalid: %v", err)
	}
	for _, p := range []Policy{
		{Threshold: -1},
		{RSSLimit: -5},
		{Granularity: 9},
		{Reclaim: 9},
		{Compression: Compression{Method: Zstd, Level: 0}},
		{Compression: Compression{Method: 7}},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", p)
		}
		if _, err := New(8, Bytes{}, p); err == nil {
			t.Errorf("New with %+v accepted it", p)
		}
	}
	if _, err := New(0, Bytes{}, Policy{}); err == nil {
		t.Error("New with capacity 0 accepted it")
	}
}

func TestPolicyString(t *testing.T) {
	p := Policy{Threshold: 64 << 10, Granularity: PerItem, Compression: Compression{Zstd, 3}, Reclaim: RespillAfterRead}
	if got, want := p.String(), "threshold=64KiB gran=item comp=zstd:3 reclaim=respill"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if got, want := (Policy{}).String(), "threshold=64MiB gran=batch comp=none reclaim=keep"; got != want {
		t.Fatalf("zero String() = %q, want %q", got, want)
	}
}

// An explicit IOBuffer takes at most half the budget, whatever it asks
// for: the items keep the other half, exactly.
func TestExplicitIOBufferTakesAtMostHalfTheBudget(t *testing.T) {
	p := Policy{Threshold: 4 << 10, IOBuffer: 1 << 20, Dir: t.TempDir()}
	if got := p.String(); !strings.Contains(got, " io-buffer=2KiB") {
		t.Fatalf("String() = %q, want the staging space capped at io-buffer=2KiB", got)
	}
	b := newBuffer(t, 64, p)
	insertAll(t, b, 1024, 1, 2) // 2 KiB from seq 1: nothing deliverable
	if s := b.Stats(); s.SpillEvents != 0 {
		t.Fatalf("items filling the half of the budget left to them spilled: %+v", s)
	}
	insertAll(t, b, 1, 3)
	if s := b.Stats(); s.SpillEvents == 0 {
		t.Fatalf("one byte past the items' half did not spill: %+v", s)
	}
}

// Without IOBuffer the staging space is a sixteenth of the budget (up to
// DefaultIOBuffer): the items keep the rest, exactly.
func TestDefaultIOBufferIsASixteenthOfTheBudget(t *testing.T) {
	b, err := New(256, Bytes{}, Policy{Threshold: 16 << 10, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	insertAll(t, b, 100, seqRange(1, 151)...) // 15000 bytes from seq 1
	insertAll(t, b, 360, 151)                 // 15360: fifteen sixteenths, exactly
	if s := b.Stats(); s.SpillEvents != 0 {
		t.Fatalf("items filling fifteen sixteenths of the budget spilled: %+v", s)
	}
	insertAll(t, b, 1, 152)
	if s := b.Stats(); s.SpillEvents == 0 {
		t.Fatalf("one byte past fifteen sixteenths did not spill: %+v", s)
	}
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestApplyEnv(t *testing.T) {
	var p Policy
	err := p.ApplyEnv(env(map[string]string{
		EnvThreshold:   "8M",
		EnvDir:         "/var/tmp/spill",
		EnvCompression: "zstd:7",
		EnvNoSpill:     "yes",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{Threshold: 8 << 20, Dir: "/var/tmp/spill", Compression: Compression{Zstd, 7}, InMemoryOnly: true}
	if p.String() != want.String() || p.Dir != want.Dir {
		t.Fatalf("policy %v, want %v", p, want)
	}
}

func TestApplyEnvLeavesUnsetAndEmptyAlone(t *testing.T) {
	p := Policy{Threshold: 1234, Dir: "/keep"}
	if err := p.ApplyEnv(env(map[string]string{EnvDir: "", EnvThreshold: "  "})); err != nil {
		t.Fatal(err)
	}
	if p.Threshold != 1234 || p.Dir != "/keep" {
		t.Fatalf("empty variables changed the policy: %v", p)
	}
}

func TestApplyEnvRejectsBadValues(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{EnvThreshold, "0"},
		{EnvThreshold, "-64M"},
		{EnvThreshold, "lots"},
		{EnvCompression, "lz4"},
		{EnvCompression, "zstd:99"},
		{EnvNoSpill, "maybe"},
	} {
		p := Policy{Threshold: 42}
		err := p.ApplyEnv(env(map[string]string{tc.name: tc.value}))
		ee := mustErrAs[*EnvError](t, err)
		if ee.Var != tc.name || ee.Value != tc.value {
			t.Errorf("%s=%q: error names %s=%q", tc.name, tc.value, ee.Var, ee.Value)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.name) || !strings.Contains(msg, tc.value) || strings.Contains(msg, "\n") {
			t.Errorf("%s=%q: message %q should be one line naming the variable and value", tc.name, tc.value, msg)
		}
		if p.Threshold != 42 {
			t.Errorf("%s=%q: a rejected environment changed the policy", tc.name, tc.value)
		}
	}
}

func TestApplyEnvReportsEveryBadVariable(t *testing.T) {
	var p Policy
	err := p.ApplyEnv(env(map[string]string{EnvThreshold: "0", EnvNoSpill: "maybe", EnvDir: "/ok"}))
	var ees []*EnvError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ee *EnvError
		if errors.As(e, &ee) {
			ees = append(ees, ee)
		}
	}
	if len(ees) != 2 || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("error %q: want two lines, one per bad variable", err)
	}
	if p.Dir != "" {
		t.Fatal("a partly bad environment was partly applied")
	}
}

func TestPrecedenceExplicitOverEnvOverDefault(t *testing.T) {
	// The documented order: zero value (defaults), then ApplyEnv, then
	// what the user set explicitly.
	var p Policy
	if p.threshold() != DefaultThreshold {
		t.Fatalf("default threshold %d, want %d", p.threshold(), DefaultThreshold)
	}
	if err := p.ApplyEnv(env(map[string]string{EnvThreshold: "1M", EnvCompression: "zstd"})); err != nil {
		t.Fatal(err)
	}
	if p.threshold() != 1<<20 || p.Compression != (Compression{Zstd, DefaultZstdLevel}) {
		t.Fatalf("policy %v after ApplyEnv: want the environment's 1M threshold and zstd over the defaults", p)
	}
	p.Threshold = 4 << 10 // explicit
	// Applying an environment that does not name a knob leaves what was
	// set explicitly; one that does overrides it (so explicit settings go last).
	if err := p.ApplyEnv(env(map[string]string{EnvCompression: "none"})); err != nil {
		t.Fatal(err)
	}
	if p.Threshold != 4<<10 || p.Compression != (Compression{}) {
		t.Fatalf("policy %v: want the explicit threshold kept and the environment's compression", p)
	}
	if err := p.ApplyEnv(env(map[string]string{EnvThreshold: "2M"})); err != nil || p.Threshold != 2<<20 {
		t.Fatalf("policy %v, %v: ApplyEnv must override a set threshold, which is why explicit settings come after it", p, err)
	}
}
