package injectors_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

// TestMain releases whatever a failed or interrupted test left registered
// (t.Cleanup does not run on a -timeout panic), then checks for leaked
// goroutines.
func TestMain(m *testing.M) {
	stop := injectors.HandleSignals()
	code := m.Run()
	if err := injectors.Resources.ReleaseAll(); err != nil {
		fmt.Fprintln(os.Stderr, "releasing injector resources:", err)
		code = 1
	}
	stop()
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}

// onCI is set by CI, which runs as root: there the kernel mechanisms must
// run, so an unavailable one fails instead of skipping.
var onCI = os.Getenv("CI") != ""

// available skips (or on CI fails) a test whose mechanism cannot run here,
// with the probe's reason.
func available(t *testing.T, inj injectors.Injector, modes ...injectors.Mode) {
	t.Helper()
	err := inj.Probe()
	for _, m := range modes {
		if err == nil {
			err = injectors.ProbeMode(inj, m)
		}
	}
	if err != nil {
		if onCI && inj.Name() != "failpoint" {
			t.Fatalf("%s must run on CI: %v", inj.Name(), err)
		}
		t.Skip(err)
	}
}

// noLeaks checks, when the test ends, that the host is as it was: the
// mounts and loop devices this process made, and its open files (the
// tests of other packages, run at the same time, mount their own).
func noLeaks(t *testing.T) {
	t.Helper()
	before := injectors.CurrentHostState()
	t.Cleanup(func() {
		if leaks := before.LeaksNow(); len(leaks) > 0 {
			t.Errorf("leaked: %v", leaks)
		}
	})
}

// faultRun is one engine run under one armed fault.
type faultRun struct {
	out      engine.Outcome
	obs      []injectors.Observation
	setup    time.Duration
	teardown time.Duration
}

// tightThreshold makes the test workload spill about 1.5 MB.
const tightThreshold = 16 << 10

