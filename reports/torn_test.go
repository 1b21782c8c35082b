package reports

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/spillbench/spillbench/internal/resultlock"
)

// copyQuick copies the quick result directory, profiles included.
func copyQuick(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "profiles"), 0o755)
	for _, f := range []string{"results.txt", "outcomes.jsonl", "env.json", "spec.yaml"} {
		b, err := os.ReadFile(filepath.Join("../testdata/quick", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	profs, _ := filepath.Glob("../testdata/quick/profiles/*.pb.gz")
	for _, p := range profs {
		b, _ := os.ReadFile(p)
		os.WriteFile(filepath.Join(dir, "profiles", filepath.Base(p)), b, 0o644)
	}
	return dir
}

// A file its writer could not finish (a full disk, SIGKILL) is read up
// to its last whole record, with a warning naming it and what was left
// out; the report is still written.
func TestTornFilesAreReadUpToTheLastWholeRecord(t *testing.T) {
	whole, err := Load("../testdata/quick")
	if err != nil {
		t.Fatal(err)
	}
	profile := "Engine_workload=mix_threshold=2KiB_gran=batch_comp=none_reclaim=keep_backend=dir_workers=2_ring=1024_schedule=seeded_fault=none.cpu.pb.gz"
	for _, tc := range []struct {
		name  string
		tear  func(dir string)
		warn  []string
		check func(t *testing.T, d *Dir)
	}{
		{"results.txt cut mid-line", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "results.txt"))
			os.WriteFile(filepath.Join(dir, "results.txt"), b[:len(b)-20], 0o644)
		}, []string{"results.txt: its last line is torn", "bytes after the last whole line"}, func(t *testing.T, d *Dir) {
			if len(d.Results) != len(whole.Dirs[0].Results)-1 {
				t.Errorf("%d results, want the %d whole ones", len(d.Results), len(whole.Dirs[0].Results)-1)
			}
		}},
		{"outcomes.jsonl cut mid-line", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "outcomes.jsonl"))
			os.WriteFile(filepath.Join(dir, "outcomes.jsonl"), b[:len(b)-100], 0o644)
		}, []string{"outcomes.jsonl: its last line is torn"}, func(t *testing.T, d *Dir) {
			if len(d.Outcomes) != len(whole.Dirs[0].Outcomes)-1 {
				t.Errorf("%d outcomes, want the %d whole ones", len(d.Outcomes), len(whole.Dirs[0].Outcomes)-1)
			}
		}},
		{"empty profile", func(dir string) {
			os.WriteFile(filepath.Join(dir, "profiles", profile), nil, 0o644)
		}, []string{profile, "not a pprof profile", "left out"}, nil},
		{"torn profile", func(dir string) {
			b, _ := os.ReadFile(filepath.Join("../testdata/quick/profiles", profile))
			if len(b) < 100 {
				t.Fatalf("testdata has no profile to tear (%d bytes)", len(b))
			}
			os.WriteFile(filepath.Join(dir, "profiles", profile), b[:len(b)/2], 0o644)
		}, []string{profile, "left out"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyQuick(t)
			tc.tear(dir)
			s, err := Load(dir)
			if err != nil {
				t.Fatalf("a torn file made the directory unreadable: %v", err)
			}
			ws := strings.Join(s.Warnings(), "\n")
			for _, w := range tc.warn {
				if !strings.Contains(ws, w) {
					t.Errorf("warnings %q lack %q", ws, w)
				}
			}
			if tc.check != nil {
				tc.check(t, s.Dirs[0])
			}
			if _, err := Generate(s, Options{Out: filepath.Join(t.TempDir(), "report"), Formats: []Format{Markdown}}); err != nil {
				t.Fatalf("report of a torn directory: %v", err)
			}
		})
	}
}

