package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// documentedCommands returns the spillbench command lines the README's
// tour and this package's doc show.
func documentedCommands(t *testing.T) []string {
	t.Helper()
	var lines []string
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(readme), "\n") {
		if c, ok := strings.CutPrefix(l, "    spillbench "); ok {
			lines = append(lines, c)
		}
	}
	doc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(doc), "\n") {
		if c, ok := strings.CutPrefix(l, "//\tspillbench "); ok {
			lines = append(lines, c)
		}
	}
	if len(lines) < 10 {
		t.Fatalf("found %d documented commands; has the README's tour moved?", len(lines))
	}
	return lines
}

var flagName = regexp.MustCompile(`(?:^|[\s\[|])--?([a-z][a-z-]*)`)

// The commands the README and the package doc show exist, with the flags
// they show: the docs cannot rot unnoticed when a command or flag is
// renamed. (The cheap ones run for real in other tests; the sweeps would
// take minutes.)
func TestDocumentedCommandsExist(t *testing.T) {
	helps := map[string]string{}
	for _, line := range documentedCommands(t) {
		line, _, _ = strings.Cut(line, " #") // a comment
		fields := strings.Fields(line)
		cmd := []string{fields[0]}
		if fields[0] == "history" && len(fields) > 1 && !strings.HasPrefix(fields[1], "-") {
			for _, sub := range strings.Split(fields[1], "|") {
				if sub != "..." {
					checkFlags(t, helps, append(cmd, sub), line)
				}
			}
			continue
		}
		checkFlags(t, helps, cmd, line)
	}
}

// checkFlags runs cmd -h and checks that every flag line uses is in its
// usage.
func checkFlags(t *testing.T, helps map[string]string, cmd []string, line string) {
	t.Helper()
	key := strings.Join(cmd, " ")
	help, ok := helps[key]
	if !ok {
		code, out, errOut := run(append(cmd, "-h")...)
		if code != 0 {
			t.Errorf("spillbench %s -h: exit %d %s (documented: spillbench %s)", key, code, errOut, line)
			return
		}
		help = out + errOut
		helps[key] = help
	}
	for _, m := range flagName.FindAllStringSubmatch(line, -1) {
		if !regexp.MustCompile(`(?m)^  -` + m[1] + `(\s|$)`).MatchString(help) {
			t.Errorf("spillbench %s has no flag -%s (documented: spillbench %s)", key, m[1], line)
		}
	}
}

// The README's tour, run: every line that needs no sweep runs as written
// (its paths made from the committed inputs in testdata/) and must exit 0,
// or 1 for a comparison that finds a regression. Lines that sweep (run,
// ab, calibrate, inject) are held to their flags by
// TestDocumentedCommandsExist.
func TestREADMETourRuns(t *testing.T) {
	lines := documentedCommands(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv("TMPDIR", t.TempDir()) // cleanup looks there, and only there
	for dst, src := range map[string]string{
		"out/quick-20261126-101500": "testdata/quick",
		"testdata/quick":            "testdata/quick",
		"out/base":                  "testdata/ab/base",
		"out/pr":                    "testdata/ab/head",
		"old.txt":                   "testdata/gobench/crc32-a.txt",
		"new.txt":                   "testdata/gobench/crc32-b.txt",
	} {
		if err := os.CopyFS(filepath.Join(dir, dst), os.DirFS(filepath.Join(root, src))); err != nil {
			// A file, not a directory.
			b, rerr := os.ReadFile(filepath.Join(root, src))
			if rerr != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, dst), b, 0o644)
		}
	}
	splitShards(t, filepath.Join(root, "testdata/quick"), filepath.Join(dir, "out"), 4)
	t.Chdir(dir)
	ran := 0
	for _, line := range lines {
		line, _, _ = strings.Cut(line, " #")
		line, _, _ = strings.Cut(line, " >") // output redirected to a file
		line = strings.ReplaceAll(line, "$(git rev-parse HEAD)", "0123456789ab")
		args := strings.Fields(line)
		switch args[0] {
		case "run", "ab", "calibrate", "inject", "survive":
			continue // sweeps: minutes each
		}
		if strings.ContainsAny(line, "[]|") {
			continue // a synopsis of the package doc, not a command
		}
		code, out, errOut := run(args...)
		if code != 0 && !(code == 1 && args[0] == "compare") {
			t.Errorf("spillbench %s: exit %d\n%s%s", line, code, out, errOut)
		}
		ran++
	}
	if ran < 8 {
		t.Fatalf("ran %d of the tour's lines; has it changed shape?", ran)
	}
}

// splitShards writes the cells of result directory src as n shard
// directories dst/shard0 ... like run --shard i/n would: cell by cell,
// round robin, each with its own env.json.
func splitShards(t *testing.T, src, dst string, n int) {
	t.Helper()
	results, _ := os.ReadFile(filepath.Join(src, "results.txt"))
	outcomes, _ := os.ReadFile(filepath.Join(src, "outcomes.jsonl"))
	env, _ := os.ReadFile(filepath.Join(src, "env.json"))
	shard := map[string]int{}
	of := func(cell string) int {
		if _, ok := shard[cell]; !ok {
			shard[cell] = len(shard) % n
		}
		return shard[cell]
	}
	res, outs := make([][]string, n), make([][]string, n)
	var header []string
	for _, l := range strings.Split(string(results), "\n") {
		name, ok := strings.CutPrefix(strings.Fields(l + " x")[0], "Benchmark")
		if !ok {
			header = append(header, l)
			continue
		}
		i := of(name)
		res[i] = append(res[i], l)
	}
	for _, l := range strings.Split(string(outcomes), "\n") {
		_, rest, ok := strings.Cut(l, `"cell":"`)
		if !ok {
			continue
		}
		cell, _, _ := strings.Cut(rest, `"`)
		i := of(cell)
		outs[i] = append(outs[i], l)
	}
	for i := range n {
		d := filepath.Join(dst, fmt.Sprintf("shard%d", i))
		os.MkdirAll(d, 0o755)
		e := strings.Replace(string(env), `"shard": "0/1"`, fmt.Sprintf(`"shard": "%d/%d"`, i, n), 1)
		os.WriteFile(filepath.Join(d, "env.json"), []byte(e), 0o644)
		os.WriteFile(filepath.Join(d, "results.txt"), []byte(strings.Join(append(slices.Clone(header), res[i]...), "\n")+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "outcomes.jsonl"), []byte(strings.Join(outs[i], "\n")+"\n"), 0o644)
	}
}
