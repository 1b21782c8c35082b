package injectors

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// attachLoop attaches image to a free loop device and returns its path
// and an open descriptor of it. The device is set to clear itself when its
// last user goes away, so a crash cannot leak it once mounted and
// unmounted; the caller must keep the descriptor open until the mount
// holds the device, or the device clears at once.
func attachLoop(image string) (string, *os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	defer ctl.Close()
	img, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	defer img.Close()
	// Another process may grab the free device between GET_FREE and
	// CONFIGURE; that shows as EBUSY, and we ask again.
	for range 8 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return "", nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:], image)
		err = unix.IoctlLoopConfigure(int(f.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return "", nil, fmt.Errorf("LOOP_CONFIGURE %s: %w", dev, err)
		}
		return dev, f, nil
	}
	return "", nil, errors.New("no free loop device after 8 tries")
}

// detachLoop detaches a loop device (a no-op if it is already free).
func detachLoop(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
	if errors.Is(err, unix.ENXIO) {
		return nil // not attached
	}
	return err
}

// loopDevicesBackedUnder lists the attached loop devices whose backing file
// lies under dir.
func loopDevicesBackedUnder(dir string) []string {
	var devs []string
	for _, b := range loopBackings() {
		if strings.HasPrefix(b.file, dir+"/") {
			devs = append(devs, b.dev)
		}
	}
	return devs
}

type loopBacking struct{ dev, file string }

// loopBackings lists attached loop devices and their backing files, from
// sysfs.
func loopBackings() []loopBacking {
	paths, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []loopBacking
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		name := filepath.Base(filepath.Dir(filepath.Dir(p)))
		out = append(out, loopBacking{dev: "/dev/" + name, file: strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")})
	}
	return out
}
