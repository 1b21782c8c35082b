package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
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

	"github.com/spillbench/spillbench/injectors"
)

// The tests here kill the built binary for real (SIGKILL, SIGINT) in the
// middle of runs that hold mounts, loop devices, FUSE servers and temp
// dirs, then run `spillbench cleanup`, and check that nothing is left
// and that nothing they did not make was touched. Each works in a
// private TMPDIR, so other runs on the machine are out of their way.

// needKernelMechanisms skips (fails on CI) unless every kernel mechanism
// can run here.
func needKernelMechanisms(t *testing.T) {
	t.Helper()
	for _, inj := range []injectors.Injector{injectors.NewTmpfs(), injectors.NewFallocate(), injectors.NewFuse()} {
		if err := inj.Probe(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI runs as root with /dev/fuse and loop devices: %v", err)
			}
			t.Skip(err)
		}
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip(err)
	}
}

// privateTmp makes a TMPDIR for the runs of one test. When the test ends
// it releases whatever is still mounted or attached under it (only what
// the test and the runs it started made there) and removes it.
func privateTmp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cleanuptest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range slices.Backward(mountsBelow(dir)) {
			abortIfFuse(m, dir)
			unix.Unmount(m, unix.MNT_DETACH)
		}
		for _, dev := range loopsBelow(dir) {
			exec.Command("losetup", "-d", strings.Fields(dev)[0]).Run()
		}
		os.RemoveAll(dir)
	})
	return dir
}

// mountsBelow lists the mount points under dir, read from mountinfo
// (which never touches the mounts: a hung FUSE mount cannot hang it).
func mountsBelow(dir string) []string {
	var ms []string
	for _, m := range injectors.CurrentHostState().Mounts {
		if strings.HasPrefix(m, dir+"/") {
			ms = append(ms, m)
		}
	}
	return ms
}

// loopsBelow lists the loop devices backed by files under dir, as
// "device file".
func loopsBelow(dir string) []string {
	var ls []string
	for _, l := range injectors.CurrentHostState().Loops {
		if _, file, _ := strings.Cut(l, " "); strings.HasPrefix(file, dir+"/") {
			ls = append(ls, l)
		}
	}
	return ls
}

// abortIfFuse aborts the FUSE connection of the mount at point, if it is
// one, through a fusectl mount of its own under scratch: the repair a
// wedged mount needs before anything can unmount it.
func abortIfFuse(point, scratch string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		i := slices.Index(f, "-")
		if len(f) < 5 || f[4] != point || i < 0 || i+1 >= len(f) || !strings.HasPrefix(f[i+1], "fuse") {
			continue
		}
		_, minor, _ := strings.Cut(f[2], ":")
		ctl, err := os.MkdirTemp(scratch, "repair-fusectl-")
		if err != nil {
			return
		}
		if unix.Mount("fusectl", ctl, "fusectl", 0, "") == nil {
			os.WriteFile(filepath.Join(ctl, minor, "abort"), []byte("1"), 0)
			unix.Unmount(ctl, unix.MNT_DETACH)
		}
		os.Remove(ctl)
	}
}

// subreaper makes this process the reaper of orphaned descendants for
// the test, so that the servers a killed sweep leaves become its
// children: it can then see them exit, zombies included, and reap them.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// childrenOf lists the PIDs whose parent is pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(n); ok && ppid == pid {
			kids = append(kids, n)
		}
	}
	return kids
}

