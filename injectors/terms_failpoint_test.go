//go:build failpoint

package injectors

import "testing"

// Every term ParseTerms accepts, the failpoint library accepts too: the
// spec-time check is no looser than what arms the fault.
func TestParseTermsAgreesWithTheLibrary(t *testing.T) {
	const name = FailpointPrefix + "terms-test"
	for _, terms := range []string{
		`return("ENOSPC")`, `1*return("EIO")`, `25%return("ENOSPC")`, `sleep(10)`, `sleep("2ms")`,
		`2*off->1*return("EDQUOT")`, `50%1*return("enospc")`, `off`, `12.5%return("EIO")`, `return("ENOENT")->off`,
	} {
		if err := ParseTerms(terms); err != nil {
			t.Fatalf("ParseTerms(%s): %v", terms, err)
		}
		if err := enableFailpoint(name, terms); err != nil {
			t.Errorf("the library refuses %s, which ParseTerms accepts: %v", terms, err)
		}
		disableFailpoint(name)
	}
}
