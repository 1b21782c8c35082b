package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseCPUs reads a CPU list such as "0-1" or "0,2,4".
func ParseCPUs(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("CPU list %q: write numbers and ranges such as 0-1 or 0,2", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// pinCPUs restricts every thread of the process to cpus. Threads the Go
// runtime starts later inherit the mask from the thread that starts them.
func pinCPUs(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pin thread %d to CPUs %v: %w", tid, cpus, err)
		}
	}
	return nil
}

// AllowedCPUs lists the CPUs this process may run on, or nil if the host
// cannot say.
func AllowedCPUs() []int {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil
	}
	var cpus []int
	for c := range len(allowed) * 64 {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// CheckCPUs says which CPUs of cpus this process may not run on, before
// a sweep starts: pinning to a CPU that does not exist, or that the
// process's affinity mask excludes, fails.
func CheckCPUs(cpus []int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil // the host cannot say; pinning will
	}
	var bad []string
	for _, c := range cpus {
		if c >= len(allowed)*64 || !allowed.IsSet(c) {
			bad = append(bad, strconv.Itoa(c))
		}
	}
	if len(bad) > 0 {
		var ok []string
		for _, c := range AllowedCPUs() {
			ok = append(ok, strconv.Itoa(c))
		}
		return fmt.Errorf("CPU %s is not available to this process; use CPUs among %s", strings.Join(bad, ","), strings.Join(ok, ","))
	}
	return nil
}
