package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

// The survival sweeps drive the spill buffer directly with a fixed arrival
// order, so a fault-free run makes the same K filesystem operations every
// time, and fault k is always the same call: the every-operation sweep of
// SQLite's I/O error tests and pebble's errorfs index sweep.

// SurvivalRun is one run of a survival sweep: a line of survival.jsonl.
type SurvivalRun struct {
	Sweep      string `json:"sweep"` // operation, byte or corruption
	Gran       string `json:"gran"`
	Backend    string `json:"backend"`
	Fault      string `json:"fault"` // enospc, edquot, eio, short-write, enoent; bit-flip, truncate
	Persistent bool   `json:"persistent"`
	At         int    `json:"at"`  // the operation faulted, the byte a write stopped at, the bit flipped or the length cut to
	Ops        int    `json:"ops"` // K: operations of the fault-free run

	Injected  int    `json:"injected"` // faults the mock injected
	Site      string `json:"site,omitempty"`
	ErrorType string `json:"error_type,omitempty"` // of the first error
	Error     string `json:"error,omitempty"`
	// ExitCode is engine.ExitCode of the first error and the run's
	// ledger: 23 when no error came and the ledger is not clean.
	ExitCode int `json:"exit_code"`
	// Reached says where the first injected fault went: "caller" (an error
	// carrying it was returned), "recovered" (the buffer re-created its
	// directory and carried on), "absorbed" (by design: an unlink of a name
	// already gone), or "none" (an unreported fault: must never happen).
	Reached   string `json:"reached,omitempty"`
	Recovered bool   `json:"recovered"` // every item was delivered once and intact in the end

	// The ledger of the whole run: the phase the sweep describes, then
	// the rest of the workload fed and drained with the fault lifted.
	Delivered int `json:"delivered"`  // distinct items delivered intact
	Lost      int `json:"lost"`       // items never delivered
	Duplicate int `json:"duplicated"` // deliveries of an item already delivered
	Corrupt   int `json:"corrupted"`  // deliveries matching no item
	// Errors is how many errors the buffer returned over the run.
	Errors int `json:"errors"`
	// ReportedLost is the largest number of items an error said were
	// lost (a prior-spills-lost error counts them); LossReported is set
	// when any error said items were lost, counted or not (a corrupt
	// record says so without a count).
	ReportedLost int  `json:"reported_lost"`
	LossReported bool `json:"loss_reported"`
	// Unaccounted is the wrong data no error accounts for: every
	// duplicate and corrupt delivery, and lost items beyond those
	// reported (none beyond, when an error reported an uncounted loss).
	// OverReported is the items errors reported lost that were not.
	Unaccounted  int `json:"unaccounted"`
	OverReported int `json:"over_reported"`
	// Silent: Unaccounted is not zero. Must never happen.
	Silent   bool `json:"silent"`
	Panicked bool `json:"panicked"`
}

// shape is a survival workload: 160 items of (20 to 300 bytes) x scale
// whose first 8 bytes are their sequence number, arriving in blocks whose
// first item comes last, so the buffer holds and spills a block at a time.
type shape struct{ scale, block int }

// shapeFor is the workload a backend needs to reach the filesystem: the
// spooled backend keeps up to 1 MiB in memory, so its blocks must hold
// more than that before they can spill anything to a file.
func shapeFor(b Backend) shape {
	if b == BackendSpooled {
		return shape{scale: 64, block: 128}
	}
	return shape{scale: 1, block: 16}
}

func survivalItems(sh shape) ([][]byte, []uint64) {
	n, block := 160, sh.block
	items := make([][]byte, n)
	for i := range items {
		b := make([]byte, (20+(i*37)%281)*sh.scale)
		binary.BigEndian.PutUint64(b, uint64(i))
		for j := 8; j < len(b); j++ {
			b[j] = byte(i*7 + j)
		}
		items[i] = b
	}
	var order []uint64
	for s := 0; s < n; s += block {
		for i := s + 1; i < min(s+block, n); i++ {
			order = append(order, uint64(i))
		}
		order = append(order, uint64(s))
	}
	return items, order
}

// driver is the consumer side of a survival run.
type driver struct {
	items     [][]byte
	delivered []int // times each item was delivered
	corrupt   int
	firstErr  error
	errs      []error // every error the buffer returned, the first included
}

