//go:build failpoint

package injectors_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

func TestFailpointModes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault injectors.Fault
		errno error
		site  spill.Site
	}{
		{"enospc on the 2nd batch write", injectors.Fault{Mode: injectors.ModeENOSPC, Nth: 2}, unix.ENOSPC, spill.SiteBatchWrite},
		{"edquot term", injectors.Fault{Terms: `1*return("EDQUOT")`, Site: spill.SiteBatchWrite}, unix.EDQUOT, spill.SiteBatchWrite},
		{"eio at reload", injectors.Fault{Mode: injectors.ModeEIO, Site: spill.SiteReloadPayload}, unix.EIO, spill.SiteReloadPayload},
		{"a quarter of writes", injectors.Fault{Terms: `25%return("EFBIG")`, Site: spill.SiteBatchWrite}, unix.EFBIG, spill.SiteBatchWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runUnder(t, injectors.NewFailpoint(), tc.fault, spill.Batch)
			wantCleanFailure(t, r, tc.errno)
			var ioe *spill.IOError
			if !errors.As(r.out.Err, &ioe) || ioe.Site != tc.site {
				t.Fatalf("error %v, want one at %s", r.out.Err, tc.site)
			}
			if o, ok := r.firstFailure(); !ok || o.Site != tc.site {
				t.Fatalf("observations %+v", r.obs)
			}
		})
	}
}

func TestFailpointSleepSlowsWithoutFailing(t *testing.T) {
	r := runUnder(t, injectors.NewFailpoint(), injectors.Fault{Terms: "sleep(1)", Site: spill.SiteBatchWrite}, spill.Batch)
	wantUnaffected(t, r)
}
