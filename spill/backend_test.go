package spill

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// dirEntries lists dir, failing the test if it cannot.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestDirectoryBackendFileIsAnonymous(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fs         osFS
		wantUnlink int
	}{
		{"O_TMPFILE", osFS{}, 0},
		{"create then unlink", osFS{noTmpfile: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.wantUnlink == 0 {
				if f, err := openAnonymous(dir); err != nil {
					t.Skipf("this filesystem has no O_TMPFILE: %v", err)
				} else {
					f.Close()
				}
			}
			ffs := newFaultFS(tc.fs)
			b := newBuffer(t, 64, Policy{Threshold: 500, Dir: dir, FS: ffs})
			insertAll(t, b, 100, seqRange(1, 30)...)
			if b.Stats().SpillEvents == 0 {
				t.Fatal("nothing spilled")
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Fatalf("spill directory holds %v while spilling; the file must have no name", names)
			}
			if got := ffs.count(SiteBackendUnlink); got != tc.wantUnlink {
				t.Fatalf("%d unlinks, want %d", got, tc.wantUnlink)
			}
			insertAll(t, b, 100, 0)
			drainExpect(t, b, 100, 0, 30)
		})
	}
}

func TestSpooledBackendStaysInMemoryThenRollsOver(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ffs := newFaultFS(nil)
	b := newBuffer(t, 8192, Policy{Threshold: 64 << 10, FS: ffs})

	// Half a MiB of spill stays in the spool.
	seq := uint64(1)
	for ; b.Stats().BytesWritten < SpoolLimit/2; seq++ {
		insertAll(t, b, 1000, seq)
	}
	if n := ffs.total(); n != 0 {
		t.Fatalf("%d filesystem calls below SpoolLimit: %v", n, ffs.calls)
	}
	// Past SpoolLimit it rolls over, once, to an unnamed file in TMPDIR.
	for ; b.Stats().BytesWritten < 2*SpoolLimit; seq++ {
		insertAll(t, b, 1000, seq)
	}
	if got := ffs.count(SiteBackendRollover); got != 2 { // the create and the copy
		t.Fatalf("%d backend.rollover calls, want the create and the copy", got)
	}
	if names := dirEntries(t, tmp); len(names) != 0 {
		t.Fatalf("TMPDIR holds %v; the rolled-over file must have no name", names)
	}
	insertAll(t, b, 1000, 0)
	drainExpect(t, b, 1000, 0, seq)
}

func TestEverySiteIsReached(t *testing.T) {
	// Together these runs call the filesystem at every site in the table,
	// and at no site outside it.
	ffs := newFaultFS(osFS{noTmpfile: true})
	reached := func() map[Site]int { return ffs.calls }

	// Directory backend, per-item and batch, with a close.
	for _, g := range []Granularity{PerItem, Batch} {
		b, err := New(64, Bytes{}, Policy{Threshold: 500, Granularity: g, Dir: t.TempDir(), FS: ffs})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Probe(); err != nil {
			t.Fatal(err)
		}
		insertAll(t, b, 100, seqRange(1, 20)...)
		insertAll(t, b, 100, 0)
		drainExpect(t, b, 100, 0, 20)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A vanished directory, re-created.
	ffs.failAt(SiteBackendCreate, ffs.count(SiteBackendCreate)+1, fs.ErrNotExist)
	b := newBuffer(t, 64, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
	insertAll(t, b, 100, seqRange(1, 10)...)
	// The spooled backend rolling over.
	t.Setenv("TMPDIR", t.TempDir())
	sp := newBuffer(t, 8192, Policy{Threshold: 64 << 10, FS: ffs})
	insertAll(t, sp, 1000, seqRange(1, 2000)...)

	var got []Site
	for s := range reached() {
		got = append(got, s)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(Sites))
	if !slices.Equal(got, want) {
		t.Fatalf("sites reached %v\nsite table     %v", got, want)
	}
}

func TestNewCreatesTheSpillDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	newBuffer(t, 8, Policy{Dir: dir})
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("spill directory mode %v, want 0700", st.Mode().Perm())
	}
	if _, err := New(8, Bytes{}, Policy{Dir: filepath.Join(dir, "x"), FS: failingMkdir{}}); err == nil {
		t.Fatal("New succeeded although the directory could not be created")
	} else if ioe := mustErrAs[*IOError](t, err); ioe.Site != SiteDirCreate || ioe.Offset != -1 || ioe.Path != filepath.Join(dir, "x") || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("error %v (offset %d, path %q), want one at dir.create on the directory, with no offset, wrapping the cause", err, ioe.Offset, ioe.Path)
	}
}