// drive pushes the workload through a buffer with policy p. With
// keepGoing, it carries on after an error as a caller that retries would;
// otherwise it stops at the first, as the engine does. Either way, the
// run then goes on for its ledger: lift (if not nil) takes the fault
// away, the items not yet inserted are inserted and everything is
// drained, carrying on past errors, so an item counts as lost only if
// the buffer can no longer deliver it.
func drive(sh shape, p spill.Policy, keepGoing bool, damage func(*spill.Buffer[[]byte]), lift func()) (d *driver, panicked bool) {
	items, order := survivalItems(sh)
	d = &driver{items: items, delivered: make([]int, len(items))}
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	buf, err := spill.New(256, spill.Bytes{}, p)
	at := 0
	if !d.fail(err) {
		at = d.feed(buf, order, 0, keepGoing, damage)
	} else if lift != nil {
		// The buffer was never made: every item is still the caller's,
		// who makes it again once the fault is gone.
		lift()
		if buf, err = spill.New(256, spill.Bytes{}, p); d.fail(err) {
			return d, false
		}
	} else {
		return d, false
	}
	if at >= 0 {
		if lift != nil {
			lift()
		}
		d.feed(buf, order, at, true, nil)
	}
	d.fail(buf.Close())
	return d, false
}

// feed inserts order[from:] and drains, three more times at the end. It
// stops at the first error unless keepGoing, and returns where to go on
// from then (-1 when it did not stop): the item whose insert failed with
// the buffer full, or the one after the last inserted.
func (d *driver) feed(buf *spill.Buffer[[]byte], order []uint64, from int, keepGoing bool, damage func(*spill.Buffer[[]byte])) int {
	drain := func() bool {
		out, err := buf.DrainReady(nil)
		for _, v := range out {
			d.deliver(v)
		}
		return d.fail(err) && !keepGoing
	}
	for i := from; i < len(order); i++ {
		seq := order[i]
		if damage != nil && i == len(order)-1 {
			damage(buf) // the last block waits for its head, partly on disk
		}
		err := buf.Insert(seq, d.items[seq])
		if errors.Is(err, spill.ErrCapacity) {
			if drain() {
				return i // not inserted
			}
			err = buf.ForceInsert(seq, d.items[seq])
		}
		// An insert that fails past the ring (an eviction's write) has
		// put the item in the ring: it is the buffer's to deliver.
		if (d.fail(err) && !keepGoing) || drain() {
			return i + 1
		}
	}
	for range 3 {
		if drain() {
			return len(order)
		}
	}
	return -1
}

// fail records a non-nil err and reports whether there was one.
func (d *driver) fail(err error) bool {
	if err == nil {
		return false
	}
	if d.firstErr == nil {
		d.firstErr = err
	}
	d.errs = append(d.errs, err)
	return true
}

func (d *driver) deliver(v []byte) {
	if len(v) < 8 {
		d.corrupt++
		return
	}
	seq := binary.BigEndian.Uint64(v)
	if seq >= uint64(len(d.items)) || string(v) != string(d.items[seq]) {
		d.corrupt++
		return
	}
	d.delivered[seq]++
}

// reportedLoss is what an error says about lost items: how many, and
// whether it says any were lost at all. Only a prior-spills-lost error
// counts them; a corrupt record or an unsupported codec loses the items
// of a record it does not count; an I/O error keeps its items in memory.
func reportedLoss(err error) (items int, says bool) {
	var lost *spill.PriorSpillsLostError
	var bad *spill.CorruptRecordError
	var codec *spill.UnsupportedCompressionError
	switch {
	case errors.As(err, &lost):
		return lost.Items, lost.Items > 0
	case errors.As(err, &bad), errors.As(err, &codec):
		return 0, true
	}
	return 0, false
}