// procStat reads a process's parent and state from /proc.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// reapAll waits up to limit for each of pids (orphans this process now
// reaps) to exit, reaps it, and returns those still running.
func reapAll(pids []int, limit time.Duration) []int {
	deadline := time.Now().Add(limit)
	var left []int
	for _, pid := range pids {
		for {
			var ws unix.WaitStatus
			got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if got == pid || errors.Is(err, unix.ECHILD) && !exists(pid) {
				break
			}
			if time.Now().After(deadline) {
				left = append(left, pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return left
}

func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// zombieChildren lists this process's children that are zombies: a
// process some test started and nobody reaped.
func zombieChildren() []int {
	var zs []int
	for _, pid := range childrenOf(os.Getpid()) {
		if _, state, ok := procStat(pid); ok && state == 'Z' {
			zs = append(zs, pid)
		}
	}
	return zs
}

// killed is a sweep killed with SIGKILL.
type killed struct {
	pid  int
	kids []int // its children when it was killed: FUSE servers, mkfs
	held []string
}

// killAfter kills the started cmd with SIGKILL after wait, and waits for
// it to die. A process that does not die within 30 s is wedged: the
// test fails, after aborting the FUSE connections under tmp so that it
// can die.
func killAfter(t *testing.T, cmd *exec.Cmd, wait time.Duration, tmp string) killed {
	t.Helper()
	time.Sleep(wait)
	ours := childrenOf(os.Getpid())
	k := killed{pid: cmd.Process.Pid, kids: childrenOf(cmd.Process.Pid)}
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		k.held = append(k.held, e.Name())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Errorf("the killed sweep %d is wedged 30 s after SIGKILL (threads: %s); aborting the FUSE connections under %s", k.pid, threadStates(k.pid), tmp)
		for _, m := range mountsBelow(tmp) {
			abortIfFuse(m, tmp)
		}
		<-exited
	}
	// Children it started after the list was taken are orphans now, and
	// this process's (it is their subreaper).
	for _, pid := range childrenOf(os.Getpid()) {
		if !slices.Contains(ours, pid) && !slices.Contains(k.kids, pid) {
			k.kids = append(k.kids, pid)
		}
	}
	return k
}

// threadStates lists the state and kernel wait channel of each thread of
// pid, as "Z", "D request_wait_answer".
func threadStates(pid int) string {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	var states []string
	for _, task := range tasks {
		n, _ := strconv.Atoi(filepath.Base(task))
		_, state, _ := procStat(n)
		wchan, _ := os.ReadFile(filepath.Join(task, "wchan"))
		states = append(states, strings.TrimSpace(string(state)+" "+string(wchan)))
	}
	return strings.Join(states, ", ")
}

// decoys are things in a TMPDIR that cleanup must leave alone: a tmpfs
// and a loop device it did not make, dirs with look-alike names, dirs
// marked by a live process.
type decoys struct {
	mounts, loops, files []string
}

func plantDecoys(t *testing.T, tmp string) decoys {
	t.Helper()
	live := strconv.Itoa(os.Getpid())
	dead := strconv.Itoa(deadProcess(t))
	mkdir := func(name string) string { // name is relative to tmp
		t.Helper()
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mountTmpfs := func(dir string) {
		t.Helper()
		if err := unix.Mount("decoy", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(dir, "keep"), "a foreign tmpfs\n")
	}
	// A look-alike name without a marker, with a foreign tmpfs in it.
	mountTmpfs(mkdir("spillbench-inj-tmpfs-lookalike/mnt"))
	// A look-alike name without a marker, with a foreign loop device.
	img := filepath.Join(mkdir("spillbench-inj-fallocate-"+dead+"-1"), "ext4.img")
	write(img, strings.Repeat("x", 1<<20))
	if out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput(); err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	// Marked by a live process (this one), with a tmpfs in it.
	d := mkdir("spillbench-spill-" + live + "-7")
	write(filepath.Join(d, ".spillbench-injector"), live+"\n")
	mountTmpfs(mkdir(filepath.Join(filepath.Base(d), "mnt")))
	// The program's own name pattern, a dead PID, no marker, not empty.
	write(filepath.Join(mkdir("spillbench-rawfs-"+dead+"-5"), "data"), "not the program's\n")
	// Empty, the program's pattern, named by a live PID.
	mkdir("spillbench-survive-" + live + "-9")
	// A dead process's marker, in a dir whose name is not the program's.
	write(filepath.Join(mkdir("unrelated-"+dead), ".spillbench-injector"), dead+"\n")
	return decoys{mounts: mountsBelow(tmp), loops: loopsBelow(tmp), files: listTree(t, tmp)}
}

// deadProcess returns the PID of a process that has exited and been
// reaped.
func deadProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// listTree lists every path under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// leftovers lists what tmp holds beyond the decoys (mounts, loop devices,
// files), and decoys that are gone. It checks the mounts first and does
// not walk the tree if there are strays: one could be a hung FUSE mount.
func (d decoys) leftovers(t *testing.T, tmp string) []string {
	t.Helper()
	var bad []string
	diff := func(what string, want, got []string) {
		for _, g := range got {
			if !slices.Contains(want, g) {
				bad = append(bad, what+" left: "+g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				bad = append(bad, what+" of a decoy gone: "+w)
			}
		}
	}
	diff("mount", d.mounts, mountsBelow(tmp))
	diff("loop device", d.loops, loopsBelow(tmp))
	if len(bad) > 0 {
		return bad
	}
	diff("file", d.files, listTree(t, tmp))
	return bad
}

// killSpec is a sweep with a cell for every kernel mechanism and one
// without a fault (its spill dir and the raw-filesystem measurement
// beside it are temp dirs too), in an order shuffled by rng; every
// repetition round visits them all.
func killSpec(rng *rand.Rand) string {
	faults := []string{
		"none",
		"{injector: tmpfs, mode: enospc, after: 64KiB}",
		"{injector: fallocate, mode: enospc, after: 64KiB}",
		"{injector: fuse, mode: latency, latency: 2ms, persistent: true}",
		"{injector: fuse, mode: enospc, nth: 3, persistent: true}",
		"{injector: vanish, mode: unmount}",
	}
	rng.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
	// The first FUSE dir to appear is the latency cell's, which runs for
	// seconds: a kill aimed at FUSE finds writes in flight.
	lat, nospc := 0, 0
	for i, f := range faults {
		if strings.Contains(f, "fuse, mode: latency") {
			lat = i
		}
		if strings.Contains(f, "fuse, mode: enospc") {
			nospc = i
		}
	}
	if nospc < lat {
		faults[lat], faults[nospc] = faults[nospc], faults[lat]
	}
	return `name: kill
count: 1000
benchtime: 20ms
warmup: 0
timeout: 1m
workload:
  - {name: hol, items: 1500, scale: 0.2}
threshold: [2KiB]
fault:
  - ` + strings.Join(faults, "\n  - ") + "\n"
}

// TestSIGKILLThenCleanupLeavesNothing kills sweeps that use every kernel
// mechanism (and survive, which makes temp dirs of its own) at random
// moments inside each mechanism's cell in turn, runs cleanup after each, and checks that no mount, loop
// device, process (zombies included) or temp dir is left, and that
// every decoy is untouched. SPILLBENCH_KILLS sets the number of kills
// (8 by default; 20 for the full check).
func TestSIGKILLThenCleanupLeavesNothing(t *testing.T) {
	needKernelMechanisms(t)
	kills := 8
	if v := os.Getenv("SPILLBENCH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SPILLBENCH_KILLS=%q: give a number of kills", v)
		}
		kills = n
	}
	subreaper(t)
	work, bin := buildBinary(t)
	tmp := privateTmp(t)
	d := plantDecoys(t, tmp)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	caught := map[string]int{} // what the kills interrupted, by kind of temp dir
	defer func() { t.Logf("the kills caught, by temp dir: %v", caught) }()
	// Each kill aims at one kind of temp dir in turn, and lands at a
	// random moment after it appears: at setup, arming, mid-run or
	// teardown of that mechanism.
	targets := []string{"inj-tmpfs", "inj-fallocate", "inj-fuse", "inj-vanish", "spill", "survive"}
	for i := range kills {
		target := targets[i%len(targets)]
		out := filepath.Join(work, fmt.Sprint("out", i))
		spec := filepath.Join(work, fmt.Sprintf("kill%d.yaml", i))
		if err := os.WriteFile(spec, []byte(killSpec(rng)), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"run", "--spec", spec, "--out", out, "--profiles", "none", "-q"}
		if target == "survive" {
			args = []string{"survive", "--out", out, "-q"}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		at := time.Duration(rng.IntN(60)) * time.Millisecond // the cells of a kernel fault take 0.1-0.3 s
		if !appears(tmp, fmt.Sprintf("spillbench-%s-%d-", target, cmd.Process.Pid), 30*time.Second) {
			t.Errorf("kill %d: no %s dir appeared in 30 s; killing anyway", i, target)
		}
		k := killAfter(t, cmd, at, tmp)
		if left := reapAll(k.kids, 30*time.Second); len(left) > 0 {
			t.Errorf("kill %d: processes of the killed sweep still running 30 s later: %v", i, left)
		}
		clean := exec.Command(bin, "cleanup")
		clean.Env = append(os.Environ(), "TMPDIR="+tmp)
		said, err := clean.CombinedOutput()
		if err != nil {
			t.Fatalf("kill %d: cleanup: %v\n%s", i, err, said)
		}
		var held []string
		for _, name := range k.held {
			if !slices.Contains(d.files, filepath.Join(tmp, name)) {
				held = append(held, name)
				kind := strings.Split(strings.TrimPrefix(name, "spillbench-"), "-")
				caught[strings.Join(kind[:min(len(kind)-2, 2)], "-")]++
			}
		}
		t.Logf("kill %d: %s, %v after its %s dir appeared, holding %v; cleanup: %s", i, args[0], at, target, held, strings.TrimSpace(string(said)))
		if bad := d.leftovers(t, tmp); len(bad) > 0 {
			t.Fatalf("kill %d (%s, %v into %s): after cleanup:\n%s", i, args[0], at, target, strings.Join(bad, "\n"))
		}
		for _, pid := range k.kids {
			if exists(pid) {
				t.Fatalf("kill %d: process %d of the killed sweep is still there", i, pid)
			}
		}
		if zs := zombieChildren(); len(zs) > 0 {
			t.Fatalf("kill %d: zombies left: %v", i, zs)
		}
	}
}

// appears waits up to limit for an entry of dir whose name starts with
// prefix.
func appears(dir, prefix string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				return true
			}
		}
	}
	return false
}

// fuseSpec holds a spill write in the FUSE server for an hour: a kill or
// an interrupt always finds a sweep thread waiting on the server.
const fuseSpec = `name: slowfuse
count: 1
timeout: %s
workload:
  - {name: hol, items: 1000, scale: 0.05}
threshold: [4KiB]
fault:
  - {injector: fuse, mode: latency, latency: 1h, persistent: true}
`

// startFuseSweep starts the binary on fuseSpec and waits until its FUSE
// mount is up and a run has had time to block in a write.
func startFuseSweep(t *testing.T, bin, work, tmp, timeout string) *exec.Cmd {
	t.Helper()
	spec := filepath.Join(work, "slowfuse.yaml")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(fuseSpec, timeout)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--spec", spec, "--out", filepath.Join(work, "out-"+strconv.Itoa(rand.Int())), "--profiles", "none", "-q")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); len(mountsBelow(tmp)) == 0; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("no FUSE mount appeared in a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the first spill write is now waiting on the server
	return cmd
}

// TestSIGKILLDuringFUSEWriteCannotWedge is issue 15's first item: SIGKILL
// while a sweep thread waits in a FUSE write. The sweep must die, its
// FUSE server must notice, unmount and exit by itself (no mount, no
// process, no dir left even before cleanup), and cleanup must then find
// nothing to do.
func TestSIGKILLDuringFUSEWriteCannotWedge(t *testing.T) {
	needKernelMechanisms(t)
	subreaper(t)
	work, bin := buildBinary(t)
	tmp := privateTmp(t)
	cmd := startFuseSweep(t, bin, work, tmp, "1h")
	k := killAfter(t, cmd, 0, tmp)
	if len(k.kids) == 0 {
		t.Fatal("the sweep had no FUSE server process")
	}
	if left := reapAll(k.kids, 30*time.Second); len(left) > 0 {
		t.Fatalf("the FUSE server %v still runs 30 s after its parent was killed", left)
	}
	if ms := mountsBelow(tmp); len(ms) > 0 {
		t.Fatalf("mounts left by the killed sweep's FUSE server: %v", ms)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Fatalf("the FUSE server left its work dir: %v", ents)
	}
	clean := exec.Command(bin, "cleanup")
	clean.Env = append(os.Environ(), "TMPDIR="+tmp)
	if said, err := clean.CombinedOutput(); err != nil || !strings.Contains(string(said), "nothing to clean up") {
		t.Fatalf("cleanup: %v\n%s", err, said)
	}
	if zs := zombieChildren(); len(zs) > 0 {
		t.Fatalf("zombies left: %v", zs)
	}
}

// TestFUSELatencyEndsWithTheRun is issue 15's second item: a FUSE
// latency of an hour must not outlast the spec's timeout or a single
// Ctrl-C, and the exit must leave nothing behind. (The bound of a minute
// only tells a hang from an exit; it measures no speed.)
func TestFUSELatencyEndsWithTheRun(t *testing.T) {
	needKernelMechanisms(t)
	work, bin := buildBinary(t)
	for _, tc := range []struct {
		name, timeout string
		signal        bool
		code          int // -1: any (what a timed-out sweep exits with is not this test's)
	}{
		{"timeout", "2s", false, -1},
		{"sigint", "1h", true, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := privateTmp(t)
			cmd := startFuseSweep(t, bin, work, tmp, tc.timeout)
			if tc.signal {
				cmd.Process.Signal(os.Interrupt)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var err error
			select {
			case err = <-exited:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				for _, m := range mountsBelow(tmp) {
					abortIfFuse(m, tmp)
				}
				<-exited
				t.Fatal("the run waited out the latency: still running a minute later")
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.code >= 0 && code != tc.code {
				t.Fatalf("exit %d, want %d", code, tc.code)
			}
			if ms := mountsBelow(tmp); len(ms) > 0 {
				t.Fatalf("mounts left: %v", ms)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Fatalf("temp dirs left: %v", ents)
			}
		})
	}
}

// TestCleanupRepairsAHungFUSEMount: when the FUSE server cannot answer
// (here it is stopped with SIGSTOP) and the sweep is killed while it
// waits on it, the sweep cannot finish dying: its main thread is a
// zombie, one thread waits in the kernel for the server, and the mount
// hangs. cleanup must take the zombie for dead, abort the connection,
// which lets the sweep die, and unmount and remove its dir.
func TestCleanupRepairsAHungFUSEMount(t *testing.T) {
	needKernelMechanisms(t)
	subreaper(t)
	work, bin := buildBinary(t)
	tmp := privateTmp(t)
	cmd := startFuseSweep(t, bin, work, tmp, "1h")
	servers := childrenOf(cmd.Process.Pid)
	if len(servers) != 1 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the sweep has children %v, want its FUSE server", servers)
	}
	server := servers[0]
	defer func() {
		unix.Kill(server, unix.SIGKILL)
		reapAll(servers, 30*time.Second)
	}()
	if err := unix.Kill(server, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
		t.Fatal("the sweep died although its FUSE server could not answer: the test did not make a hung mount")
	case <-time.After(time.Second):
	}
	t.Logf("the killed sweep's threads: %s", threadStates(cmd.Process.Pid))
	clean := exec.Command(bin, "cleanup")
	clean.Env = append(os.Environ(), "TMPDIR="+tmp)
	said, err := clean.CombinedOutput()
	t.Logf("cleanup: %s", said)
	if err != nil || !strings.Contains(string(said), "removed mount") {
		for _, m := range mountsBelow(tmp) {
			abortIfFuse(m, tmp)
		}
		<-exited
		t.Fatalf("cleanup did not repair the hung mount: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the sweep still cannot die after cleanup: %s", threadStates(cmd.Process.Pid))
	}
	if ms := mountsBelow(tmp); len(ms) > 0 {
		t.Fatalf("mounts left: %v", ms)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Fatalf("left in TMPDIR: %v", ents)
	}
}
