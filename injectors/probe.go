package injectors

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrUnavailable wraps every reason a mechanism cannot run on this host.
var ErrUnavailable = errors.New("unavailable")

// probeRequirements checks reqs in order and returns the first unmet one
// as an error wrapping ErrUnavailable, with what to do about it.
func probeRequirements(reqs []Requirement) error {
	for _, r := range reqs {
		if err := probe(r); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUnavailable, r, err)
		}
	}
	return nil
}

func probe(r Requirement) error {
	switch r {
	case NeedLinux:
		if runtime.GOOS != "linux" {
			return fmt.Errorf("this is %s", runtime.GOOS)
		}
	case NeedRoot:
		if os.Geteuid() != 0 {
			return fmt.Errorf("running as uid %d; run as root", os.Geteuid())
		}
	case NeedMount:
		return canMount()
	case NeedFUSE:
		f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		f.Close()
	case NeedLoop:
		f, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		f.Close()
	case NeedMkfs:
		if _, err := exec.LookPath("mkfs.ext4"); err != nil {
			return fmt.Errorf("%v; install e2fsprogs", err)
		}
	case NeedTagged:
		if !failpointsBuilt {
			return errors.New("built without failpoints; build or test with -tags failpoint")
		}
	}
	return nil
}

// canMount tries a tiny tmpfs mount once per process: being root is not
// enough inside some containers.
var canMount = sync.OnceValue(func() error {
	dir, err := markedTempDir("", "inj-probe")
	if err != nil {
		return err
	}
	// The mount goes on a subdirectory: over the dir itself it would hide
	// the marker Cleanup needs if the process died before unmounting.
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		os.RemoveAll(dir)
		return err
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=4k"); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	if err := unmount(mnt); err != nil {
		return err
	}
	return os.RemoveAll(dir)
})