// tally fills a run's ledger and compares it with what every error of the
// run reported, whatever came before it.
func (d *driver) tally(r *SurvivalRun) {
	for _, n := range d.delivered {
		switch {
		case n == 0:
			r.Lost++
		case n > 1:
			r.Duplicate += n - 1
		}
		if n > 0 {
			r.Delivered++
		}
	}
	r.Corrupt = d.corrupt
	r.Recovered = r.Lost == 0 && r.Duplicate == 0 && r.Corrupt == 0
	r.Errors = len(d.errs)
	counted := false
	for _, err := range d.errs {
		n, says := reportedLoss(err)
		r.ReportedLost = max(r.ReportedLost, n)
		r.LossReported = r.LossReported || says
		counted = counted || n > 0
	}
	uncounted := r.LossReported && !counted
	r.Unaccounted = r.Duplicate + r.Corrupt
	if !uncounted {
		r.Unaccounted += max(0, r.Lost-r.ReportedLost)
	}
	r.OverReported = max(0, r.ReportedLost-r.Lost)
	r.Silent = r.Unaccounted > 0
	if d.firstErr != nil {
		r.Error, r.ErrorType = d.firstErr.Error(), errorType(d.firstErr)
	}
	r.ExitCode = engine.ExitCode(d.firstErr, engine.Report{Sent: int64(len(d.items)), Delivered: int64(r.Delivered),
		Lost: int64(r.Lost), Duplicated: int64(r.Duplicate), Corrupted: int64(r.Corrupt)})
}

// survivalFaults are the fault kinds of the sweeps and what a caller sees.
var survivalFaults = []struct {
	name string
	mode injectors.Mode
	err  error
}{
	{"enospc", injectors.ModeENOSPC, unix.ENOSPC},
	{"edquot", injectors.ModeEDQUOT, unix.EDQUOT},
	{"eio", injectors.ModeEIO, unix.EIO},
	{"short-write", injectors.ModeShortWrite, io.ErrShortWrite},
	{"enoent", injectors.ModeENOENT, unix.ENOENT},
}

// SurvivalOptions says where the sweeps write.
type SurvivalOptions struct {
	Out      string    // result directory: survival.jsonl and env.json
	Progress io.Writer // nil is silent
	// Stride samples every sweep: every Stride-th operation (and K+1),
	// byte, bit and length (0 or 1: all of them).
	Stride int
}

// Survive runs the operation, byte and corruption sweeps over both
// granularities and the directory and spooled backends, and writes every
// run to Out/survival.jsonl. When ctx is cancelled it stops after the
// run in progress and returns ctx's error. Whatever ends it (an error,
// ctx, or a signal that makes injectors.Resources release everything),
// it leaves no scratch directory, and a result directory only when the
// sweeps completed: one it created is removed, and from one that was
// empty it removes its own files, so the same --out can be given again.
//
// Like a sweep, it holds the directory's lock (LockFile) while it writes:
// a second writer gets an *OutError naming the holder.
func Survive(ctx context.Context, opt SurvivalOptions) (n int, err error) {
	lock, err := lockResultDir(opt.Out)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, lock.release()) }()
	release := claimOut(opt.Out, lock.created)
	defer func() { err = errors.Join(err, release(err == nil)) }()
	// One marked scratch dir for every run: removed by the signal
	// handler, and by spillbench cleanup if this process is killed.
	scratch, tmp, err := injectors.NewTempDir("survive")
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, tmp.Release()) }()
	f, err := os.Create(filepath.Join(opt.Out, "survival.jsonl"))
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	enc := json.NewEncoder(f)
	opt.Stride = max(opt.Stride, 1)
	env := collectEnv(&Spec{Name: "survival"}, Shard{0, 1})
	emit := func(r SurvivalRun) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		if opt.Progress != nil && n%500 == 0 {
			fmt.Fprintf(opt.Progress, "spillbench: %d survival runs\n", n)
		}
		return enc.Encode(r)
	}
	for _, g := range []spill.Granularity{spill.Batch, spill.PerItem} {
		for _, backend := range []Backend{BackendDir, BackendSpooled} {
			if err := operationSweep(scratch, g, backend, opt.Stride, emit); err != nil {
				return n, err
			}
			if err := byteSweep(scratch, g, backend, opt.Stride, emit); err != nil {
				return n, err
			}
		}
		if err := corruptionSweep(g, opt.Stride, emit); err != nil {
			return n, err
		}
	}
	env.End, env.Complete, env.Recorded = time.Now(), true, n
	b, _ := json.MarshalIndent(env, "", "  ")
	return n, os.WriteFile(filepath.Join(opt.Out, "env.json"), append(b, '\n'), 0o644)
}

