package injectors_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

const helperEnv = "SPILLBENCH_INJECTOR_HELPER"

// TestHelperHoldsResources is not a test: the SIGINT test runs the test
// binary with helperEnv set, and this sets up every kernel mechanism it
// can, arms a fault, starts an engine run on each, prints their spill
// directories once the runs are spilling, and waits to be killed.
func TestHelperHoldsResources(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("runs only as the helper process of TestSIGINTReleasesEverything")
	}
	faults := map[string]injectors.Fault{
		"tmpfs":     {Mode: injectors.ModeENOSPC, AfterBytes: 8 << 20},
		"fallocate": {Mode: injectors.ModeENOSPC, AfterBytes: 8 << 20},
		"fuse":      {Mode: injectors.ModeLatency, Latency: time.Millisecond, Persistent: true},
	}
	wl, err := engine.NewWorkload(engine.WorkloadSpec{Name: "bulk", Items: 1 << 20, Scale: 0.1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, inj := range []injectors.Injector{injectors.NewTmpfs(), injectors.NewFallocate(), injectors.NewFuse()} {
		if inj.Probe() != nil {
			continue
		}
		s, err := inj.Setup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := inj.Arm(faults[inj.Name()]); err != nil {
			t.Fatal(err)
		}
		p := s.Apply(spill.Policy{Threshold: 64 << 10, Granularity: spill.PerItem})
		go engine.Run(context.Background(), engine.Config{Workload: wl, Workers: 2, RingCapacity: 1 << 16, Spill: &p})
		println("dir", s.Dir)
	}
	time.Sleep(300 * time.Millisecond) // let the runs get going
	println("ready")
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}

func TestSIGINTReleasesEverything(t *testing.T) {
	available(t, injectors.NewTmpfs())
	noLeaks(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsResources$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stderr, err := cmd.StderrPipe() // println writes to stderr
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "dir "); ok {
			dirs = append(dirs, d)
		}
		if line == "ready" {
			break
		}
	}
	if len(dirs) == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the helper set nothing up")
	}
	mounted := injectors.CurrentHostState().Mounts
	for _, d := range dirs {
		if !slices.ContainsFunc(mounted, func(m string) bool {
			return strings.HasPrefix(d, m) && strings.HasPrefix(m, filepath.Dir(filepath.Dir(d)))
		}) {
			t.Errorf("nothing is mounted under %s in the helper's lifetime", d)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGINT) {
		t.Fatalf("helper exit: %v, want %d", err, 128+int(syscall.SIGINT))
	}
	after := injectors.CurrentHostState()
	for _, d := range dirs {
		work := workDirOf(d)
		for _, m := range after.Mounts {
			if strings.HasPrefix(m, work) {
				t.Errorf("still mounted after SIGINT: %s", m)
			}
		}
		for _, l := range after.Loops {
			if strings.Contains(l, work) {
				t.Errorf("loop device left after SIGINT: %s", l)
			}
		}
		if _, err := os.Stat(work); !os.IsNotExist(err) {
			t.Errorf("work dir %s left after SIGINT: %v", work, err)
		}
	}
}

// workDirOf returns the injector work dir a spill dir lies in.
func workDirOf(dir string) string {
	for dir != "/" && !strings.HasPrefix(filepath.Base(dir), "spillbench-inj-") {
		dir = filepath.Dir(dir)
	}
	return dir
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// markedDir makes a work dir as an injector would, marked with pid.
func markedDir(t *testing.T, pid int) string {
	dir, err := os.MkdirTemp("", "spillbench-inj-cleanuptest-")
	if err != nil {
		t.Fatal(err)
	}
	if pid != 0 {
		if err := os.WriteFile(filepath.Join(dir, ".spillbench-injector"), []byte(strconv.Itoa(pid)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCleanupRemovesOnlyDeadRunsLeftovers(t *testing.T) {
	available(t, injectors.NewTmpfs())
	noLeaks(t)
	leaked := markedDir(t, deadPID(t))
	mnt := filepath.Join(leaked, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("leaked", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	live := markedDir(t, os.Getpid())
	unmarked := markedDir(t, 0)
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		os.RemoveAll(leaked)
		os.RemoveAll(live)
		os.RemoveAll(unmarked)
	})

	removed, err := injectors.Cleanup("")
	if err != nil {
		t.Fatal(err)
	}
	if !contains(removed, "mount "+mnt) || !contains(removed, "dir "+leaked) {
		t.Fatalf("Cleanup removed %v; want the leaked mount and its dir", removed)
	}
	if contains(injectors.CurrentHostState().Mounts, mnt) {
		t.Fatal("the leaked mount is still there")
	}
	for _, d := range []string{live, unmarked} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Cleanup touched %s: %v", d, err)
		}
	}
}
