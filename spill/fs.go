package spill

import (
	"errors"
	"os"
)

// FS is the filesystem seam: the only way the buffer touches a filesystem.
// Each method takes the [Site] making the call. Wrappers (fault injectors,
// tracers) take an FS and return one; [OS] is the real thing.
//
// Note: the seam has no Seek and no Sync. Records are written and read with
// positional I/O (pwrite/pread), one call per record, so there is no file
// position to restore after a failed partial write; and the spill file is
// scratch that must not outlive the process, so it is never fsynced.
type FS interface {
	// MkdirAll creates dir and any missing parents.
	MkdirAll(site Site, dir string, perm os.FileMode) error
	// CreateTemp creates a temp file for reading and writing in dir. If the
	// file could be created without a name (O_TMPFILE), name is empty;
	// otherwise name is its path and the caller removes it.
	CreateTemp(site Site, dir string) (f File, name string, err error)
	// Remove removes the named file.
	Remove(site Site, name string) error
}

// File is an open spill file.
type File interface {
	// WriteAt writes all of p at off, or returns an error saying why not;
	// n is the number of bytes written before the error.
	WriteAt(site Site, p []byte, off int64) (n int, err error)
	// ReadAt reads len(p) bytes at off, like io.ReaderAt.
	ReadAt(site Site, p []byte, off int64) (n int, err error)
	// Close releases the file.
	Close(site Site) error
}

// OS is the real operating-system filesystem. Its calls ignore the site.
var OS FS = osFS{}

type osFS struct {
	// noTmpfile skips O_TMPFILE, so tests can exercise the create-then-unlink
	// fallback on filesystems that support both.
	noTmpfile bool
}

func (osFS) MkdirAll(_ Site, dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (o osFS) CreateTemp(_ Site, dir string) (File, string, error) {
	if !o.noTmpfile {
		f, err := openAnonymous(dir)
		if err == nil {
			return osFile{f}, "", nil
		}
		if !errors.Is(err, errNoTmpfile) {
			return nil, "", err
		}
	}
	f, err := os.CreateTemp(dir, ".spillbench-*.spill")
	if err != nil {
		return nil, "", err
	}
	return osFile{f}, f.Name(), nil
}

func (osFS) Remove(_ Site, name string) error { return os.Remove(name) }

// OSFile adapts an open *os.File to File, for FS wrappers that open real
// files of their own.
func OSFile(f *os.File) File { return osFile{f} }

type osFile struct{ f *os.File }

func (o osFile) WriteAt(_ Site, p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) ReadAt(_ Site, p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) Close(Site) error                                 { return o.f.Close() }