// The fault matrix tells a run stopped from outside from a clean error:
// both exit non-zero, only one is evidence about the buffer.
func TestFaultClassOfTimeoutsAndInterrupts(t *testing.T) {
	fired := &FaultOutcome{Injector: "mock", Mode: "eio", Fired: true, Errno: "EIO"}
	for _, tc := range []struct {
		o    Outcome
		want string
	}{
		{Outcome{Status: "timeout", ExitCode: 20, ErrorType: "context.deadlineExceededError", Fault: fired}, "timed out"},
		{Outcome{Status: "interrupted", ExitCode: 20, ErrorType: "context.canceledError", Fault: fired}, "interrupted"},
		{Outcome{Status: "error", ExitCode: 11, ErrorType: "IOError", Fault: fired}, "clean typed error"},
	} {
		if got := FaultClass(tc.o); got != tc.want {
			t.Errorf("%s: class %q, want %q", tc.o.Status, got, tc.want)
		}
	}
	for _, tc := range []struct {
		o    Outcome
		want bool
	}{
		{Outcome{Status: "error", Keys: map[string]string{"fault": "none"}}, true},
		{Outcome{Status: "error", Keys: map[string]string{"fault": "mock:eio"}, Fault: fired}, false},
		{Outcome{Status: "timeout"}, true},
		{Outcome{Status: "interrupted"}, true},
		{Outcome{Status: "ok"}, false},
		{Outcome{Status: "skipped"}, false},
	} {
		if got := tc.o.Failed(); got != tc.want {
			t.Errorf("%s (fault %v): Failed %v, want %v", tc.o.Status, tc.o.Keys["fault"], got, tc.want)
		}
	}
}

// A report written over an older one on a full disk leaves the older
// one whole: every file is written in full before any is replaced.
func TestReportOnAFullDiskKeepsThePreviousReport(t *testing.T) {
	mnt, err := os.MkdirTemp("", "spillbench-test-tmpfs-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(mnt)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs as root: %v", err)
		}
		t.Skip("cannot mount a tmpfs: ", err)
	}
	defer syscall.Unmount(mnt, 0)
	s, err := Load("../testdata/quick")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(mnt, "report")
	if _, err := Generate(s, Options{Out: out, Formats: []Format{Markdown}}); err != nil {
		t.Fatalf("the first report: %v", err)
	}
	before := snapshot(t, out)
	// Fill the disk but for a few KiB: the new report cannot fit.
	fill, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	syscall.Statfs(mnt, &st)
	fill.Write(make([]byte, int64(st.Bavail)*st.Bsize-16<<10))
	fill.Close()
	if _, err := Generate(s, Options{Out: out, Formats: []Format{Markdown, HTML}}); err == nil || !strings.Contains(err.Error(), "unchanged") {
		t.Fatalf("a report that cannot fit: %v; want an error saying the previous one is unchanged", err)
	}
	after := snapshot(t, out)
	if len(after) != len(before) {
		t.Fatalf("%d files after the failed report, %d before", len(after), len(before))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("%s changed (%d bytes, was %d) though the new report failed", name, len(after[name]), len(b))
		}
	}
}

// snapshot reads every file under dir, by relative path.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files[rel] = b
		}
		return err
	})
	return files
}

// A directory whose sweep still holds its lock is read as it stands,
// and the report says so: a warning naming the writer, "RUNNING" in the
// setup table, and a limitation. Once the lock is let go it is an
// ordinary directory again.
func TestADirectoryStillBeingWrittenIsMarkedRunning(t *testing.T) {
	dir := copyQuick(t)
	f, err := os.Create(filepath.Join(dir, resultlock.File))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	// The lock is the open file description's: hold it from this file,
	// probe it through another, as a separate reader process would.
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Dirs[0]; d.Writer != os.Getpid() || !slices.ContainsFunc(d.Warnings, func(w string) bool { return strings.Contains(w, "still being written") }) {
		t.Fatalf("writer %d, warnings %q; want PID %d and a warning", d.Writer, d.Warnings, os.Getpid())
	}
	out := filepath.Join(t.TempDir(), "report")
	if _, err := Generate(s, Options{Out: out, Formats: []Format{Markdown}}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"| RUNNING |", "was still being written by its sweep (PID " + strconv.Itoa(os.Getpid()) + ")"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	f.Close() // the writer ends
	if s, err := Load(dir); err != nil || s.Dirs[0].Writer != 0 || len(s.Dirs[0].Warnings) != 0 {
		t.Fatalf("after the writer ended: %v, writer %d, warnings %q", err, s.Dirs[0].Writer, s.Dirs[0].Warnings)
	}
}
