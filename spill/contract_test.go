package spill

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The failure contract, one test per clause, driven through faultFS.

// writeSite is the site a granularity writes its records at.
func writeSite(g Granularity) Site {
	if g == PerItem {
		return SiteRecordWrite
	}
	return SiteBatchWrite
}

func TestFailedWriteKeepsEveryItemDeliverable(t *testing.T) {
	for _, g := range []Granularity{Batch, PerItem} {
		for _, errno := range []unix.Errno{unix.ENOSPC, unix.EDQUOT, unix.EIO, unix.EFBIG} {
			for _, partial := range []int{0, 30} {
				t.Run(fmt.Sprintf("%s/%s/partial=%d", g, unix.ErrnoName(errno), partial), func(t *testing.T) {
					testFailedWrite(t, g, errno, partial)
				})
			}
		}
	}
}

func testFailedWrite(t *testing.T, g Granularity, errno unix.Errno, partial int) {
	ffs := newFaultFS(nil)
	site := writeSite(g)
	// The second record write fails, after partial bytes reach the file.
	ffs.add(&fault{site: site, nth: 2, times: 1, err: errno, partial: partial})
	b := newBuffer(t, 256, Policy{Threshold: 1000, Granularity: g, Dir: t.TempDir(), FS: ffs})

	var failed error
	seq := uint64(1)
	for ; failed == nil && seq < 200; seq++ {
		failed = b.Insert(seq, payload(seq, 100))
	}
	if failed == nil {
		t.Fatal("the armed fault never fired")
	}
	ioe := mustErrAs[*IOError](t, failed)
	if ioe.Site != site || !errors.Is(failed, errno) {
		t.Fatalf("error %v: site %s errno %v; want site %s, %v", failed, ioe.Site, ioe.Err, site, errno)
	}
	wantOOS := errno == unix.ENOSPC || errno == unix.EDQUOT
	if IsOutOfSpace(failed) != wantOOS || ioe.OutOfSpace() != wantOOS {
		t.Fatalf("IsOutOfSpace(%v) = %t, want %t", errno, IsOutOfSpace(failed), wantOOS)
	}
	inserted := int(seq - 1)
	if b.Len() != inserted {
		t.Fatalf("Len = %d after the failed write, want all %d inserted items", b.Len(), inserted)
	}
	before := b.Stats()
	if before.SpillEvents != 1 || before.SpilledRecords != 1 {
		t.Fatalf("after the failure: %d records written, %d live; want only the first", before.SpillEvents, before.SpilledRecords)
	}
	cursor := b.end

	// The next write lands where the failed one was aimed, over whatever
	// bytes it left behind.
	ffs.clear()
	for ; b.Stats().SpillEvents == before.SpillEvents; seq++ {
		insertAll(t, b, 100, seq)
	}
	if _, ok := b.recs.get(cursor); !ok {
		t.Fatalf("records %v; the write after the failure should start at the old cursor %d", b.recs.recs, cursor)
	}
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, seq)
}

func TestFailedBackendCreateKeepsItems(t *testing.T) {
	ffs := newFaultFS(nil)
	ffs.failAt(SiteBackendCreate, 1, unix.ENOSPC)
	b := newBuffer(t, 64, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
	insertAll(t, b, 100, seqRange(1, 6)...)
	err := b.Insert(6, payload(6, 100))
	if ioe := mustErrAs[*IOError](t, err); ioe.Site != SiteBackendCreate || !IsOutOfSpace(err) {
		t.Fatalf("error %v, want out of space at backend.create", err)
	}
	insertAll(t, b, 100, 0) // the create is retried and succeeds
	drainExpect(t, b, 100, 0, 7)
}

func TestVanishedDirBeforeFirstSpillIsRecreated(t *testing.T) {
	// Real filesystem: the directory is removed after New created it, so
	// opening the spill file fails with a real ENOENT.
	dir := filepath.Join(t.TempDir(), "spill")
	b := newBuffer(t, 64, Policy{Threshold: 500, Dir: dir})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	insertAll(t, b, 100, seqRange(1, 10)...)
	if s := b.Stats(); s.DirRecreations != 1 || s.SpillEvents == 0 {
		t.Fatalf("stats %+v: want the directory re-created once and the spill done", s)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("directory not re-created: %v", err)
	}
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, 10)
}

