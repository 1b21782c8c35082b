package bench

import (
	"strings"
	"testing"

	"github.com/spillbench/spillbench/spill"
)

// The spill package's environment overrides fill the axes a spec leaves
// out, and leave the ones it sets alone; every variable given is
// recorded with what it did.
func TestSpecApplyEnv(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	parse := func(src string) *Spec {
		t.Helper()
		s, err := parseSpec("s.yaml", []byte(src), 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := parse("workload: [mix]\n")
	err := s.ApplyEnv(env(map[string]string{spill.EnvThreshold: "1M", spill.EnvCompression: "zstd:3", spill.EnvDir: "/var/spill", spill.EnvNoSpill: " "}))
	if err != nil {
		t.Fatal(err)
	}
	name := s.Cells()[0].Name()
	if !strings.Contains(name, "/threshold=1MiB/") || !strings.Contains(name, "/comp=zstd:3/") || s.SpillDir != "/var/spill" {
		t.Fatalf("cell %s, spill dir %q: want the environment's threshold, compression and directory", name, s.SpillDir)
	}
	if len(s.Env) != 3 || !s.Env[0].Applied || s.Env[0].Var != spill.EnvThreshold || s.Env[0].Value != "1M" {
		t.Fatalf("recorded %+v: want the three variables set, applied (the blank one is unset)", s.Env)
	}

	s = parse("workload: [mix]\nthreshold: [4KiB]\n")
	if err := s.ApplyEnv(env(map[string]string{spill.EnvThreshold: "1M"})); err != nil {
		t.Fatal(err)
	}
	if len(s.Thresholds) != 1 || s.Thresholds[0] != 4<<10 || len(s.Env) != 1 || s.Env[0].Applied || !strings.Contains(s.Env[0].Effect, "the spec sets threshold") {
		t.Fatalf("thresholds %v, recorded %+v: the spec's threshold comes first, and the record says so", s.Thresholds, s.Env)
	}

	s = parse("workload: [mix]\n")
	if err := s.ApplyEnv(env(map[string]string{spill.EnvNoSpill: "yes"})); err != nil || len(s.Backends) != 1 || s.Backends[0] != BackendMemory {
		t.Fatalf("backends %v, %v: want the in-memory-only backend", s.Backends, err)
	}
	s = parse("workload: [mix]\nfault:\n  - {injector: mock, mode: enospc}\n")
	if err := s.ApplyEnv(env(map[string]string{spill.EnvNoSpill: "1"})); err != nil || s.Backends[0] != BackendDir || s.Env[0].Applied {
		t.Fatalf("backends %v, recorded %+v, %v: a fault needs a backend that spills", s.Backends, s.Env, err)
	}

	err = parse("workload: [mix]\n").ApplyEnv(env(map[string]string{spill.EnvThreshold: "lots", spill.EnvNoSpill: "maybe"}))
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), spill.EnvThreshold) || !strings.Contains(err.Error(), spill.EnvNoSpill) {
		t.Fatalf("error %q: want one line naming both variables", err)
	}
}
