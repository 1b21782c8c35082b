package bench

import (
	"bufio"
	"cmp"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Env describes where and how a run happened; env.json holds it.
type Env struct {
	Host          string    `json:"host"`
	Kernel        string    `json:"kernel"`
	CPU           string    `json:"cpu"`
	NumCPU        int       `json:"num_cpu"`
	GOMAXPROCS    int       `json:"gomaxprocs"`
	GOOS          string    `json:"goos"`
	GOARCH        string    `json:"goarch"`
	GoVersion     string    `json:"go_version"`
	Module        string    `json:"module"`
	ModuleVersion string    `json:"module_version"`
	Commit        string    `json:"commit"`
	SpillFS       string    `json:"spill_fs"` // filesystem type of the temp dir spill directories go in
	Spec          string    `json:"spec"`
	PinnedCPUs    []int     `json:"pinned_cpus,omitempty"`
	Shard         string    `json:"shard"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	// Complete is false until the last run is recorded: an interrupted
	// or failed sweep leaves a valid but partial directory.
	Complete    bool `json:"complete"`
	Interrupted bool `json:"interrupted"`
	// Cells in this shard; runs recorded, skipped (injector unavailable)
	// and ending in a failure status.
	Cells    int `json:"cells"`
	Recorded int `json:"recorded"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
	// Overhead is the share of the sweep's wall time spent outside
	// measured regions: setup, teardown, profiles, writing results.
	MeasuredSeconds float64 `json:"measured_seconds"`
	TotalSeconds    float64 `json:"total_seconds"`
	Overhead        float64 `json:"harness_overhead"`
	// OverheadSeconds says where the time outside measured runs went.
	OverheadSeconds Overhead `json:"overhead_seconds"`

	// How the measurements were taken: the collector's setting, the
	// measured time a repetition aims for, the interval target and the
	// repetition bounds of adaptive repetition, the steal bound, the CPU
	// profile's rate.
	GOGC      int     `json:"gogc"`
	Benchtime string  `json:"benchtime"`
	CI        float64 `json:"ci_target"`
	MinCount  int     `json:"min_count"`
	MaxCount  int     `json:"max_count"`
	MaxSteal  float64 `json:"max_steal"`
	ProfileHz int     `json:"profile_hz"`
	// Rounds is how many recorded rounds ran; StealRepeats how many
	// repetitions were discarded and run again because the hypervisor
	// stole more than MaxSteal of the CPU.
	Rounds       int `json:"rounds"`
	StealRepeats int `json:"steal_repeats"`
	// Planted names a regression planted on purpose (spillbench run
	// --plant): results from such a run measure the tools, not the code.
	Planted string `json:"planted,omitempty"`
	// EnvOverrides are the SPILLBENCH_* spill variables the sweep was
	// given and what each did (Spec.ApplyEnv).
	EnvOverrides []EnvOverride `json:"env_overrides,omitempty"`
	// Lockstep is the token of the interleaved run (spillbench ab or
	// calibrate) this sweep took turns in; its partner records the same
	// one, and compare pairs their repetitions.
	Lockstep string `json:"lockstep,omitempty"`
}

// Overhead is the time a sweep spent outside measured runs, by cause. The
// rest of the total (loading, writing results, the progress display) is
// in none of them.
type Overhead struct {
	Warmup        float64 `json:"warmup"`         // unrecorded warm-up runs
	GC            float64 `json:"gc"`             // collecting the heap before each repetition
	SetupTeardown float64 `json:"setup_teardown"` // injectors and spill directories
	BetweenRuns   float64 `json:"between_runs"`   // the engine's own setup and teardown around each run
	Profiles      float64 `json:"profiles"`       // stopping CPU profiles and writing heap profiles
	Limits        float64 `json:"limits"`         // the RawFS limit measured beside spilling cells
	// StealRetries is the runs of repetitions measured again because the
	// hypervisor stole more CPU than the spec allows (Env.StealRepeats).
	StealRetries float64 `json:"steal_retries,omitempty"`
	// TurnWait is the time an interleaved side waited for its turns
	// while the other side ran: not the sweep's overhead, and left out
	// of the total the overhead is a share of.
	TurnWait float64 `json:"turn_wait,omitempty"`
}

func collectEnv(spec *Spec, shard Shard) Env {
	e := Env{
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		Spec: spec.Name, Shard: shard.String(), Start: time.Now(),
		Module: "github.com/spillbench/spillbench", ModuleVersion: "(devel)",
	}
	e.Host, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		e.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	e.CPU = cpuModel()
	e.SpillFS = fsType(cmp.Or(spec.SpillDir, os.TempDir()))
	e.EnvOverrides = spec.Env
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path != "" {
			e.Module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			e.ModuleVersion = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				e.Commit = s.Value
			}
		}
	}
	if e.Commit == "" {
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			e.Commit = strings.TrimSpace(string(out))
		}
	}
	if e.Commit == "" {
		e.Commit = "unknown"
	}
	return e
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// fsType names the filesystem dir is on.
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	}
	return "0x" + strconv.FormatUint(uint64(st.Type), 16)
}