type failingMkdir struct{ FS }

func (failingMkdir) MkdirAll(Site, string, os.FileMode) error { return fs.ErrPermission }

// A spill file whose name cannot be removed is not used (it would outlive
// a crash): the spill fails with an IOError at the unlink, offset -1 as
// it touched no byte of the file, and every item stays deliverable.
func TestFailedUnlinkIsAnIOErrorAndKeepsTheItems(t *testing.T) {
	ffs := newFaultFS(osFS{noTmpfile: true})
	ffs.failAt(SiteBackendUnlink, 1, unix.EROFS)
	b := newBuffer(t, 64, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
	var err error
	seq := uint64(1)
	for ; err == nil && seq < 30; seq++ {
		err = b.Insert(seq, payload(seq, 100))
	}
	ioe := mustErrAs[*IOError](t, err)
	if ioe.Site != SiteBackendUnlink || ioe.Offset != -1 || !errors.Is(err, unix.EROFS) {
		t.Fatalf("%v: want EROFS at %s with offset -1", err, SiteBackendUnlink)
	}
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, seq)
}

// The spooled backend reads like a file: what was written is there and
// nothing past it. It keeps up to SpoolLimit bytes in memory, to the byte;
// the write that would pass it rolls over, and a rollover with nothing
// spooled has nothing to copy.
func TestSpooledBackendIsAFileUpToSpoolLimit(t *testing.T) {
	ffs := newFaultFS(nil)
	s := &spooled{fs: ffs, dir: t.TempDir()}
	t.Cleanup(func() { _ = s.Close(SiteBackendClose) })
	write := func(p []byte, off int64) {
		t.Helper()
		if n, err := s.WriteAt(SiteRecordWrite, p, off); n != len(p) || err != nil {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
		}
	}
	want := []byte("0123456789abcdefghij")
	write(want[:10], 0)
	write(want[10:], 10)
	got := make([]byte, 20)
	if n, err := s.ReadAt(SiteReloadHeader, got, 0); n != 20 || (err != nil && !errors.Is(err, io.EOF)) || !bytes.Equal(got, want) {
		t.Fatalf("ReadAt(0) = %d, %v, %q; want the 20 bytes written", n, err, got[:n])
	}
	if n, err := s.ReadAt(SiteReloadHeader, got[:10], 20); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt past the 20 bytes written = %d, %v; want 0, EOF", n, err)
	}

	write(make([]byte, SpoolLimit-20), 20)
	if n := ffs.total(); n != 0 {
		t.Fatalf("%d filesystem calls with exactly SpoolLimit bytes spooled: %v", n, ffs.calls)
	}
	write([]byte{1}, SpoolLimit)
	if n := ffs.count(SiteBackendRollover); n != 2 {
		t.Fatalf("%d backend.rollover calls one byte past SpoolLimit, want the create and the copy", n)
	}
	if n, err := s.ReadAt(SiteReloadHeader, got, 0); n != 20 || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadAt(0) after the rollover = %d, %v, %q; want the 20 bytes written", n, err, got[:n])
	}

	empty := newFaultFS(nil)
	s2 := &spooled{fs: empty, dir: t.TempDir()}
	t.Cleanup(func() { _ = s2.Close(SiteBackendClose) })
	if _, err := s2.WriteAt(SiteRecordWrite, make([]byte, SpoolLimit+1), 0); err != nil {
		t.Fatal(err)
	}
	if n := empty.count(SiteBackendRollover); n != 1 {
		t.Fatalf("%d backend.rollover calls with nothing spooled, want only the create", n)
	}
}
