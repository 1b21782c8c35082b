package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// externalDir writes a result directory of an external target in the
// contract bench writes: sort at two thresholds without a fault (the
// smaller one spilling, with RawFS beside it), and one run under each of
// a fault it reported, a planted data loss, a crash, a time limit and a
// mock fault that cannot reach it.
func externalDir(t *testing.T) string {
	t.Helper()
	env, err := os.ReadFile("../testdata/quick/env.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "env.json"), env, 0o644)
	var res strings.Builder
	res.WriteString("Unit input-B/s better=higher\n")
	for i := range 5 {
		fmt.Fprintf(&res, "BenchmarkExternal/target=sort/workload=lines/threshold=256KiB/fault=none 1 %d ns/op %d cpu-ns/op %d input-B/s 16777216 spill-bytes/op 10000000 peak-spill-B 5000000 peak-rss-B\n", 200_000_000+i*1_000_000, 100_000_000, 40_000_000-i*100_000)
		fmt.Fprintf(&res, "BenchmarkRawFS/target=sort/workload=lines/threshold=256KiB/fault=none 1 %d ns/op 1e9 bytes/s\n", 20_000_000+i*100_000)
		fmt.Fprintf(&res, "BenchmarkExternal/target=sort/workload=lines/threshold=16MiB/fault=none 1 %d ns/op %d cpu-ns/op %d input-B/s 0 spill-bytes/op 0 peak-spill-B 16000000 peak-rss-B\n", 100_000_000+i*1_000_000, 90_000_000, 80_000_000-i*100_000)
	}
	os.WriteFile(filepath.Join(dir, "results.txt"), []byte(res.String()), 0o644)
	var out strings.Builder
	add := func(fault, status string, exit int, fired bool, errno, verdict, stderr, reported string) {
		o := map[string]any{"cell": "External/target=sort/workload=lines/threshold=256KiB/fault=" + fault, "kind": "External",
			"keys": map[string]string{"target": "sort", "workload": "lines", "threshold": "256KiB", "fault": fault}, "status": status, "exit_code": exit}
		if status == "not-applicable" {
			o["reason"] = "not applicable to an external process: mock injects in the engine's spill.FS seam, which sort does not call"
		} else {
			inj, mode, _ := strings.Cut(fault, ":")
			o["fault"] = map[string]any{"injector": inj, "mode": mode, "family": "kernel", "fired": fired, "errno": errno}
			o["external"] = map[string]any{"template": "sort -S {threshold}b -T {spill_dir} -o {output} {input}", "verdict": verdict, "stderr_tail": []string{stderr}, "reported_errno": reported}
		}
		b, _ := json.Marshal(o)
		out.Write(append(b, '\n'))
	}
	add("tmpfs:enospc", "error", 2, true, "ENOSPC", "corrupt", "sort: write failed: /tmp/spillbench-inj-tmpfs-4242-123/mnt/sortAb12Cd: No space left on device", "ENOSPC")
	add("vanish:replace", "data-lost", 0, true, "", "corrupt", "", "")
	add("fuse:eio", "crash", 139, true, "EIO", "missing", "Segmentation fault", "")
	add("fuse:latency", "timeout", 137, true, "", "missing", "", "")
	add("fuse:unmount", "error", 2, true, "ENOTCONN", "missing", "sort: write failed: /mnt/sortAb12Cd: Software caused connection abort", "ECONNABORTED")
	add("mock:eio", "not-applicable", 0, false, "", "", "", "")
	os.WriteFile(filepath.Join(dir, "outcomes.jsonl"), []byte(out.String()), 0o644)
	return dir
}

func TestExternalResultsReport(t *testing.T) {
	s, err := Load(externalDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if !externalOnly(s) || throughputUnit(s) != "input-B/s" {
		t.Fatalf("externalOnly %v, throughput unit %s", externalOnly(s), throughputUnit(s))
	}
	want := map[string]string{"tmpfs:enospc": "clean typed error", "vanish:replace": "data lost", "fuse:eio": "crashed",
		"fuse:latency": "timed out", "fuse:unmount": "clean typed error", "mock:eio": "not applicable"}
	for _, o := range s.Outcomes() {
		if got := FaultClass(o); got != want[o.Keys["fault"]] {
			t.Errorf("%s: class %q, want %q", o.Keys["fault"], got, want[o.Keys["fault"]])
		}
	}
	d, err := build(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	md := string(d.markdown())
	for _, want := range []string{
		"for the external target sort",
		"plots/lines-throughput.svg", "plots/lines-peak-rss.svg", "plots/fault-matrix.svg",
		"| 256KiB | 37.96Mi", // the table's median input bytes/s
		// A failed run's wrong output is partial, not corrupt: it promised nothing.
		"| `tmpfs:enospc` | clean typed error | 2 | ENOSPC | partial 1/1 | `sort: write failed: {spill_dir}/sortXXXXXX: No space left on device` |",
		// The errno the target named, where it is not the injector's.
		"| `fuse:unmount` | clean typed error | 2 | ENOTCONN → ECONNABORTED | missing 1/1 |",
		"| `mock:eio` | not applicable |",
		"| `target=sort/workload=lines/threshold=256KiB` | 16MiB | 202.0ms | 20.20ms | 10.0% |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestExternalDocBesideTheEngine(t *testing.T) {
	ext, err := Load(externalDir(t))
	if err != nil {
		t.Fatal(err)
	}
	// The engine's side: an inject-style run with the same faults.
	env, _ := os.ReadFile("../testdata/quick/env.json")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "env.json"), env, 0o644)
	os.WriteFile(filepath.Join(dir, "results.txt"), nil, 0o644)
	var out strings.Builder
	for _, f := range []string{"tmpfs:enospc", "vanish:replace"} {
		inj, mode, _ := strings.Cut(f, ":")
		typ, exit, errno := "IOError", 11, "ENOSPC"
		status := "error"
		if inj == "vanish" {
			typ, exit, errno, status = "", 0, "", "ok"
		}
		b, _ := json.Marshal(map[string]any{"cell": "Engine/workload=hol/fault=" + f, "kind": "Engine", "keys": map[string]string{"workload": "hol", "fault": f},
			"status": status, "exit_code": exit, "error_type": typ, "fault": map[string]any{"injector": inj, "mode": mode, "fired": true, "errno": errno}})
		out.Write(append(b, '\n'))
	}
	os.WriteFile(filepath.Join(dir, "outcomes.jsonl"), []byte(out.String()), 0o644)
	engine, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	docs := t.TempDir()
	if err := ExternalDoc(ext, engine, docs, "make docs"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(docs, "external-targets.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"`sort -S {threshold}b -T {spill_dir} -o {output} {input}`",
		"| `tmpfs:enospc` | clean typed error | 2 | ENOSPC | partial 1/1 | `sort: write failed: {spill_dir}/sortXXXXXX: No space left on device` | clean typed error | IOError; exit 11 |",
		"| `vanish:replace` | data lost | 0 | - | corrupt 1/1 | - | unaffected | -; exit 0 |",
		"| `fuse:eio` | crashed | 139 | EIO | missing 1/1 | `Segmentation fault` | not run | - |",
		"Both ran 2 of these faults; the majority outcome is the same for 1. Where they differ: `vanish:replace` (sort: data lost; engine: unaffected).",
		"](external-targets/fault-matrix.svg)", "](external-targets/lines-wall.svg)",
		"| 256KiB | 202.0ms ±∞ (n=5) | 100.0ms ±∞ (n=5) | 16.00Mi (n=5) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("document lacks %q:\n%s", want, md)
		}
	}
	for _, fig := range []string{"fault-matrix.svg", "lines-wall.svg", "lines-spill-bytes.svg", "lines-peak-rss.svg"} {
		if _, err := os.Stat(filepath.Join(docs, "external-targets", fig)); err != nil {
			t.Error(err)
		}
	}
	if err := ExternalDoc(engine, nil, docs, "x"); err == nil || !strings.Contains(err.Error(), "no external target") {
		t.Errorf("a set without an external target: %v", err)
	}
}

// TestSanitizeMessage: work dir paths, which differ every run, become
// {spill_dir}, whatever the injector and however deep the file.
func TestSanitizeMessage(t *testing.T) {
	for in, want := range map[string]string{
		"sort: write failed: /tmp/spillbench-inj-fallocate-24612-278011264/mnt/spill/sort423UBQ: No space left on device":  "sort: write failed: {spill_dir}/sortXXXXXX: No space left on device",
		"sort: cannot create temporary file in '/tmp/spillbench-inj-fuse-24612-2615693611/mnt': No such file or directory": "sort: cannot create temporary file in '{spill_dir}': No such file or directory",
		"sort: open failed: /tmp/spillbench-inj-vanish-7-1/spill/sortEGcLAo: No such file or directory":                    "sort: open failed: {spill_dir}/sortXXXXXX: No such file or directory",
		"no path here": "no path here",
	} {
		if got := sanitizeMessage(in); got != want {
			t.Errorf("sanitizeMessage(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}
