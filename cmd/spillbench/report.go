package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spillbench/spillbench/reports"
)

func reportCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "report", `  spillbench report out/quick-20261126-101500
  spillbench report --out report/ --format md shard0 shard1 shard2
`)
	out := fs.String("out", "", "directory for the report (default: DIR/report for one DIR, ./report for several)")
	format := fs.String("format", "both", "md, html or both")
	docKind := fs.String("doc", "report", "report; tuning: the threshold-tuning design document of a tuning or default sweep; injection: the mechanism comparison of an inject run; survival: the fault-survival document of a survive run; external: the external-targets document of a target's run, beside an inject run of the engine (each into --out, default docs/design)")
	dirs, err := fs.parseWithArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return usagef("report: give one or more result directories, such as spillbench report out/quick-<time>")
	}
	var formats []reports.Format
	switch *format {
	case "md":
		formats = []reports.Format{reports.Markdown}
	case "html":
		formats = []reports.Format{reports.HTML}
	case "both":
		formats = []reports.Format{reports.Markdown, reports.HTML}
	default:
		return usagef("report: --format %q; use md, html or both", *format)
	}
	if *docKind == "survival" {
		return survivalReport(stdout, *out, dirs)
	}
	if *docKind == "external" {
		return externalReport(stdout, *out, dirs)
	}
	set, err := reports.Load(dirs...)
	if err != nil {
		return usagef("report: %v", err)
	}
	warnings(stderr, set.Warnings())
	if *docKind == "tuning" {
		dir := *out
		if dir == "" {
			dir = filepath.Join("docs", "design")
		}
		run := fmt.Sprintf("spillbench run --spec %s --out %s", set.Dirs[0].Env.Spec, dirs[0])
		if len(dirs) > 1 {
			run = fmt.Sprintf("spillbench run --spec %s --shard i/%d --out DIR (once per shard)", set.Dirs[0].Env.Spec, len(dirs))
		}
		cmd := fmt.Sprintf("%s && spillbench report --doc tuning --out %s %s", run, dir, strings.Join(dirs, " "))
		if err := reports.TuningDoc(set, dir, cmd); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: wrote %s\n", filepath.Join(dir, "threshold-tuning.md"))
		return nil
	} else if *docKind == "injection" {
		dir := *out
		if dir == "" {
			dir = filepath.Join("docs", "design")
		}
		cmd := fmt.Sprintf("go run -tags failpoint ./cmd/spillbench inject --out %s && spillbench report --doc injection --out %s %s", dirs[0], dir, strings.Join(dirs, " "))
		if err := reports.InjectionDoc(set, dir, cmd); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: wrote %s\n", filepath.Join(dir, "injection-mechanisms.md"))
		return nil
	} else if *docKind != "report" {
		return usagef("report: --doc %q; use report, tuning, injection, survival or external", *docKind)
	}
	dir := *out
	if dir == "" {
		dir = "report"
		if len(dirs) == 1 {
			dir = filepath.Join(dirs[0], "report")
		}
	}
	cmd := "spillbench report " + strings.Join(dirs, " ")
	w, err := reports.Generate(set, reports.Options{Out: dir, Formats: formats, Command: cmd})
	if err != nil {
		return err
	}
	for _, f := range w.Files {
		if strings.HasSuffix(f, "report.md") || strings.HasSuffix(f, "report.html") {
			fmt.Fprintf(stdout, "spillbench: wrote %s\n", f)
		}
	}
	return nil
}

// survivalReport writes the fault-survival design document, with its
// figure, from the result directory of an earlier spillbench survive,
// without running the sweeps again.
func survivalReport(stdout io.Writer, out string, dirs []string) error {
	if len(dirs) != 1 {
		return usagef("report --doc survival: give one survive result directory, not %d", len(dirs))
	}
	runs, env, err := reports.LoadSurvival(dirs[0])
	if err != nil {
		return usagef("report: %v", err)
	}
	if out == "" {
		out = filepath.Join("docs", "design")
	}
	cmd := fmt.Sprintf("spillbench survive --out %s && spillbench report --doc survival --out %s %s", dirs[0], out, dirs[0])
	if err := reports.WriteSurvivalDoc(runs, env, out, cmd); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: wrote %s\n", filepath.Join(out, "fault-survival.md"))
	return nil
}

// externalReport writes the external-targets design document from the
// result directory of a target's sweep and, if given, an inject run of
// the engine whose outcomes stand beside it.
func externalReport(stdout io.Writer, out string, dirs []string) error {
	if len(dirs) < 1 || len(dirs) > 2 {
		return usagef("report --doc external: give the target's result directory and, optionally, an inject run of the engine")
	}
	ext, err := reports.Load(dirs[0])
	if err != nil {
		return usagef("report: %v", err)
	}
	var engine *reports.Set
	if len(dirs) == 2 {
		if engine, err = reports.Load(dirs[1]); err != nil {
			return usagef("report: %v", err)
		}
	}
	if out == "" {
		out = filepath.Join("docs", "design")
	}
	cmd := fmt.Sprintf("spillbench run --spec %s --out %s && spillbench report --doc external --out %s %s", ext.Dirs[0].Env.Spec, dirs[0], out, strings.Join(dirs, " "))
	if err := reports.ExternalDoc(ext, engine, out, cmd); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: wrote %s\n", filepath.Join(out, "external-targets.md"))
	return nil
}
