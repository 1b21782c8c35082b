package injectors

import (
	"strings"
	"testing"
)

// Terms in the failpoint grammar that a sweep can use are accepted; the
// rest are refused with the term that is wrong. The cases are written
// from pingcap/failpoint's grammar, not from the parser.
func TestParseTerms(t *testing.T) {
	for _, ok := range []string{
		`return("ENOSPC")`, `1*return("EIO")`, `25%return("ENOSPC")`, `sleep(10)`, `sleep("2ms")`,
		`2*off->1*return("EDQUOT")`, `50%1*return("enospc")`, `off`, `12.5%return("EIO")`, `return("ENOENT")->off`,
	} {
		if err := ParseTerms(ok); err != nil {
			t.Errorf("ParseTerms(%s): %v", ok, err)
		}
	}
	for _, tc := range []struct{ terms, says string }{
		{``, "empty"},
		{`return(ENOSPC)`, "in quotes"},
		{`return("ENOSPCX")`, "not an errno"},
		{`return(5)`, "in quotes"},
		{`retrun("EIO")`, "unknown action"},
		{`return("EIO"`, "closing parenthesis"},
		{`panic`, "not allowed"},
		{`pause`, "not allowed"},
		{`101%return("EIO")`, "probability"},
		{`0*return("EIO")`, "count"},
		{`3return("EIO")`, "followed by"},
		{`sleep(-5)`, "0 ms or more"},
		{`sleep("soon")`, "not a duration"},
		{`off(1)`, "no value"},
		{`return("EIO")->`, "no action"},
		{`->off`, "no action"},
		{`2*`, "no action"},
	} {
		err := ParseTerms(tc.terms)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseTerms(%s) = %v, want an error saying %q", tc.terms, err, tc.says)
		}
	}
}

// FuzzParseTerms: any input is refused or accepted without a panic, with
// a one-line error; built with -tags failpoint, what it accepts the
// failpoint library accepts too.
func FuzzParseTerms(f *testing.F) {
	for _, s := range []string{`return("ENOSPC")`, `25%1*sleep("1ms")->off`, `2*off->1*return("EDQUOT")`, `%(`, `1.2.3%off`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ParseTerms(s)
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("error of more than one line: %q", err)
		}
		if err == nil && failpointsBuilt {
			const name = FailpointPrefix + "terms-fuzz"
			if err := enableFailpoint(name, s); err != nil {
				t.Fatalf("ParseTerms accepts %q, the library refuses it: %v", s, err)
			}
			disableFailpoint(name)
		}
	})
}
