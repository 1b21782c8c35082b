//go:build failpoint

package injectors

import "github.com/pingcap/failpoint"

const failpointsBuilt = true

func enableFailpoint(name, terms string) error { return failpoint.Enable(name, terms) }
func disableFailpoint(name string) error       { return failpoint.Disable(name) }

// evalFailpoint returns the failpoint's value if it is enabled and its
// term fired on this evaluation.
func evalFailpoint(name string) (any, bool) {
	v, err := failpoint.Eval(name)
	return v, err == nil
}
