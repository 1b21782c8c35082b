package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
)

func listCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "list", "  spillbench list\n")
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "axes (spec keys) and their values:")
	for _, a := range [][2]string{
		{"workload", strings.Join(engine.Workloads, ", ") + " (with items and scale)"},
		{"threshold", "sizes such as 64KiB, or a range such as 4KiB..64MiB x4"},
		{"granularity", "batch, item"},
		{"compression", "none, zstd, zstd:1 .. zstd:22"},
		{"reclaim", "keep, respill"},
		{"backend", "dir, spooled, memory"},
		{"workers", "1, 2, ..."},
		{"ring", "reorder window, such as 1024"},
		{"fault", "none, or {injector, mode, site, after, nth, persistent, rule, terms, probability, latency, workloads}"},
		{"target", "an external command instead of the engine: {name, command, clean-exit, time-limit, verify}; command placeholders " + strings.Join(bench.Placeholders, ", ")},
		{"input", "an external target's inputs: {name, file} or {name, generate: lines, size} or {name, command}"},
	} {
		fmt.Fprintf(stdout, "  %-12s %s\n", a[0], a[1])
	}
	fmt.Fprintln(stdout, "built-in specs:")
	for _, name := range bench.Builtins() {
		s, err := bench.LoadSpec(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-8s %d cells x %d repetitions\n", name, len(s.Cells()), s.Count)
	}
	fmt.Fprintln(stdout, "injectors on this host:")
	for _, inj := range injectors.All() {
		state := "available"
		if err := inj.Probe(); err != nil {
			state = err.Error()
		}
		var modes []string
		for _, m := range inj.Modes() {
			if injectors.ProbeMode(inj, m) == nil || inj.Probe() != nil {
				modes = append(modes, string(m))
			} else {
				modes = append(modes, string(m)+" (unavailable)")
			}
		}
		fmt.Fprintf(stdout, "  %-10s %-9s %s; modes: %s\n", inj.Name(), inj.Family(), state, strings.Join(modes, ", "))
	}
	return nil
}
