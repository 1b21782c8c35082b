package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/reports"
	"github.com/spillbench/spillbench/spill"
)

func injectCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "inject", `  spillbench inject                          every available mechanism and mode
  spillbench inject --mechanisms mock,tmpfs --count 10
  spillbench inject --spec sort                 an external target instead of the engine
`)
	specName := fs.String("spec", "", "an external target's spec (such as sort): fault the target at the spec's smallest threshold instead of the engine")
	mechs := fs.String("mechanisms", "", "comma-separated injectors (default all)")
	modes := fs.String("modes", "", "comma-separated fault modes (default all)")
	count := fs.Int("count", 10, "repetitions per mechanism x mode (10 or more to judge determinism)")
	out := fs.String("out", "", "result directory (default ./out/inject-<time>)")
	quiet := fs.Bool("q", false, "no progress output")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *count < 1 {
		return usagef("inject: --count %d; give at least 1", *count)
	}
	want := func(list, v string) bool { return list == "" || slices.Contains(strings.Split(list, ","), v) }
	var faults []string
	for _, inj := range injectors.All() {
		if !want(*mechs, inj.Name()) {
			continue
		}
		for _, m := range inj.Modes() {
			if want(*modes, string(m)) {
				faults = append(faults, "  - "+matrixFaultYAML(inj.Name(), m))
			}
		}
	}
	if len(faults) == 0 {
		return usagef("inject: no mechanism and mode match --mechanisms %q --modes %q; see spillbench list", *mechs, *modes)
	}
	// A baseline without injector, and each mechanism armed with a fault
	// that never fires: what the mechanism costs the engine on its own.
	faults = append(faults, "  - none")
	for _, inj := range injectors.All() {
		if want(*mechs, inj.Name()) {
			faults = append(faults, "  - "+quietFaultYAML(inj.Name()))
		}
	}
	src := fmt.Sprintf("name: inject\ncount: %d\nwarmup: 1\nprofiles: none\nworkload:\n  - {name: hol, items: 1500, scale: 0.2}\nthreshold: [16KiB]\nfault:\n%s\n",
		*count, strings.Join(faults, "\n"))
	if *specName != "" {
		var err error
		if src, err = externalInjectSource(*specName, *count, faults); err != nil {
			return err
		}
	}
	spec, err := bench.ParseSpec("inject.yaml", []byte(src))
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		if dir, err = newDefaultOut("inject", time.Now()); err != nil {
			return usagef("inject: %v; give --out", err)
		}
	}
	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()
	progress := progressTo(stderr, *quiet)
	sum, err := bench.Run(ctx, spec, bench.Options{Out: dir, Progress: progress})
	var oe *bench.OutError
	if errors.As(err, &oe) {
		return usagef("inject: %v", err)
	}
	printSummary(stdout, sum)
	if err != nil {
		return err
	}
	set, err := reports.Load(dir)
	if err != nil {
		return err
	}
	w, err := reports.Generate(set, reports.Options{Out: filepath.Join(dir, "report"), Command: "spillbench inject"})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: wrote %s\n", w.Files[len(w.Files)-1])
	return nil
}

// quietFaultYAML arms a mechanism with a fault that cannot fire in a run.
func quietFaultYAML(mech string) string {
	switch mech {
	case "tmpfs":
		return "{injector: tmpfs, mode: enospc, after: 1GiB, quiet: true}"
	case "fallocate":
		return "{injector: fallocate, mode: enospc, after: 16MiB, quiet: true}"
	case "vanish":
		return "{injector: vanish, mode: rmdir-between, nth: 1000000000, quiet: true}"
	}
	return fmt.Sprintf("{injector: %s, mode: eio, nth: 1000000000, quiet: true}", mech)
}

// matrixFaultYAML is the fault the inject matrix arms for a mechanism and
// mode: enough to meet hol's spill at a 16 KiB threshold.
func matrixFaultYAML(mech string, mode injectors.Mode) string {
	f := fmt.Sprintf("{injector: %s, mode: %s", mech, mode)
	switch {
	case mode == injectors.ModeLatency:
		f += ", latency: 1ms, persistent: true"
	case (mech == "tmpfs" || mech == "fallocate") && mode == injectors.ModeENOSPC:
		f += ", after: 256KiB"
	case mech == "fuse" && mode == injectors.ModeENOENT:
		f += ", persistent: true"
	case mech == "fuse":
		f += ", nth: 3, persistent: true"
	case mech == "mock" || mech == "failpoint":
		f += ", nth: 3"
	}
	return f + "}"
}

// externalInjectSource is the inject sweep of an external target's spec:
// the spec's target and inputs at its smallest threshold, under the
// matrix's faults instead of its own.
func externalInjectSource(name string, count int, faults []string) (string, error) {
	spec, err := bench.LoadSpec(name)
	if err != nil {
		return "", usagef("inject: %v", err)
	}
	if spec.Target == nil {
		return "", usagef("inject: --spec %s has no target; without --spec, inject faults the engine", name)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(spec.Source, &doc); err != nil || len(doc.Content) == 0 {
		return "", fmt.Errorf("inject: re-reading %s: %v", name, err)
	}
	root := doc.Content[0]
	var kept []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "name", "count", "max-count", "warmup", "threshold", "fault", "profiles":
			continue
		}
		kept = append(kept, root.Content[i], root.Content[i+1])
	}
	root.Content = kept
	rest, err := yaml.Marshal(root)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("name: inject-%s\ncount: %d\nwarmup: 1\nprofiles: none\nthreshold: [%s]\nfault:\n%s\n%s",
		spec.Target.Name, count, spill.FormatSize(slices.Min(spec.Thresholds)), strings.Join(faults, "\n"), rest), nil
}