// claimOut registers the locked result directory out with
// injectors.Resources. The returned release, given whether the sweeps
// completed, keeps it then, and otherwise takes back what the sweeps
// made: the directory if it was created for them, else the files in it
// (the lock file stays, as after any sweep). A signal handler draining
// the registry releases it as failed.
func claimOut(out string, created bool) (release func(complete bool) error) {
	var complete atomic.Bool
	h := injectors.Resources.Add("result dir", out, func() error {
		switch {
		case complete.Load():
			return nil
		case created:
			return os.RemoveAll(out)
		}
		var errs []error
		for _, name := range []string{"survival.jsonl", "env.json"} {
			if err := os.Remove(filepath.Join(out, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	return func(ok bool) error {
		complete.Store(ok)
		return h.Release()
	}
}

// mockPolicy returns a policy spilling through m into a fresh directory
// in scratch (or the spooled backend's temp dir) and a function removing
// it.
func mockPolicy(scratch string, g spill.Granularity, backend Backend, m *injectors.Mock) (spill.Policy, func(), error) {
	dir, err := os.MkdirTemp(scratch, "run-")
	if err != nil {
		return spill.Policy{}, nil, err
	}
	p := spill.Policy{Threshold: 512, Granularity: g, FS: m.Wrap(spill.OS)}
	if backend == BackendDir {
		p.Dir = filepath.Join(dir, "spill")
	}
	return p, func() { os.RemoveAll(dir) }, nil
}

// trace runs the workload fault-free and returns its operations.
func trace(scratch string, g spill.Granularity, backend Backend) ([]injectors.Observation, error) {
	m := injectors.NewMock()
	m.Trace = true
	p, done, err := mockPolicy(scratch, g, backend, m)
	if err != nil {
		return nil, err
	}
	defer done()
	d, _ := drive(shapeFor(backend), p, false, nil, nil)
	if d.firstErr != nil {
		return nil, fmt.Errorf("the fault-free reference run failed: %w", d.firstErr)
	}
	return m.Observations(), nil
}

// operationSweep injects each fault at operation k, for every k of the
// reference run, once (transient: the caller carries on) and from k on
// (persistent: the caller stops), until run K+1 is clean.
func operationSweep(scratch string, g spill.Granularity, backend Backend, stride int, emit func(SurvivalRun) error) error {
	ops, err := trace(scratch, g, backend)
	if err != nil {
		return err
	}
	K := len(ops)
	for _, fk := range survivalFaults {
		for _, persistent := range []bool{false, true} {
			for k := 1; k <= K+1; k = nextOp(k, stride, K) {
				// The rule selects every call (a certain coin), so the Nth
				// call is operation k whatever its site.
				m := injectors.NewMock()
				if err := m.Arm(injectors.Fault{Mode: fk.mode, Rule: "(randomly 1 0)", Nth: k, Persistent: persistent}); err != nil {
					return err
				}
				p, done, err := mockPolicy(scratch, g, backend, m)
				if err != nil {
					return err
				}
				d, panicked := drive(shapeFor(backend), p, !persistent, nil, func() { lift(m) })
				done()
				r := SurvivalRun{Sweep: "operation", Gran: g.String(), Backend: string(backend), Fault: fk.name,
					Persistent: persistent, At: k, Ops: K, Panicked: panicked}
				obs := m.Observations()
				r.Injected = len(obs)
				if len(obs) > 0 {
					r.Site = string(obs[0].Site)
				}
				d.tally(&r)
				r.Reached = reached(obs, d.firstErr, fk.err)
				if err := emit(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// lift takes the mock's fault away: it is armed for a site no call has.
func lift(m *injectors.Mock) {
	_ = m.Arm(injectors.Fault{Mode: injectors.ModeENOSPC, Site: "lifted"})
}

// nextOp steps through 1..K by stride, always ending on K+1, the clean run.
func nextOp(k, stride, K int) int {
	if k <= K && k+stride > K {
		return K + 1
	}
	return k + stride
}

// reached classifies where the first injected fault went.
func reached(obs []injectors.Observation, firstErr, injected error) string {
	if len(obs) == 0 {
		return ""
	}
	first := obs[0]
	switch {
	case firstErr != nil && errors.Is(firstErr, injected):
		return "caller"
	case first.Site == spill.SiteBackendUnlink && errors.Is(injected, unix.ENOENT):
		return "absorbed"
	case firstErr == nil && (first.Site == spill.SiteBackendCreate || first.Site == spill.SiteRecordWrite || first.Site == spill.SiteBatchWrite) && errors.Is(injected, unix.ENOENT):
		return "recovered"
	}
	return "none"
}

// byteSweep cuts the first record write after b bytes, for every b from 0
// to the record's length, once: the header and payload split everywhere.
func byteSweep(scratch string, g spill.Granularity, backend Backend, stride int, emit func(SurvivalRun) error) error {
	ops, err := trace(scratch, g, backend)
	if err != nil {
		return err
	}
	k, size := 0, 0
	for _, o := range ops {
		if o.Site == spill.SiteRecordWrite || o.Site == spill.SiteBatchWrite {
			k, size = o.Call, o.Size
			break
		}
	}
	if k == 0 {
		return errors.New("the reference run wrote no record")
	}
	for b := 0; b <= size; b = nextCut(b, stride, size) {
		m := injectors.NewMock()
		if err := m.Arm(injectors.Fault{Mode: injectors.ModeENOSPC, Rule: fmt.Sprintf("(index %d)", k), Partial: max(b, 0)}); err != nil {
			return err
		}
		p, done, err := mockPolicy(scratch, g, backend, m)
		if err != nil {
			return err
		}
		d, panicked := drive(shapeFor(backend), p, true, nil, func() { lift(m) })
		done()
		r := SurvivalRun{Sweep: "byte", Gran: g.String(), Backend: string(backend), Fault: "enospc", At: b, Ops: len(ops), Panicked: panicked}
		r.Injected = len(m.Observations())
		d.tally(&r)
		r.Reached = reached(m.Observations(), d.firstErr, unix.ENOSPC)
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

// nextCut steps through 0..size by stride, always ending on size: the
// whole record reached the file and the write still failed.
func nextCut(b, stride, size int) int {
	if b < size && b+stride > size {
		return size
	}
	return b + stride
}

// memFS keeps the spill file in memory, so the corruption sweep can damage
// it between write and reload.
type memFS struct{ file *memFile }

func (m *memFS) MkdirAll(spill.Site, string, os.FileMode) error { return nil }
func (m *memFS) Remove(spill.Site, string) error                { return nil }
func (m *memFS) CreateTemp(spill.Site, string) (spill.File, string, error) {
	m.file = &memFile{}
	return m.file, "", nil
}

type memFile struct{ data []byte }

func (f *memFile) WriteAt(_ spill.Site, p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) ReadAt(_ spill.Site, p []byte, off int64) (int, error) {
	return bytes.NewReader(f.data).ReadAt(p, off)
}

func (f *memFile) Close(spill.Site) error { return nil }

// corruptionSweep flips every bit, then cuts at every length, of the spill
// file as it stands before the last block's head arrives, and checks that
// no run delivers a wrong item without an error. stride > 1 samples every
// stride-th bit and length.
func corruptionSweep(g spill.Granularity, stride int, emit func(SurvivalRun) error) error {
	size := 0
	ref := &memFS{}
	drive(shapeFor(BackendDir), spill.Policy{Threshold: 512, Granularity: g, Dir: "/mem", FS: ref}, false, func(*spill.Buffer[[]byte]) {
		if ref.file != nil {
			size = len(ref.file.data)
		}
	}, nil)
	if size == 0 {
		return errors.New("the corruption sweep's reference run spilled nothing")
	}
	run := func(fault string, at int, damage func(*memFile)) error {
		fs := &memFS{}
		d, panicked := drive(shapeFor(BackendDir), spill.Policy{Threshold: 512, Granularity: g, Dir: "/mem", FS: fs}, false, func(*spill.Buffer[[]byte]) {
			if fs.file != nil {
				damage(fs.file)
			}
		}, nil)
		r := SurvivalRun{Sweep: "corruption", Gran: g.String(), Backend: "memory-file", Fault: fault, At: at, Ops: size, Panicked: panicked}
		d.tally(&r)
		return emit(r)
	}
	for bit := 0; bit < 8*size; bit += stride {
		if err := run("bit-flip", bit, func(f *memFile) { f.data[bit/8] ^= 1 << (bit % 8) }); err != nil {
			return err
		}
	}
	for cut := 0; cut < size; cut += stride {
		if err := run("truncate", cut, func(f *memFile) { f.data = f.data[:cut] }); err != nil {
			return err
		}
	}
	return nil
}
