// Package resultlock is the lock of a result directory: its one writer (a
// sweep, a survival run) holds an exclusive flock(2) on File while it
// writes, with its PID in it. The writer takes it (package bench); a
// reader (package reports) asks whether a writer is still at work.
package resultlock

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// File is the name of the lock in a result directory. The kernel releases
// the lock when the writer ends, however it ends; the file stays, with the
// PID of the last writer in it.
const File = ".lock"

// Holder reports whether dir's lock is held by a live process, and the
// PID the holder wrote into it (0 if it has not yet: it writes just after
// it takes the lock, so Holder waits up to a second for it).
func Holder(dir string) (pid int, held bool) {
	f, err := os.Open(filepath.Join(dir, File))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0, false
	}
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 && strings.HasSuffix(string(b[:n]), "\n") {
			return pid, true
		}
		if time.Now().After(deadline) {
			return 0, true
		}
	}
}
