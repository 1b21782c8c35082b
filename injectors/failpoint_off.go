//go:build !failpoint

package injectors

import "errors"

// Without -tags failpoint the library is not linked and nothing fires.
const failpointsBuilt = false

var errNotBuilt = errors.New("built without -tags failpoint")

func enableFailpoint(string, string) error { return errNotBuilt }
func disableFailpoint(string) error        { return nil }
func evalFailpoint(string) (any, bool)     { return nil, false }
