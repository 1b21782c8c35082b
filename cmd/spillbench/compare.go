package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/reports"
)

func compareCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "compare", `  spillbench compare out/base out/pr
  spillbench compare --metric sec/op,items/s --threshold 3% --format markdown base pr > comment.md
`)
	var c compareFlags
	c.register(fs)
	dirs, err := fs.parseWithArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) != 2 {
		return usagef("compare: give exactly two result directories, OLD and NEW")
	}
	if err := c.check("compare"); err != nil {
		return err
	}
	return c.compare(stdout, dirs[0], dirs[1])
}

// compareFlags are the flags of a comparison, shared by compare and ab.
type compareFlags struct {
	metrics, threshold, format, filter *string
	alpha                              *float64
	thr                                float64 // threshold, parsed by check
	cmd                                string
}

func (c *compareFlags) register(fs *flags) {
	c.metrics = fs.String("metric", "sec/op,items/s", "comma-separated units to compare")
	c.threshold = fs.String("threshold", "5%", "smallest relative change that counts as a regression")
	c.alpha = fs.Float64("alpha", reports.DefaultAlpha, "significance level")
	c.format = fs.String("format", "text", "text, csv, json or markdown")
	c.filter = fs.String("filter", ".name:Engine", "benchproc filter on the results compared")
}

// check validates the flags for the command cmd.
func (c *compareFlags) check(cmd string) error {
	c.cmd = cmd
	thr, err := bench.ParsePercent(*c.threshold)
	if err == nil && thr < 0 {
		err = fmt.Errorf("%q is negative", *c.threshold)
	}
	if err != nil {
		return usagef("%s: --threshold %v", cmd, err)
	}
	c.thr = thr
	if *c.alpha <= 0 || *c.alpha >= 1 {
		return usagef("%s: --alpha %g; give a level between 0 and 1, such as 0.05", cmd, *c.alpha)
	}
	if !slices.Contains([]string{"text", "csv", "json", "markdown"}, *c.format) {
		return usagef("%s: --format %q; use text, csv, json or markdown", cmd, *c.format)
	}
	return nil
}

// compare writes the comparison of two result directories and returns
// exit status 1 if it found a regression.
func (c *compareFlags) compare(stdout io.Writer, oldDir, newDir string) error {
	old, err := reports.Load(oldDir)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	cur, err := reports.Load(newDir)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	units := tidyUnits(strings.Split(*c.metrics, ","))
	cmp, err := reports.CompareSets(old, cur, units, *c.filter, *c.alpha, c.thr)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	if len(cmp.Rows) == 0 {
		return usagef("%s: no benchmark of %v is in both directories", c.cmd, units)
	}
	if err := cmp.Write(stdout, *c.format); err != nil {
		return err
	}
	if len(cmp.Regressions()) > 0 {
		return exitError{1}
	}
	return nil
}

// tidyUnits maps the units people write to benchfmt's tidied ones.
func tidyUnits(us []string) []string {
	var out []string
	for _, u := range us {
		u = strings.TrimSpace(u)
		switch u {
		case "ns/op", "time/op":
			u = "sec/op"
		}
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}
