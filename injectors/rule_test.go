package injectors_test

import (
	"errors"
	"testing"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

func TestParseRulePrintsBackWhatItRead(t *testing.T) {
	for in, want := range map[string]string{
		"(op write)":                       "(op write)",
		" ( site  batch.write ) ":          "(site batch.write)",
		`(path "/tmp/*/spill")`:            `(path "/tmp/*/spill")`,
		"(index 3)":                        "(index 3)",
		"(randomly 0.25 7)":                "(randomly 0.25 7)",
		"(and (op write) (not (index 2)))": "(and (op write) (not (index 2)))",
		"(or (op create)\n\t(op mkdir))":   "(or (op create) (op mkdir))",
	} {
		r, err := injectors.ParseRule(in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", in, err)
			continue
		}
		if got := r.String(); got != want {
			t.Errorf("ParseRule(%q).String() = %q, want %q", in, got, want)
		}
	}
}

func TestRuleMatches(t *testing.T) {
	op := injectors.Op{Kind: injectors.OpWrite, Site: spill.SiteBatchWrite, Path: "/tmp/x/spill", Index: 4}
	for rule, want := range map[string]bool{
		"(op write)":                 true,
		"(op read)":                  false,
		"(site batch.write)":         true,
		"(site record.write)":        false,
		`(path "/tmp/*/spill")`:      true,
		`(path "/var/*")`:            false,
		"(index 4)":                  true,
		"(index 5)":                  false,
		"(and (op write) (index 4))": true,
		"(and (op write) (index 5))": false,
		"(or (op read) (index 4))":   true,
		"(not (op write))":           false,
		"(randomly 1 1)":             true,
		"(randomly 0 1)":             false,
	} {
		r, err := injectors.ParseRule(rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Match(op); got != want {
			t.Errorf("%s matched %t, want %t", rule, got, want)
		}
	}
}

func TestRandomlyIsRepeatableAndCalibrated(t *testing.T) {
	r, _ := injectors.ParseRule("(randomly 0.25 42)")
	again, _ := injectors.ParseRule("(randomly 0.25 42)")
	hits := 0
	for i := 1; i <= 10000; i++ {
		op := injectors.Op{Index: i}
		if r.Match(op) != again.Match(op) {
			t.Fatalf("call %d: two equal rules disagree", i)
		}
		if r.Match(op) {
			hits++
		}
	}
	if hits < 2300 || hits > 2700 {
		t.Fatalf("%d of 10000 calls matched (randomly 0.25 ...)", hits)
	}
}

func TestParseRuleErrorsNameThePosition(t *testing.T) {
	for in, pos := range map[string]int{
		"":                     0,
		"op write":             0,
		"(opp write)":          1,
		"(op seek)":            4,
		"(op write":            9,
		"(site nowhere)":       6,
		`(path /x)`:            6,
		`(path "[")`:           6,
		"(index 0)":            7,
		"(randomly 2 1)":       10,
		"(randomly 0.5 -1)":    14,
		"(and)":                4,
		"(not (op write)) x":   17,
		`(path "unterminated)`: 6,
	} {
		_, err := injectors.ParseRule(in)
		var re *injectors.RuleError
		if !errors.As(err, &re) {
			t.Errorf("ParseRule(%q): %v, want a RuleError", in, err)
			continue
		}
		if re.Pos != pos {
			t.Errorf("ParseRule(%q): error at %d (%s), want %d", in, re.Pos, re.Msg, pos)
		}
	}
}

// FuzzParseRule checks the parser never panics and that what it accepts
// prints to a form it reads back to the same thing.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"(op write)", `(and (path "*") (randomly 0.5 3) (not (index 2)))`, "(or (site batch.write) (op close))", "((", `(path "\"")`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := injectors.ParseRule(s)
		if err != nil {
			var re *injectors.RuleError
			if !errors.As(err, &re) || re.Pos < 0 || re.Pos > len(s) {
				t.Fatalf("error %v is not a RuleError with a position inside the input", err)
			}
			return
		}
		printed := r.String()
		again, err := injectors.ParseRule(printed)
		if err != nil || again.String() != printed {
			t.Fatalf("%q printed as %q, which reads back as %v, %v", s, printed, again, err)
		}
	})
}

func TestSummarize(t *testing.T) {
	obs := []injectors.Observation{
		{Op: "mount", Note: "remounted", Offset: -1},         // setup note
		{Op: "rmdir", Call: 2, Offset: -1, Note: "vanished"}, // fired, no errno
		{Op: "write", Call: 5, Errno: "ENOSPC", Site: spill.SiteBatchWrite, Offset: 4096},
		{Op: "close", Call: 6, Errno: "EIO", Site: spill.SiteBackendClose, Offset: -1},
	}
	got := injectors.Summarize(obs)
	want := injectors.Summary{Fired: true, Errno: "ENOSPC", Site: spill.SiteBatchWrite, Op: "write", Offset: 4096, Call: 5, Events: 3}
	if got != want {
		t.Fatalf("Summarize = %+v\nwant        %+v", got, want)
	}
	if s := injectors.Summarize(obs[:1]); s.Fired || s.Events != 0 {
		t.Fatalf("setup notes alone: %+v", s)
	}
}
