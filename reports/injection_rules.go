package reports

import (
	"fmt"
	"slices"
)

// The rules that recommend injection mechanisms for each use, applied to
// what the inject sweep measured of them (mechStats).

// mechanismUses are the mechanisms the rules pick for each use: unit and
// ci in name order, soak with the most modes first.
type mechanismUses struct {
	unit, ci, soak []string
}

// recommendMechanisms applies the rules to every mechanism, names in
// order.
func recommendMechanisms(mechs map[string]*mechStats, names []string) mechanismUses {
	var u mechanismUses
	for _, n := range names {
		m := mechs[n]
		if m.forUnitTests() {
			u.unit = append(u.unit, n)
		}
		if m.forCI() {
			u.ci = append(u.ci, n)
		}
		if m.forSoak() {
			u.soak = append(u.soak, n)
		}
	}
	slices.SortStableFunc(u.soak, func(a, b string) int { return len(mechs[b].modes) - len(mechs[a].modes) })
	return u
}

// forUnitTests: available without privileges, every mode deterministic,
// setup under 5 ms.
func (m *mechStats) forUnitTests() bool {
	return m.unavailable == "" && !slices.Contains(m.requires, "root") && m.deterministic() && medianOr(m.setup) < 5 && len(m.setup) > 0
}

// forCI: available here, errno from a real syscall, setup under 100 ms,
// and every mode it claims fired.
func (m *mechStats) forCI() bool {
	return m.unavailable == "" && m.realErrno() && len(m.setup) > 0 && medianOr(m.setup) < 100 && m.allFired()
}

// forSoak: available here and errno from a real syscall.
func (m *mechStats) forSoak() bool {
	return m.unavailable == "" && m.realErrno()
}

// deterministic is whether every mode of m that fired first failed at
// one offset in all its runs; false for a mechanism that ran no mode.
func (m *mechStats) deterministic() bool {
	for _, ms := range m.modes {
		if ms.fired > 0 && spread(ms.offsets) != fmt.Sprint(ms.offsets[0]) {
			return false
		}
	}
	return len(m.modes) > 0
}

// realErrno is whether a kernel errno from a real syscall was seen at
// the seam in any mode of m.
func (m *mechStats) realErrno() bool {
	for _, ms := range m.modes {
		if ms.kernel {
			return true
		}
	}
	return false
}

// allFired is whether every mode of m fired at least once; false for a
// mechanism that ran no mode.
func (m *mechStats) allFired() bool {
	for _, ms := range m.modes {
		if ms.fired == 0 {
			return false
		}
	}
	return len(m.modes) > 0
}
