package injectors

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/spillbench/spillbench/spill"
)

// Mock is the mock-writer mechanism: it wraps the spill FS seam and fails
// the calls its fault selects, without touching the kernel. The fault
// picks calls by site and rule: Fault.Site if set, the Rule if set, and
// record and batch writes when neither is; it then fails the first write
// past AfterBytes (writing what fits first, as a full disk does), or the
// Nth such call (the first if Nth is 0): once, or, if Persistent, from
// then on (a full disk stays full).
// With Trace set it also logs every call, failed or not, so a fault-free
// run counts and lists the operations an every-operation sweep targets.
type Mock struct {
	owned
	log Log

	// Trace logs every call as an observation without an errno.
	Trace bool

	mu      sync.Mutex
	fault   Fault
	rule    Rule
	calls   int   // every call through the FS
	matched int   // calls the fault selects
	written int64 // bytes written by selected writes
	fired   int
}

// NewMock returns the mock-writer mechanism.
func NewMock() *Mock { return &Mock{} }

func (*Mock) Name() string            { return "mock" }
func (*Mock) Family() Family          { return Userspace }
func (*Mock) Requires() []Requirement { return nil }
func (*Mock) Probe() error            { return nil }
func (*Mock) Modes() []Mode {
	return []Mode{ModeENOSPC, ModeEDQUOT, ModeEIO, ModeEFBIG, ModeENOENT, ModeShortWrite}
}

// Setup gives the run a fresh spill directory and wraps its FS.
func (m *Mock) Setup(context.Context) (Setup, error) {
	dir, err := newWorkDir(&m.owned, "mock")
	if err != nil {
		return Setup{}, err
	}
	m.mu.Lock()
	m.calls, m.matched, m.written, m.fired = 0, 0, 0, 0
	m.mu.Unlock()
	m.log = Log{}
	return Setup{Dir: dir + "/spill", Wrap: m.Wrap}, nil
}

// Arm sets the fault.
func (m *Mock) Arm(f Fault) error {
	if !slices.Contains(m.Modes(), f.Mode) {
		return fmt.Errorf("mock: %w: %s", ErrUnsupportedMode, f.Mode)
	}
	var rule Rule
	if f.Rule != "" {
		r, err := ParseRule(f.Rule)
		if err != nil {
			return err
		}
		rule = r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fault, m.rule = f, rule
	return nil
}

func (m *Mock) Observations() []Observation { return m.log.All() }
func (m *Mock) Teardown() error             { return m.releaseAll() }

// Wrap returns fs with the mock's faults around it.
func (m *Mock) Wrap(fs spill.FS) spill.FS { return &hookFS{check: m.check, inner: fs} }

// selects reports whether the armed fault applies to op.
func (m *Mock) selects(op Op) bool {
	switch site := m.fault.Site; {
	case site != "" && op.Site != site:
		return false
	case site == "" && m.rule == nil:
		return op.Site == spill.SiteRecordWrite || op.Site == spill.SiteBatchWrite
	}
	return m.rule == nil || m.rule.Match(op)
}

// Calls returns how many calls went through the mock since Setup.
func (m *Mock) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// check decides the fate of one call. For a write of n bytes it returns
// how many to let through before failing (n means all: no failure).
func (m *Mock) check(kind OpKind, site spill.Site, path string, off int64, n int) (allow int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	op := Op{Kind: kind, Site: site, Path: path, Index: m.calls}
	if m.Trace {
		defer func() {
			if err == nil {
				m.log.Add(Observation{Site: site, Op: string(kind), Path: path, Offset: off, Size: n, Call: m.calls, Note: "traced"})
			}
		}()
	}
	if m.fault.Mode == "" || !m.selects(op) {
		return n, nil
	}
	m.matched++
	f := m.fault
	switch {
	case f.AfterBytes > 0:
		if m.written+int64(n) <= f.AfterBytes || (m.fired > 0 && !f.Persistent) {
			m.written += int64(n)
			return n, nil
		}
		allow = int(max(0, f.AfterBytes-m.written))
		m.written += int64(allow)
	case m.matched < max(f.Nth, 1), m.fired > 0 && !f.Persistent:
		return n, nil
	}
	if f.Mode == ModeShortWrite {
		allow = n / 2
		err = io.ErrShortWrite
	} else {
		err = modeErrno[f.Mode]
	}
	if f.Partial > 0 {
		allow = min(f.Partial, n)
	}
	m.fired++
	m.log.Add(Observation{Mode: f.Mode, Errno: errnoName(err), Site: site, Op: string(kind), Path: path,
		Offset: off, Size: n, Call: m.matched, Note: fmt.Sprintf("%d of %d bytes let through", allow, n)})
	return allow, err
}
