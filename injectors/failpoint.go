package injectors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// FailpointPrefix starts the failpoint name of every spill site:
// FailpointPrefix + "batch.write" and so on.
const FailpointPrefix = "spillbench/spill/"

// Failpoint is the failpoint mechanism: github.com/pingcap/failpoint at
// every site of the spill site table, armed with its term syntax:
// `return("ENOSPC")`, `1*return("EIO")`, `25%return("ENOSPC")`,
// `sleep(10)`, `2*off->1*return("EDQUOT")`. A returned string names the
// errno the seam call fails with.
//
// The failpoint library is compiled in only with -tags failpoint; default
// builds do not link it, and this mechanism then reports itself
// unavailable. Test with it: go test -tags failpoint ./injectors
type Failpoint struct {
	owned
	log     Log
	enabled []string
	// sleepFloor is set when the armed terms sleep or pause. Eval
	// returns nil both for a term that was off and for a delay, so a nil
	// evaluation that took at least this long is taken as a delay.
	sleepFloor time.Duration
}

// NewFailpoint returns the failpoint mechanism.
func NewFailpoint() *Failpoint { return &Failpoint{} }

func (*Failpoint) Name() string            { return "failpoint" }
func (*Failpoint) Family() Family          { return Userspace }
func (*Failpoint) Requires() []Requirement { return []Requirement{NeedTagged} }
func (f *Failpoint) Probe() error          { return probeRequirements(f.Requires()) }
func (*Failpoint) Modes() []Mode {
	return []Mode{ModeENOSPC, ModeEDQUOT, ModeEIO, ModeEFBIG, ModeENOENT, ModeLatency}
}

func (f *Failpoint) Setup(context.Context) (Setup, error) {
	if err := f.Probe(); err != nil {
		return Setup{}, err
	}
	dir, err := newWorkDir(&f.owned, "failpoint")
	if err != nil {
		return Setup{}, err
	}
	f.log = Log{}
	return Setup{Dir: dir + "/spill", Wrap: func(fs spill.FS) spill.FS {
		fp := &failpointFS{fp: f}
		return &hookFS{check: fp.check, inner: fs}
	}}, nil
}

// Terms returns the failpoint term a fault stands for: Terms itself if
// set, else return(errno) once on the Nth evaluation, or on every one if
// Persistent; sleep for latency.
func (fault Fault) terms() (string, error) {
	if fault.Terms != "" {
		return fault.Terms, nil
	}
	var act string
	switch {
	case fault.Mode == ModeLatency:
		act = fmt.Sprintf("sleep(%d)", max(1, fault.Latency.Milliseconds()))
	case modeErrno[fault.Mode] != 0:
		act = fmt.Sprintf("return(%q)", unix.ErrnoName(modeErrno[fault.Mode]))
	default:
		return "", fmt.Errorf("failpoint: %w: %s", ErrUnsupportedMode, fault.Mode)
	}
	if !fault.Persistent {
		act = "1*" + act
	}
	if fault.Nth > 1 {
		act = fmt.Sprintf("%d*off->%s", fault.Nth-1, act)
	}
	return act, nil
}

// Arm enables the fault's term at its site, or at both record and batch
// writes when the fault names no site.
func (f *Failpoint) Arm(fault Fault) error {
	if !slices.Contains(f.Modes(), fault.Mode) && fault.Terms == "" {
		return fmt.Errorf("failpoint: %w: %s", ErrUnsupportedMode, fault.Mode)
	}
	terms, err := fault.terms()
	if err != nil {
		return err
	}
	f.sleepFloor = 0
	if strings.Contains(terms, "sleep") || strings.Contains(terms, "pause") {
		f.sleepFloor = max(fault.Latency/2, 500*time.Microsecond)
	}
	sites := []spill.Site{fault.Site}
	if fault.Site == "" {
		sites = []spill.Site{spill.SiteRecordWrite, spill.SiteBatchWrite}
	}
	for _, s := range sites {
		name := FailpointPrefix + string(s)
		if err := enableFailpoint(name, terms); err != nil {
			return fmt.Errorf("failpoint %s: %w", name, err)
		}
		f.enabled = append(f.enabled, name)
		f.add("failpoint", name, func() error { return disableFailpoint(name) })
	}
	return nil
}

func (f *Failpoint) Observations() []Observation { return f.log.All() }
func (f *Failpoint) Teardown() error             { return f.releaseAll() }

// failpointFS evaluates the site's failpoint before every seam call; it
// counts the calls so observations say which one failed.
type failpointFS struct {
	fp *Failpoint

	mu    sync.Mutex
	calls int
}

// check is eval as a checkFunc: a failpoint fails a write whole.
func (f *failpointFS) check(kind OpKind, site spill.Site, path string, off int64, _ int) (int, error) {
	return 0, f.eval(kind, site, path, off)
}

// eval returns the error the site's failpoint injects, if any.
func (f *failpointFS) eval(kind OpKind, site spill.Site, path string, off int64) error {
	f.mu.Lock()
	f.calls++
	call := f.calls
	f.mu.Unlock()
	start := time.Now()
	v, ok := evalFailpoint(FailpointPrefix + string(site))
	took := time.Since(start)
	if !ok {
		return nil
	}
	o := Observation{Mode: "failpoint", Site: site, Op: string(kind), Path: path, Offset: off, Call: call}
	s, isString := v.(string)
	if !isString {
		// A sleep or pause ran inside Eval, or the term was off.
		if v != nil || (f.fp.sleepFloor > 0 && took >= f.fp.sleepFloor) {
			o.Note = fmt.Sprintf("fired with value %v, no failure", v)
			f.fp.log.Add(o)
		}
		return nil
	}
	errno := errnoByName(strings.ToUpper(s))
	if errno == 0 {
		errno = unix.EIO
	}
	o.Errno = unix.ErrnoName(errno)
	f.fp.log.Add(o)
	return errno
}
