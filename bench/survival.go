package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	ErrorType string `json:"error_type,omitempty"`
	Error     string `json:"error,omitempty"`
	ExitCode  int    `json:"exit_code"`
	// Reached says where the first injected fault went: "caller" (an error
	// carrying it was returned), "recovered" (the buffer re-created its
	// directory and carried on), "absorbed" (by design: an unlink of a name
	// already gone), or "none" (an unreported fault: must never happen).
	Reached   string `json:"reached,omitempty"`
	Recovered bool   `json:"recovered"` // every item was delivered once and intact in the end
	Delivered int    `json:"delivered"`
	Lost      int    `json:"lost"`
	Duplicate int    `json:"duplicated"`
	Corrupt   int    `json:"corrupted"`
	// For prior-spills-lost: the records and items it reported, and what the
	// buffer held on disk when it reported them.
	ReportedRecords int `json:"reported_records,omitempty"`
	ActualRecords   int `json:"actual_records,omitempty"`
	// Silent: data came out wrong (lost, duplicated, corrupted) and no
	// error said so. Must never happen.
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
	statsAt   spill.Stats // the buffer's stats when the first error came
}

// drive pushes the workload through a buffer with policy p. With
// keepGoing, it carries on after an error as a caller that retries would;
// otherwise it stops at the first, as the engine does.
func drive(sh shape, p spill.Policy, keepGoing bool, damage func(*spill.Buffer[[]byte])) (d *driver, panicked bool) {
	items, order := survivalItems(sh)
	d = &driver{items: items, delivered: make([]int, len(items))}
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	buf, err := spill.New(256, spill.Bytes{}, p)
	if err != nil {
		d.firstErr = err
		return d, false
	}
	fail := func(err error) bool {
		if err == nil {
			return false
		}
		if d.firstErr == nil {
			d.firstErr, d.statsAt = err, buf.Stats()
		}
		return !keepGoing
	}
	drain := func() bool {
		out, err := buf.DrainReady(nil)
		for _, v := range out {
			d.deliver(v)
		}
		return fail(err)
	}
	for i, seq := range order {
		if damage != nil && i == len(order)-1 {
			damage(buf) // the last block waits for its head, partly on disk
		}
		err := buf.Insert(seq, items[seq])
		if errors.Is(err, spill.ErrCapacity) {
			if drain() {
				break
			}
			err = buf.ForceInsert(seq, items[seq])
		}
		if fail(err) || drain() {
			break
		}
	}
	for i := 0; i < 3 && (d.firstErr == nil || keepGoing); i++ {
		if drain() {
			break
		}
	}
	fail(buf.Close())
	return d, false
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

// tally fills a run's delivery counts.
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
	r.Silent = !r.Recovered && d.firstErr == nil
	if d.firstErr != nil {
		r.Error, r.ErrorType = d.firstErr.Error(), errorType(d.firstErr)
		r.ExitCode = engine.ExitCode(d.firstErr, engine.Report{})
		var lost *spill.PriorSpillsLostError
		if errors.As(d.firstErr, &lost) {
			r.ReportedRecords, r.ActualRecords = lost.Records, d.statsAt.SpilledRecords
		}
	}
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
// run to Out/survival.jsonl.
func Survive(opt SurvivalOptions) (int, error) {
	if ents, err := os.ReadDir(opt.Out); err == nil && len(ents) > 0 {
		return 0, fmt.Errorf("result directory %s is not empty; give a new --out directory", opt.Out)
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(filepath.Join(opt.Out, "survival.jsonl"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	opt.Stride = max(opt.Stride, 1)
	env := collectEnv(&Spec{Name: "survival"}, Shard{0, 1})
	n := 0
	emit := func(r SurvivalRun) error {
		n++
		if opt.Progress != nil && n%500 == 0 {
			fmt.Fprintf(opt.Progress, "spillbench: %d survival runs\n", n)
		}
		return enc.Encode(r)
	}
	for _, g := range []spill.Granularity{spill.Batch, spill.PerItem} {
		for _, backend := range []Backend{BackendDir, BackendSpooled} {
			if err := operationSweep(g, backend, opt.Stride, emit); err != nil {
				return n, err
			}
			if err := byteSweep(g, backend, opt.Stride, emit); err != nil {
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

// mockPolicy returns a policy spilling through m into a fresh temp dir
// (or the spooled backend's temp dir) and a function removing it.
func mockPolicy(g spill.Granularity, backend Backend, m *injectors.Mock) (spill.Policy, func(), error) {
	dir, h, err := injectors.NewTempDir("survive")
	if err != nil {
		return spill.Policy{}, nil, err
	}
	p := spill.Policy{Threshold: 512, Granularity: g, FS: m.Wrap(spill.OS)}
	if backend == BackendDir {
		p.Dir = filepath.Join(dir, "spill")
	}
	return p, func() { h.Release() }, nil
}

// trace runs the workload fault-free and returns its operations.
func trace(g spill.Granularity, backend Backend) ([]injectors.Observation, error) {
	m := injectors.NewMock()
	m.Trace = true
	p, done, err := mockPolicy(g, backend, m)
	if err != nil {
		return nil, err
	}
	defer done()
	d, _ := drive(shapeFor(backend), p, false, nil)
	if d.firstErr != nil {
		return nil, fmt.Errorf("the fault-free reference run failed: %w", d.firstErr)
	}
	return m.Observations(), nil
}

// operationSweep injects each fault at operation k, for every k of the
// reference run, once (transient: the caller carries on) and from k on
// (persistent: the caller stops), until run K+1 is clean.
func operationSweep(g spill.Granularity, backend Backend, stride int, emit func(SurvivalRun) error) error {
	ops, err := trace(g, backend)
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
				p, done, err := mockPolicy(g, backend, m)
				if err != nil {
					return err
				}
				d, panicked := drive(shapeFor(backend), p, !persistent, nil)
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
func byteSweep(g spill.Granularity, backend Backend, stride int, emit func(SurvivalRun) error) error {
	ops, err := trace(g, backend)
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
	for b := 0; b < size; b += stride {
		m := injectors.NewMock()
		if err := m.Arm(injectors.Fault{Mode: injectors.ModeENOSPC, Rule: fmt.Sprintf("(index %d)", k), Partial: max(b, 0)}); err != nil {
			return err
		}
		p, done, err := mockPolicy(g, backend, m)
		if err != nil {
			return err
		}
		d, panicked := drive(shapeFor(backend), p, true, nil)
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
	})
	if size == 0 {
		return errors.New("the corruption sweep's reference run spilled nothing")
	}
	run := func(fault string, at int, damage func(*memFile)) error {
		fs := &memFS{}
		d, panicked := drive(shapeFor(BackendDir), spill.Policy{Threshold: 512, Granularity: g, Dir: "/mem", FS: fs}, false, func(*spill.Buffer[[]byte]) {
			if fs.file != nil {
				damage(fs.file)
			}
		})
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
