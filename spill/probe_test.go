package spill

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestProbeLeavesNothingBehind(t *testing.T) {
	// With O_TMPFILE the probe file never has a name; without it, Probe
	// must remove the name it made. Either way the directory ends empty,
	// and every call was made at the probe's own site.
	for _, inner := range []FS{osFS{}, osFS{noTmpfile: true}} {
		ffs := newFaultFS(inner)
		dir := t.TempDir()
		b := newBuffer(t, 8, Policy{Threshold: 1 << 10, Dir: dir, FS: ffs})
		if err := b.Probe(); err != nil {
			t.Fatal(err)
		}
		if names := dirEntries(t, dir); len(names) != 0 {
			t.Fatalf("probe left %v in the spill directory", names)
		}
		// create, write, read, close, and the remove of a named file
		want := 4
		if inner.(osFS).noTmpfile {
			want = 5
		}
		if got := ffs.count(SiteDirProbe); got != want || ffs.total() != want+1 /* New's mkdir */ {
			t.Fatalf("%d calls at %s and %d in all; want %d and %d", got, SiteDirProbe, ffs.total(), want, want+1)
		}
	}
}

func TestProbeReportsTheDirectoryGone(t *testing.T) {
	dir := t.TempDir() + "/spill"
	b := newBuffer(t, 8, Policy{Threshold: 1 << 10, Dir: dir})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	err := b.Probe()
	var ioe *IOError
	if !errors.As(err, &ioe) || ioe.Site != SiteDirProbe || ioe.Path != dir || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("probe of a removed directory: %v; want an *IOError at %s for %s wrapping ErrNotExist", err, SiteDirProbe, dir)
	}
}

func TestProbeFailuresAreTypedAndClean(t *testing.T) {
	// A probe that fails part-way (the write, the read back, the close,
	// the remove) is an *IOError at the probe site with the first error,
	// and still closes and removes its file.
	for _, tc := range []struct {
		name string
		nth  int // the probe-site call to fail: 1 create, 2 write, 3 read, 4 close, 5 remove
		err  error
		off  int64 // the error's offset: 0 for the block's write and read, -1 for the rest
	}{
		{"create", 1, syscall.EACCES, -1},
		{"write", 2, syscall.ENOSPC, 0},
		{"read", 3, syscall.EIO, 0},
		{"close", 4, syscall.EIO, -1},
		{"remove", 5, syscall.EROFS, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ffs := newFaultFS(osFS{noTmpfile: true})
			dir := t.TempDir()
			b := newBuffer(t, 8, Policy{Threshold: 1 << 10, Dir: dir, FS: ffs})
			ffs.failAt(SiteDirProbe, tc.nth, tc.err)
			err := b.Probe()
			var ioe *IOError
			if !errors.As(err, &ioe) || ioe.Site != SiteDirProbe || !errors.Is(err, tc.err) || ioe.Offset != tc.off {
				t.Fatalf("probe with its %s failing: %v; want an *IOError at %s, offset %d, wrapping %v", tc.name, err, SiteDirProbe, tc.off, tc.err)
			}
			if tc.name == "remove" {
				return // the one failure that leaves the file: nothing could remove it
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Fatalf("failed probe left %v", names)
			}
		})
	}
}

func TestProbeWithoutDiskDoesNothing(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newBuffer(t, 8, Policy{Threshold: 1 << 10, InMemoryOnly: true, FS: ffs})
	if err := b.Probe(); err != nil || ffs.total() != 0 {
		t.Fatalf("in-memory-only probe: %v after %d filesystem calls; want nil after none", err, ffs.total())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Probe(); !errors.Is(err, ErrClosed) {
		t.Fatalf("probe of a closed buffer: %v; want ErrClosed", err)
	}
}

func TestFirstSpillWarnsOnce(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	dir := t.TempDir()
	b := newBuffer(t, 64, Policy{Threshold: 500, Granularity: PerItem, Dir: dir, Logger: logger})
	insertAll(t, b, 100, seqRange(1, 4)...) // 300 bytes: under budget
	if log.Len() != 0 {
		t.Fatalf("warned before any spill: %q", log.String())
	}
	insertAll(t, b, 100, seqRange(4, 40)...) // many spills
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, 40)
	if s := b.Stats(); s.Activations < 2 {
		t.Fatalf("%d spill activations; the test needs several", s.Activations)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "dir="+dir) || !strings.Contains(lines[0], "threshold=500B") {
		t.Fatalf("log %q; want one warning naming dir=%s and threshold=500B", log.String(), dir)
	}
}