func TestVanishedDirAfterCommitIsPriorSpillsLost(t *testing.T) {
	for _, g := range []Granularity{Batch, PerItem} {
		t.Run(g.String(), func(t *testing.T) {
			ffs := newFaultFS(nil)
			b := newBuffer(t, 256, Policy{Threshold: 1000, Granularity: g, Dir: t.TempDir(), FS: ffs})
			insertAll(t, b, 100, seqRange(1, 30)...) // several records committed
			committed := b.Stats()
			if committed.SpilledRecords == 0 {
				t.Fatal("nothing committed; the test needs records on disk")
			}
			ffs.add(&fault{site: writeSite(g), nth: 1, err: fs.ErrNotExist})
			var err error
			seq := uint64(30)
			for ; err == nil; seq++ {
				err = b.Insert(seq, payload(seq, 100))
			}
			lost := mustErrAs[*PriorSpillsLostError](t, err)
			s := b.Stats()
			if lost.Dir != b.policy.Dir || lost.Records != s.SpilledRecords || lost.Items != s.SpilledItems {
				t.Fatalf("%v: want dir %s, %d records, %d items", err, b.policy.Dir, s.SpilledRecords, s.SpilledItems)
			}
			if s.DirRecreations != 0 {
				t.Fatal("re-created the directory although committed records were lost")
			}
			if b.Len() != int(seq-1) {
				t.Fatalf("Len = %d, want every one of the %d inserted items", b.Len(), seq-1)
			}
			// In memory items stay deliverable; so, with the handle still
			// open, do the records this fault did not really destroy.
			ffs.clear()
			insertAll(t, b, 100, 0)
			drainExpect(t, b, 100, 0, seq)
		})
	}
}

func TestVanishRecoveryFailureIsTempVanished(t *testing.T) {
	for _, tc := range []struct {
		name  string
		arm   func(*faultFS)
		recre int64
		site  Site // where the error that ended recovery struck
	}{
		{"mkdir fails", func(f *faultFS) {
			f.failAt(SiteBackendCreate, 1, fs.ErrNotExist)
			f.failAt(SiteDirRecreate, 1, unix.EACCES)
		}, 0, SiteDirRecreate},
		{"vanishes again during the retry", func(f *faultFS) {
			f.failAt(SiteBackendCreate, 1, fs.ErrNotExist)
			f.failAt(SiteBackendCreate, 2, fs.ErrNotExist)
		}, 1, SiteBackendCreate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ffs := newFaultFS(nil)
			tc.arm(ffs)
			b := newBuffer(t, 64, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
			insertAll(t, b, 100, seqRange(1, 6)...)
			err := b.Insert(6, payload(6, 100))
			tv := mustErrAs[*TempVanishedError](t, err)
			if tv.Path != b.policy.Dir {
				t.Fatalf("TempVanished path %s, want %s", tv.Path, b.policy.Dir)
			}
			// Neither a mkdir nor a create touches the file: offset -1.
			if ioe := mustErrAs[*IOError](t, err); ioe.Site != tc.site || ioe.Offset != -1 {
				t.Fatalf("%v: want the cause at %s with offset -1, got %s and %d", err, tc.site, ioe.Site, ioe.Offset)
			}
			if got := b.Stats().DirRecreations; got != tc.recre {
				t.Fatalf("%d re-creations, want %d", got, tc.recre)
			}
			insertAll(t, b, 100, 0)
			drainExpect(t, b, 100, 0, 7)
		})
	}
}

func TestDirIsRecreatedAtMostOnce(t *testing.T) {
	ffs := newFaultFS(nil)
	ffs.failAt(SiteBackendCreate, 1, fs.ErrNotExist)
	b := newBuffer(t, 64, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
	insertAll(t, b, 100, seqRange(1, 8)...)
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, 8) // nothing on disk any more
	if s := b.Stats(); s.DirRecreations != 1 || s.SpilledRecords != 0 {
		t.Fatalf("stats %+v, want one re-creation and nothing left on disk", s)
	}
	ffs.add(&fault{site: SiteBatchWrite, nth: 1, err: fs.ErrNotExist})
	var err error
	for seq := uint64(8); err == nil && seq < 100; seq++ {
		err = b.Insert(seq, payload(seq, 100))
	}
	mustErrAs[*TempVanishedError](t, err)
	if got := b.Stats().DirRecreations; got != 1 {
		t.Fatalf("%d re-creations, want the one allowed", got)
	}
}

func TestSpooledRolloverIntoVanishedTempDir(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	b := newBuffer(t, 4096, Policy{Threshold: 64 << 10, Granularity: PerItem})
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	var err error
	seq := uint64(1)
	for ; err == nil && seq < 4000; seq++ {
		err = b.Insert(seq, payload(seq, 1000))
	}
	tv := mustErrAs[*TempVanishedError](t, err)
	if tv.Path != tmp {
		t.Fatalf("TempVanished path %s, want the temp dir %s", tv.Path, tmp)
	}
	if ioe := mustErrAs[*IOError](t, err); ioe.Site != SiteBackendRollover {
		t.Fatalf("site %s, want %s", ioe.Site, SiteBackendRollover)
	}
	if b.Stats().DirRecreations != 0 {
		t.Fatal("re-created the system temp dir")
	}
	// Everything spooled so far is still in memory and deliverable, though
	// every eviction keeps failing while the temp dir is gone.
	mustErrAs[*TempVanishedError](t, b.Insert(0, payload(0, 1000)))
	drainExpect(t, b, 1000, 0, seq)
}

