package reports

import (
	"fmt"
	"slices"
	"strings"
)

// faultSection shows the fault outcome matrix and its table.
func faultSection(d *doc, s *Set) error {
	var faults []Outcome
	for _, o := range s.Outcomes() {
		if f := o.Keys["fault"]; f != "" && f != "none" && !strings.HasSuffix(f, ":quiet") {
			faults = append(faults, o)
		}
	}
	if len(faults) == 0 {
		return nil
	}
	d.h(3, "Faults")
	p, width, err := FaultMatrix(faults, "Fault outcome by mechanism and mode")
	if err != nil {
		return err
	}
	if err := d.figWidth("fault-matrix", "Outcome of each fault cell, by majority over its repetitions.", p, width); err != nil {
		return err
	}
	if externalOnly(s) {
		externalFaultTable(d, faults)
		return nil
	}
	type agg struct {
		runs, fired, lost int
		errno, typed      []string
		exits             []int
		setup             []float64
	}
	byFault := map[string]*agg{}
	for _, o := range faults {
		a := byFault[o.Keys["fault"]]
		if a == nil {
			a = &agg{}
			byFault[o.Keys["fault"]] = a
		}
		a.runs++
		if o.Fault != nil && o.Fault.Fired {
			a.fired++
			if o.Fault.Errno != "" && !slices.Contains(a.errno, o.Fault.Errno) {
				a.errno = append(a.errno, o.Fault.Errno)
			}
		}
		if o.ErrorType != "" && !slices.Contains(a.typed, o.ErrorType) {
			a.typed = append(a.typed, o.ErrorType)
		}
		if !slices.Contains(a.exits, o.ExitCode) {
			a.exits = append(a.exits, o.ExitCode)
		}
		a.lost += int(o.Lost + o.Duplicated + o.Corrupted)
		a.setup = append(a.setup, o.SetupMS+o.TeardownMS)
	}
	var rows [][]string
	for _, f := range slices.Sorted(mapKeys(byFault)) {
		a := byFault[f]
		slices.Sort(a.setup)
		slices.Sort(a.exits)
		rows = append(rows, []string{"`" + f + "`", fmt.Sprintf("%d/%d", a.fired, a.runs), orDash(strings.Join(a.errno, ", ")),
			orDash(strings.Join(a.typed, ", ")), fmt.Sprint(a.exits), fmt.Sprint(a.lost), fmt.Sprintf("%.1f", a.setup[len(a.setup)/2])})
	}
	d.t([]string{"fault", "fired", "errno", "typed error", "exit codes", "items lost", "setup+teardown ms (median)"}, rows)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
