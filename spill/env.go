package spill

import (
	"errors"
	"fmt"
	"strings"
)

// Environment variables ApplyEnv reads. An unset or empty variable leaves
// its knob alone.
const (
	// EnvThreshold sets Policy.Threshold: a positive size such as 64M.
	EnvThreshold = "SPILLBENCH_SPILL_THRESHOLD_BYTES"
	// EnvDir sets Policy.Dir.
	EnvDir = "SPILLBENCH_SPILL_DIR"
	// EnvCompression sets Policy.Compression: none, zstd or zstd:N.
	EnvCompression = "SPILLBENCH_SPILL_COMPRESSION"
	// EnvNoSpill sets Policy.InMemoryOnly: 1, true or yes; 0, false or no.
	EnvNoSpill = "SPILLBENCH_NO_SPILL"
)

// EnvError is a spill environment variable whose value cannot be used.
type EnvError struct {
	Var, Value string
	Reason     string // what is wrong and what to use instead
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Reason)
}

// ApplyEnv overrides p's knobs from the environment, read through lookup
// (os.LookupEnv outside tests). Variables with unusable values are all
// reported, one [*EnvError] per line, and leave p unchanged.
func (p *Policy) ApplyEnv(lookup func(string) (string, bool)) error {
	q := *p
	var errs []error
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return v, ok && strings.TrimSpace(v) != ""
	}
	if v, ok := get(EnvThreshold); ok {
		n, err := ParseSize(v)
		switch {
		case err != nil:
			errs = append(errs, &EnvError{EnvThreshold, v, err.Error() + "; use a positive size such as 64M"})
		case n == 0:
			errs = append(errs, &EnvError{EnvThreshold, v, "threshold must be positive; use a size such as 64M, or unset the variable for the default"})
		default:
			q.Threshold = n
		}
	}
	if v, ok := get(EnvDir); ok {
		q.Dir = v
	}
	if v, ok := get(EnvCompression); ok {
		c, err := ParseCompression(v)
		if err != nil {
			errs = append(errs, &EnvError{EnvCompression, v, "use none, zstd or zstd:N with N from 1 to 22"})
		} else {
			q.Compression = c
		}
	}
	if v, ok := get(EnvNoSpill); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "1", "true", "yes":
			q.InMemoryOnly = true
		case "0", "false", "no":
			q.InMemoryOnly = false
		default:
			errs = append(errs, &EnvError{EnvNoSpill, v, "use 1, true or yes to forbid spilling; 0, false or no to allow it"})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*p = q
	return nil
}
