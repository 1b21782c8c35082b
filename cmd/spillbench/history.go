package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spillbench/spillbench/reports"
)

func historyCmd(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return usagef("history: use history add DIR or history show; see spillbench history add -h")
	}
	switch args[0] {
	case "add":
		fs := newFlags(stderr, "history add", "  spillbench history add out/quick-20261126 --commit $(git rev-parse HEAD) --store .spillbench-history\n")
		commit := fs.String("commit", "", "commit the run measured (default: the one in its env.json)")
		store := fs.String("store", ".spillbench-history", "history directory")
		dirs, err := fs.parseWithArgs(args[1:])
		if err != nil {
			return err
		}
		if len(dirs) != 1 {
			return usagef("history add: give one result directory")
		}
		set, err := reports.Load(dirs[0])
		if err != nil {
			return usagef("history add: %v", err)
		}
		entry, err := reports.AddHistory(*store, dirs[0], set.Dirs[0].Env, *commit)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: added %s\n", entry)
		return nil
	case "show":
		fs := newFlags(stderr, "history show", "  spillbench history show --metric items/s --store .spillbench-history\n")
		metric := fs.String("metric", "sec/op", "unit to track")
		store := fs.String("store", ".spillbench-history", "history directory")
		filter := fs.String("filter", ".name:Engine", "benchproc filter on the results tracked")
		out := fs.String("out", "", "where to write the trend plot (default STORE/trend-<metric>.svg)")
		alpha := fs.Float64("alpha", reports.DefaultAlpha, "significance level for change detection")
		if err := fs.parse(args[1:]); err != nil {
			return err
		}
		unit := tidyUnits([]string{*metric})[0]
		h, err := reports.LoadHistory(*store)
		if err != nil {
			return usagef("history show: %v", err)
		}
		trend, changes, err := h.Trend(unit, *filter, *alpha)
		if err != nil {
			return usagef("history show: %v", err)
		}
		for _, p := range trend {
			fmt.Fprintf(stdout, "%-24s %s [%s, %s]\n", p.Label, fmtFloat(p.Center), fmtFloat(p.Lo), fmtFloat(p.Hi))
		}
		for _, c := range changes {
			fmt.Fprintln(stdout, c)
		}
		path := *out
		if path == "" {
			path = filepath.Join(*store, "trend-"+strings.ReplaceAll(unit, "/", "-")+".svg")
		}
		if err := h.WriteTrendPlot(path, unit, trend); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: wrote %s\n", path)
		return nil
	}
	return usagef("history: unknown subcommand %q; use add or show", args[0])
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