func TestFailedReloadChangesNothing(t *testing.T) {
	for _, site := range []Site{SiteReloadHeader, SiteReloadPayload} {
		t.Run(string(site), func(t *testing.T) {
			ffs := newFaultFS(nil)
			ffs.failAt(site, 1, unix.EIO)
			b := newBuffer(t, 64, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
			insertAll(t, b, 100, seqRange(0, 20)...)
			var got [][]byte
			var err error
			for err == nil {
				var v []byte
				var ok bool
				if v, ok, err = b.Next(); ok {
					got = append(got, v)
				}
			}
			if ioe := mustErrAs[*IOError](t, err); ioe.Site != site || !errors.Is(err, unix.EIO) {
				t.Fatalf("error %v, want EIO at %s", err, site)
			}
			if b.Len() != 20-len(got) {
				t.Fatalf("Len %d after the failed reload, want %d", b.Len(), 20-len(got))
			}
			drainExpect(t, b, 100, uint64(len(got)), 20) // the retry succeeds
		})
	}
}

func TestCorruptRecordOnDisk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(mem []byte, off int64) []byte
		check  func(t *testing.T, err error)
	}{
		{"flipped payload bit", func(m []byte, off int64) []byte { m[off+headerSize+3] ^= 0x10; return m }, wantCorrupt("checksum")},
		{"bad magic", func(m []byte, off int64) []byte { m[off] = 'X'; return m }, wantCorrupt("magic")},
		{"truncated file", func(m []byte, off int64) []byte { return m[:off+headerSize+2] }, wantCorrupt("ends early")},
		{"unknown codec tag", func(m []byte, off int64) []byte {
			m[off+4] = 7
			finishRecord(m[off:off+headerSize+int64(leU32(m[off+12:]))], 7, int(leU32(m[off+8:])), int(leU32(m[off+16:])))
			return m
		}, func(t *testing.T, err error) {
			if uc := mustErrAs[*UnsupportedCompressionError](t, err); uc.Tag != 7 {
				t.Fatalf("tag %d, want 7", uc.Tag)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The spooled backend keeps the file in a slice the test can damage.
			b := newBuffer(t, 64, Policy{Threshold: 500})
			insertAll(t, b, 100, seqRange(1, 20)...)
			off, _ := b.index.get(19)
			sp := b.file.(*spooled)
			sp.mem = tc.damage(sp.mem, off)
			insertAll(t, b, 100, 0)
			_, err := b.DrainReady(nil)
			tc.check(t, err)
			if ce := (*CorruptRecordError)(nil); errors.As(err, &ce) && ce.Offset != off {
				t.Fatalf("corrupt record offset %d, want %d", ce.Offset, off)
			}
		})
	}
}

func wantCorrupt(reason string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		ce := mustErrAs[*CorruptRecordError](t, err)
		if !containsFold(ce.Reason, reason) {
			t.Fatalf("reason %q, want it to mention %q", ce.Reason, reason)
		}
	}
}

func TestOutOfSpacePredicate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{unix.ENOSPC, true},
		{unix.EDQUOT, true},
		{unix.EIO, false},
		{unix.ENOENT, false},
		{nil, false},
		// Wrapped twice, as a real write error arrives.
		{&IOError{Site: SiteRecordWrite, Err: &os.PathError{Op: "write", Path: "f", Err: unix.ENOSPC}}, true},
		{fmt.Errorf("outer: %w", &IOError{Err: &os.PathError{Err: unix.EDQUOT}}), true},
	} {
		if got := IsOutOfSpace(tc.err); got != tc.want {
			t.Errorf("IsOutOfSpace(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

func TestCloseReleasesTheFileAndReportsItsError(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("cannot count open files: %v", err)
		}
		return len(ents)
	}
	before := fds()
	ffs := newFaultFS(nil)
	b, err := New(64, Bytes{}, Policy{Threshold: 500, Dir: t.TempDir(), FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	insertAll(t, b, 100, seqRange(1, 10)...)
	if fds() != before+1 {
		t.Fatalf("%d open files with a spill file, want %d", fds(), before+1)
	}
	ffs.failAt(SiteBackendClose, 1, unix.EIO)
	err = b.Close()
	// A close error struck no byte of the file: its offset says so.
	if ioe := mustErrAs[*IOError](t, err); ioe.Site != SiteBackendClose || ioe.Offset != -1 {
		t.Fatalf("Close: %v (offset %d), want an error at backend.close with offset -1", err, ioe.Offset)
	}
	if fds() != before {
		t.Fatalf("%d open files after Close, want %d", fds(), before)
	}
	if err := b.Insert(10, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Insert after Close: %v, want ErrClosed", err)
	}
	if _, _, err := b.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func leU32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
