package spill

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// faultFS wraps an FS, counts the calls at every site, and fails the calls
// its faults match. It is the test-only cousin of the injectors package.
type faultFS struct {
	inner FS

	mu     sync.Mutex
	calls  map[Site]int
	faults []*fault
}

// fault fails calls at one site: call number nth (1-based) and the times-1
// after it; times 0 means every call from nth on.
type fault struct {
	site    Site
	nth     int
	times   int
	err     error
	partial int    // a failing WriteAt writes this many bytes first
	before  func() // side effect run when the fault fires
	fired   int
}

func newFaultFS(inner FS) *faultFS {
	if inner == nil {
		inner = OS
	}
	return &faultFS{inner: inner, calls: map[Site]int{}}
}

// failAt arms a one-shot fault at the nth call of site.
func (f *faultFS) failAt(site Site, nth int, err error) *fault {
	return f.add(&fault{site: site, nth: nth, times: 1, err: err})
}

func (f *faultFS) add(ft *fault) *fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, ft)
	return ft
}

// clear disarms every fault.
func (f *faultFS) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

func (f *faultFS) count(site Site) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[site]
}

func (f *faultFS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// check counts a call at site and returns the fault that fires on it.
func (f *faultFS) check(site Site) *fault {
	f.mu.Lock()
	f.calls[site]++
	n := f.calls[site]
	var hit *fault
	for _, ft := range f.faults {
		if ft.site == site && n >= ft.nth && (ft.times == 0 || ft.fired < ft.times) {
			ft.fired++
			hit = ft
			break
		}
	}
	f.mu.Unlock()
	if hit != nil && hit.before != nil {
		hit.before()
	}
	return hit
}

func (f *faultFS) MkdirAll(site Site, dir string, perm os.FileMode) error {
	if ft := f.check(site); ft != nil {
		return ft.err
	}
	return f.inner.MkdirAll(site, dir, perm)
}

func (f *faultFS) CreateTemp(site Site, dir string) (File, string, error) {
	if ft := f.check(site); ft != nil {
		return nil, "", ft.err
	}
	file, name, err := f.inner.CreateTemp(site, dir)
	if err != nil {
		return nil, "", err
	}
	return &faultFile{fs: f, inner: file}, name, nil
}

func (f *faultFS) Remove(site Site, name string) error {
	if ft := f.check(site); ft != nil {
		return ft.err
	}
	return f.inner.Remove(site, name)
}

type faultFile struct {
	fs    *faultFS
	inner File
}

func (f *faultFile) WriteAt(site Site, p []byte, off int64) (int, error) {
	if ft := f.fs.check(site); ft != nil {
		n := 0
		if ft.partial > 0 {
			n, _ = f.inner.WriteAt(site, p[:min(ft.partial, len(p))], off)
		}
		return n, ft.err
	}
	return f.inner.WriteAt(site, p, off)
}

func (f *faultFile) ReadAt(site Site, p []byte, off int64) (int, error) {
	if ft := f.fs.check(site); ft != nil {
		return 0, ft.err
	}
	return f.inner.ReadAt(site, p, off)
}

func (f *faultFile) Close(site Site) error {
	err := f.inner.Close(site)
	if ft := f.fs.check(site); ft != nil {
		return ft.err
	}
	return err
}

// Helpers shared by the buffer tests.

// payload returns n deterministic bytes for seq: the sequence number, then
// a pattern that depends on it.
func payload(seq uint64, n int) []byte {
	b := make([]byte, max(n, 8))
	binary.BigEndian.PutUint64(b, seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq*31 + uint64(i)*7)
	}
	return b[:n]
}

// A policy that leaves IOBuffer zero gets no staging: every record is
// written as it is made and read on its own, so the tests of eviction and
// of the failure contract see one write per record, as the reference
// makes them. Tests of staging set IOBuffer themselves.
func newBuffer(t *testing.T, capacity int, p Policy) *Buffer[[]byte] {
	t.Helper()
	if p.IOBuffer == 0 {
		p.IOBuffer = -1
	}
	b, err := New(capacity, Bytes{}, p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// squeeze changes b's budget in place, for tests that fill a buffer under
// one budget and then evict under another.
func squeeze(b *Buffer[[]byte], threshold int64) {
	b.threshold, b.itemLimit = threshold, threshold-b.stage
}

// insertAll inserts payload(seq, size) for each seq and fails the test on
// any error.
func insertAll(t *testing.T, b *Buffer[[]byte], size int, seqs ...uint64) {
	t.Helper()
	for _, s := range seqs {
		if err := b.Insert(s, payload(s, size)); err != nil {
			t.Fatalf("Insert(%d): %v", s, err)
		}
	}
}

// seqRange returns lo, lo+1, ..., hi-1.
func seqRange(lo, hi uint64) []uint64 {
	var s []uint64
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// drainExpect drains b and checks it delivers exactly payload(seq, size)
// for seq = from, from+1, ..., to-1, and nothing after.
func drainExpect(t *testing.T, b *Buffer[[]byte], size int, from, to uint64) {
	t.Helper()
	got, err := b.DrainReady(nil)
	if err != nil {
		t.Fatalf("DrainReady after %d items: %v", len(got), err)
	}
	if len(got) != int(to-from) {
		t.Fatalf("drained %d items, want %d (seq %d..%d)", len(got), to-from, from, to-1)
	}
	for i, v := range got {
		seq := from + uint64(i)
		if want := payload(seq, size); string(v) != string(want) {
			t.Fatalf("item %d: got %x..., want %x...", seq, v[:min(8, len(v))], want[:min(8, len(want))])
		}
	}
}

// mustErrAs fails unless err's chain holds a *E, and returns it.
func mustErrAs[E error](t *testing.T, err error) E {
	t.Helper()
	var target E
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}
