package spill

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// errNoTmpfile says the filesystem cannot create unnamed files.
var errNoTmpfile = errors.New("O_TMPFILE not supported")

// openAnonymous creates an unnamed file in dir with O_TMPFILE: it never
// appears in the directory and disappears when closed, even if the process
// dies. Filesystems without support answer EOPNOTSUPP, or EISDIR/EINVAL on
// kernels that predate the flag; those become errNoTmpfile.
func openAnonymous(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return f, nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return nil, errNoTmpfile
	}
	return nil, err
}