func testWorkload(t testing.TB) engine.Workload {
	wl, err := engine.NewWorkload(engine.WorkloadSpec{Name: "hol", Items: 1200, Scale: 0.2, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

// runUnder sets inj up, arms fault, runs the engine on it and tears down.
func runUnder(t *testing.T, inj injectors.Injector, fault injectors.Fault, gran spill.Granularity) faultRun {
	t.Helper()
	noLeaks(t)
	ctx := context.Background()
	start := time.Now()
	setup, err := inj.Setup(ctx)
	if err != nil {
		inj.Teardown()
		t.Fatalf("%s setup: %v", inj.Name(), err)
	}
	if err := inj.Arm(fault); err != nil {
		inj.Teardown()
		t.Fatalf("%s arm %v: %v", inj.Name(), fault, err)
	}
	var r faultRun
	r.setup = time.Since(start)
	policy := setup.Apply(spill.Policy{Threshold: tightThreshold, Granularity: gran})
	r.out, err = engine.Run(ctx, engine.Config{Workload: testWorkload(t), Workers: 2, Spill: &policy})
	r.obs = inj.Observations()
	start = time.Now()
	if terr := inj.Teardown(); terr != nil {
		t.Errorf("%s teardown: %v", inj.Name(), terr)
	}
	if err := inj.Teardown(); err != nil {
		t.Errorf("%s second teardown: %v", inj.Name(), err)
	}
	r.teardown = time.Since(start)
	if err != nil {
		t.Fatalf("engine.Run: %v", err)
	}
	return r
}

// firstFailure is the first observation that carries an errno.
func (r faultRun) firstFailure() (injectors.Observation, bool) {
	for _, o := range r.obs {
		if o.Errno != "" {
			return o, true
		}
	}
	return injectors.Observation{}, false
}

// wantCleanFailure checks the run stopped with a typed spill error and
// exit 11, and lost, duplicated and corrupted nothing.
func wantCleanFailure(t *testing.T, r faultRun, errno error) {
	t.Helper()
	out := r.out
	if out.Err == nil {
		t.Fatalf("the run succeeded; observations %+v", r.obs)
	}
	if errno != nil && !errors.Is(out.Err, errno) {
		t.Fatalf("error %v, want %v in its chain", out.Err, errno)
	}
	if out.ExitCode != engine.ExitFileIO {
		t.Fatalf("exit %d for %v, want %d", out.ExitCode, out.Err, engine.ExitFileIO)
	}
	if !out.Report.Clean() || out.Panics != 0 {
		t.Fatalf("report %v, panics %d: a failed run must lose nothing", out.Report, out.Panics)
	}
	if out.Report.Delivered+out.Report.Undelivered != out.Report.Sent {
		t.Fatalf("report %v does not account for every item", out.Report)
	}
}

// wantUnaffected checks the run delivered everything.
func wantUnaffected(t *testing.T, r faultRun) {
	t.Helper()
	if r.out.Err != nil || r.out.ExitCode != engine.ExitOK || !r.out.Report.Clean() || r.out.Report.Delivered != r.out.Report.Sent {
		t.Fatalf("run: %v exit %d %v; want it unaffected", r.out.Err, r.out.ExitCode, r.out.Report)
	}
}

func TestMechanismsDeclareThemselves(t *testing.T) {
	for _, inj := range injectors.All() {
		if inj.Name() == "" || len(inj.Modes()) == 0 {
			t.Errorf("%T: name %q, modes %v", inj, inj.Name(), inj.Modes())
		}
		if inj.Family() != injectors.Userspace && inj.Family() != injectors.Kernel {
			t.Errorf("%s: family %q", inj.Name(), inj.Family())
		}
		if err := inj.Probe(); err != nil && !errors.Is(err, injectors.ErrUnavailable) {
			t.Errorf("%s: probe error %v does not wrap ErrUnavailable", inj.Name(), err)
		}
		if err := inj.Arm(injectors.Fault{Mode: "no-such-mode"}); !errors.Is(err, injectors.ErrUnsupportedMode) {
			t.Errorf("%s: arming an unknown mode: %v", inj.Name(), err)
		}
		if err := inj.Teardown(); err != nil {
			t.Errorf("%s: teardown without setup: %v", inj.Name(), err)
		}
	}
}

// TestKernelMechanismsNeedRoot checks what a plain user sees: every
// kernel mechanism that needs root says it is unavailable. As root (CI,
// the development machines) it runs itself again as the user nobody.
func TestKernelMechanismsNeedRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		asNobody(t, "TestKernelMechanismsNeedRoot")
		return
	}
	checked := 0
	for _, inj := range injectors.All() {
		if inj.Family() != injectors.Kernel || !slices.Contains(inj.Requires(), injectors.NeedRoot) {
			continue
		}
		checked++
		err := inj.Probe()
		if !errors.Is(err, injectors.ErrUnavailable) {
			t.Errorf("%s: probe as a plain user: %v, want unavailable", inj.Name(), err)
		}
	}
	if checked == 0 {
		t.Fatal("no kernel mechanism says it needs root")
	}
}

// asNobody runs the named test of this binary again as uid and gid 65534
// and fails with its output if it fails. The binary is copied where that
// user can run it; TMPDIR is a directory it can write.
func asNobody(t *testing.T, test string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "spillbench-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "tmp")
	bin := filepath.Join(dir, "injectors.test")
	b, err := os.ReadFile(self)
	if err == nil {
		err = os.WriteFile(bin, b, 0o755)
	}
	if err == nil {
		err = os.Mkdir(tmp, 0o777)
	}
	if err == nil {
		err = errors.Join(os.Chmod(dir, 0o755), os.Chmod(tmp, 0o1777))
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run", "^"+test+"$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as nobody: %v\n%s", test, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s as nobody did not run:\n%s", test, out)
	}
}
