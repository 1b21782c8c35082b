package bench

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spillbench/spillbench/spill"
)

// The spill buffer's environment overrides (spill.EnvThreshold and the
// rest), as the reference reads them for its spill settings, apply to a
// sweep with the buffer's own precedence: an explicit setting beats the
// environment, which beats a default. A spec's axes are its explicit
// settings: a variable applies to an axis the spec leaves out, in place
// of the default, and the cells' names say the value it gave. The spill
// directory is no axis: it says where cells that spill into a directory
// of their own (no injector) and the RawFS limits make it.

// EnvOverride is a SPILLBENCH_* variable a sweep was given, and what it
// did: env.json records them.
type EnvOverride struct {
	Var     string `json:"var"`
	Value   string `json:"value"`
	Applied bool   `json:"applied"`
	Effect  string `json:"effect"` // what it set, or why the spec's value stood
}

// ApplyEnv applies the spill environment overrides read through lookup
// (os.LookupEnv) to s, and records each variable set in s.Env. Values
// the spill package cannot use are an error of one line naming each
// variable.
func (s *Spec) ApplyEnv(lookup func(string) (string, bool)) error {
	var p spill.Policy
	if err := p.ApplyEnv(lookup); err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	s.Env = nil
	for _, name := range []string{spill.EnvThreshold, spill.EnvCompression, spill.EnvNoSpill, spill.EnvDir} {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			continue // unset, as the spill package reads it
		}
		o := EnvOverride{Var: name, Value: v}
		o.Applied, o.Effect = s.applyEnv(name, p)
		s.Env = append(s.Env, o)
	}
	return nil
}

// applyEnv applies one variable, whose value p holds.
func (s *Spec) applyEnv(name string, p spill.Policy) (bool, string) {
	stands := func(axis string) (bool, string) {
		return false, fmt.Sprintf("not applied: the spec sets %s, which comes first", axis)
	}
	switch name {
	case spill.EnvThreshold:
		if s.given["threshold"] {
			return stands("threshold")
		}
		s.Thresholds = []int64{p.Threshold}
		return true, fmt.Sprintf("threshold: [%d]", p.Threshold)
	case spill.EnvCompression:
		if s.given["compression"] {
			return stands("compression")
		}
		s.Compression = []spill.Compression{p.Compression}
		return true, fmt.Sprintf("compression: [%s]", p.Compression)
	case spill.EnvNoSpill:
		switch {
		case !p.InMemoryOnly:
			return true, "spilling allowed, as by default"
		case s.given["backend"]:
			return stands("backend")
		}
		for _, f := range s.Faults {
			if f.Injector != "none" {
				return false, fmt.Sprintf("not applied: fault %s needs a backend that spills", f)
			}
		}
		s.Backends = []Backend{BackendMemory}
		return true, "backend: [memory]"
	case spill.EnvDir:
		s.SpillDir = p.Dir
		return true, "spill directories and RawFS files in " + p.Dir
	}
	return false, "unknown"
}
