package bench

import (
	"strings"
	"testing"
)

// Absurd values are refused when the spec is read, each with the line it
// was written on and what to do, in one line: none of them may reach a
// run (where they crashed, were ignored, or failed every repetition).
func TestSpecRefusesAbsurdValues(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"workload: [mix]\nfault:\n  - {injector: fuse, mode: latency,\n     latency: \"-1s\"}\n", `s.yaml:4: latency "-1s": give a duration of 0 or more`},
		{"workload: [mix]\nfault:\n  - {injector: fuse, mode: eio, probability: -1}\n", "s.yaml:3: probability -1: give a fraction from 0 to 1"},
		{"workload: [mix]\nfault:\n  - injector: fuse\n    mode: eio\n    probability: 5\n", "s.yaml:5: probability 5: give a fraction from 0 to 1"},
		{"workload: [mix]\nfault:\n  - injector: fuse\n    mode: eio\n    probability: .nan\n", "s.yaml:5: probability NaN"},
		{"workload: [mix]\nfault:\n  - injector: mock\n    mode: enospc\n    nth: -3\n", "s.yaml:5: nth -3: give the call to fail, counting from 1"},
		{"workload:\n  - {name: mix, scale: .nan}\n", "s.yaml:2: workload mix: scale NaN"},
		{"workload:\n  - name: mix\n    scale: .inf\n", "s.yaml:3: workload mix: scale +Inf"},
		{"workload:\n  - {name: mix, scale: 1e30}\n", "s.yaml:2: workload mix (items 0, scale 1e+30): a sweep with it needs about"},
		{"workload: [mix]\nfault:\n  - injector: failpoint\n    mode: eio\n    terms: 'return(\"ENOSPC\")'\n", "s.yaml:4: mode eio and terms \"return(\\\"ENOSPC\\\")\" both given"},
		{"workload: [mix]\nfault:\n  - injector: failpoint\n    terms: 'retrun(\"ENOSPC\")'\n", `s.yaml:4: failpoint terms "retrun(\"ENOSPC\")", term 1 "retrun(\"ENOSPC\")": unknown action "retrun"`},
		{"workload: [mix]\nfault:\n  - injector: failpoint\n    terms: 'return(\"ENOSPACE\")'\n", `is not an errno name`},
		{"workload: [mix]\nfault:\n  - injector: mock\n    terms: 'return(\"EIO\")'\n", "s.yaml:4: terms are failpoint terms; injector mock takes a mode instead"},
		{"workload: [mix]\nfault:\n  - injector: mock\n    mode: enospc\n    after: -5\n", "s.yaml:5: after \"-5\""},
		{"workload: [mix]\nring: [2000000000]\n", "s.yaml:2: ring 2000000000: a sweep with it needs about"},
		{"workload:\n  - {name: hol, items: 1000000000000}\n", "s.yaml:2: workload hol (items 1000000000000, scale 0): a sweep with it needs about"},
	} {
		_, err := parseSpec("s.yaml", []byte(tc.src), 8<<30)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("spec:\n%s\nerror %v\nwant one line containing %s", tc.src, err, tc.want)
		}
	}
}

// What the checks must still let through.
func TestSpecAcceptsSaneFaultValues(t *testing.T) {
	for _, src := range []string{
		"workload: [mix]\nfault:\n  - {injector: fuse, mode: latency, latency: 0s, probability: 0}\n",
		"workload: [mix]\nfault:\n  - {injector: fuse, mode: eio, probability: 1}\n",
		"workload: [mix]\nfault:\n  - {injector: failpoint, terms: '25%return(\"ENOSPC\")->sleep(\"1ms\")'}\n",
		"workload: [mix]\nfault:\n  - {injector: mock, mode: enospc, nth: 0, after: 0}\n",
		"workload:\n  - {name: mix, items: 100, scale: 0}\nring: [1]\n",
	} {
		if _, err := parseSpec("s.yaml", []byte(src), 8<<30); err != nil {
			t.Errorf("spec:\n%s\nrefused: %v", src, err)
		}
	}
}

// Specs that would fill memory with their own axes are refused too.
func TestSpecRefusesHugeAxes(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"workload: [mix]\nthreshold: [\"1..1TiB x1.0001\"]\n", "s.yaml:2: threshold range \"1..1TiB x1.0001\" has about"},
		{"workload: [mix]\nworkers: [1,2,3,4,5,6,7,8,9,10]\nring: [1,2,3,4,5,6,7,8,9,10]\nthreshold: [1,2,3,4,5,6,7,8,9,10]\ngranularity: [batch, item]\ncompression: [none, zstd, zstd:1, zstd:2, zstd:3]\nschedule: [seeded, free]\nreclaim: [keep, respill]\nbackend: [dir, spooled, memory]\n", "s.yaml:1: the spec has 120000 cells"},
	} {
		_, err := parseSpec("s.yaml", []byte(tc.src), 8<<30)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("spec:\n%s\nerror %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// FuzzParseSpec: any input is refused with one line, or gives a spec
// whose cells can be listed, without a panic.
func FuzzParseSpec(f *testing.F) {
	for _, name := range Builtins() {
		b, err := builtin.ReadFile("specs/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("workload:\n  - {name: hol, items: 10, scale: 0.5}\nthreshold: [\"1KiB..1MiB x2\"]\nfault:\n  - {injector: failpoint, terms: '1*return(\"EIO\")'}\n"))
	f.Add([]byte("workload: [mix]\nfault:\n  - {injector: fuse, mode: latency, latency: 1ms, probability: 0.5, nth: 2}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := parseSpec("f.yaml", src, 8<<30)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if len(s.Cells()) == 0 {
			t.Fatal("a spec that parses has no cells")
		}
	})
}
