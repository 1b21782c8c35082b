package injectors_test

import (
	"bufio"
	"context"
	"fmt"
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

// markedDir makes a work dir in tmp as an injector would, marked with pid.
func markedDir(t *testing.T, tmp string, pid int) string {
	dir, err := os.MkdirTemp(tmp, "spillbench-inj-cleanuptest-")
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
	// A private temp dir: Cleanup of the shared one would also take what
	// dead runs of other tests on this machine left there.
	tmp := t.TempDir()
	leaked := markedDir(t, tmp, deadPID(t))
	mnt := filepath.Join(leaked, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("leaked", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	live := markedDir(t, tmp, os.Getpid())
	unmarked := markedDir(t, tmp, 0)
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		os.RemoveAll(leaked)
		os.RemoveAll(live)
		os.RemoveAll(unmarked)
	})

	removed, err := injectors.Cleanup(tmp)
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

const panicHelperEnv = "SPILLBENCH_PANIC_HELPER"

// panicking is a workload whose producer (Item) or consumer (Basis: only
// the verifier asks for it, for a delta) panics part way through a run.
type panicking struct {
	engine.Workload
	in string
}

func (p panicking) Item(seq uint64) engine.Item {
	if p.in == "producer" && seq == 300 {
		panic("planted in the producer")
	}
	return p.Workload.Item(seq)
}

func (p panicking) Basis(seq uint64) []byte {
	if p.in == "consumer" && seq >= 300 {
		panic("planted in the consumer")
	}
	return p.Workload.Basis(seq)
}

// TestHelperPanicsInTheEngine is not a test: TestEnginePanicReleasesEverything
// runs the test binary with panicHelperEnv set to producer or consumer,
// and this, as the command does, sets up a tmpfs and a FUSE mount, runs
// the engine on each with a workload that panics in that goroutine, and
// tears down.
func TestHelperPanicsInTheEngine(t *testing.T) {
	in := os.Getenv(panicHelperEnv)
	if in == "" {
		t.Skip("runs only as the helper process of TestEnginePanicReleasesEverything")
	}
	defer injectors.Resources.ReleaseAll()
	wl, err := engine.NewWorkload(engine.WorkloadSpec{Name: "tree", Items: 1000, Scale: 0.2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, inj := range []injectors.Injector{injectors.NewTmpfs(), injectors.NewFuse()} {
		s, err := inj.Setup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		println("dir", s.Dir)
		p := s.Apply(spill.Policy{Threshold: 16 << 10})
		out, err := engine.Run(context.Background(), engine.Config{Workload: panicking{wl, in}, Workers: 2, Schedule: engine.Free, Spill: &p})
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(fmt.Sprint(out.Err), "\n")
		println("run", inj.Name(), first)
		if err := inj.Teardown(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEnginePanicReleasesEverything is issue 15's tenth item: a panic in
// a goroutine of the engine used to end the process at once, leaving
// its mounts and FUSE server. The helper process must instead see the
// panic as its run's error, tear down and exit normally.
func TestEnginePanicReleasesEverything(t *testing.T) {
	available(t, injectors.NewTmpfs())
	available(t, injectors.NewFuse())
	for _, in := range []string{"producer", "consumer"} {
		t.Run(in, func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPanicsInTheEngine$", "-test.v")
			cmd.Env = append(os.Environ(), panicHelperEnv+"="+in, "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			// Whatever happened, leave nothing: the helper is dead now.
			removed, cerr := injectors.Cleanup(tmp)
			if err != nil {
				t.Fatalf("the helper died of the panic (%v); cleanup then removed %v (%v):\n%s", err, removed, cerr, firstLines(out, 30))
			}
			if len(removed) > 0 {
				t.Fatalf("the helper left %v:\n%s", removed, out)
			}
			for _, mech := range []string{"tmpfs", "fuse"} {
				if want := "run " + mech + " engine: " + in + " panicked: planted in the " + in; !strings.Contains(string(out), want) {
					t.Errorf("the helper did not say %q:\n%s", want, out)
				}
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Errorf("left in TMPDIR: %v", ents)
			}
		})
	}
}

// firstLines returns the first n lines of b.
func firstLines(b []byte, n int) string {
	lines := strings.SplitAfter(string(b), "\n")
	return strings.Join(lines[:min(n, len(lines))], "")
}

const tempDirHelperEnv = "SPILLBENCH_TEMPDIR_HELPER"

// TestHelperMakesTempDirs is not a test: TestCleanupFindsTempDirsOfKilledProcesses
// runs it, and it makes the temp dirs the program makes outside the
// injectors (spill dirs, raw-filesystem scratch, survive, ab builds),
// puts a file in each, and waits to be killed.
func TestHelperMakesTempDirs(t *testing.T) {
	if os.Getenv(tempDirHelperEnv) == "" {
		t.Skip("runs only as the helper process of TestCleanupFindsTempDirsOfKilledProcesses")
	}
	for _, purpose := range []string{"spill", "rawfs", "survive", "ab"} {
		dir, _, err := injectors.NewTempDir(purpose)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "work"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	println("ready")
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}

// Every temp dir the program makes is one cleanup finds once its maker is
// dead (issue 15, item 7: spill, rawfs and survive dirs had no marker),
// and none it finds while its maker lives.
func TestCleanupFindsTempDirsOfKilledProcesses(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMakesTempDirs$")
	cmd.Env = append(os.Environ(), tempDirHelperEnv+"=1", "TMPDIR="+tmp)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && sc.Text() != "ready" {
	}
	made, _ := os.ReadDir(tmp)
	if len(made) != 4 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the helper made %v", made)
	}
	if removed, err := injectors.Cleanup(tmp); err != nil || len(removed) > 0 {
		t.Fatalf("Cleanup removed %v (%v) while their maker lives", removed, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// Killed between making a dir and writing its marker: the dir is
	// empty, its name says whose it was.
	dead := strconv.Itoa(deadPID(t))
	unmarked := filepath.Join(tmp, "spillbench-spill-"+dead+"-12345")
	if err := os.Mkdir(unmarked, 0o700); err != nil {
		t.Fatal(err)
	}
	removed, err := injectors.Cleanup(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 5 || !contains(removed, "dir "+unmarked) {
		t.Fatalf("Cleanup removed %v; want the helper's 4 dirs and %s", removed, unmarked)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("left: %v", left)
	}
}

// A zombie runs no more code: cleanup must take its dirs as a dead
// process's (issue 15, item 1: kill(pid, 0) succeeds on a zombie).
func TestCleanupTreatsZombiesAsDead(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); !isZombie(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d did not become a zombie", pid)
		}
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "spillbench-inj-tmpfs-"+strconv.Itoa(pid)+"-1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".spillbench-injector"), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := injectors.Cleanup(tmp)
	if err != nil || !contains(removed, "dir "+dir) {
		t.Fatalf("Cleanup removed %v (%v); want the zombie's %s", removed, err, dir)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(b), ')')
	return err == nil && i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}
