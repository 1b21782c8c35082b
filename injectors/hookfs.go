package injectors

import (
	"os"
	"path/filepath"

	"github.com/spillbench/spillbench/spill"
)

// checkFunc decides the fate of one seam call before it reaches the
// filesystem: nil to let it through, or the error to inject. For a write
// of n bytes, allow is how many of them still reach the file (a short or
// partial write); it is ignored for every other call.
type checkFunc func(kind OpKind, site spill.Site, path string, off int64, n int) (allow int, err error)

// hookFS is the seam wrapper the userspace mechanisms share: it asks
// check before every call and passes what check allows to inner.
type hookFS struct {
	check checkFunc
	inner spill.FS
}

func (f *hookFS) MkdirAll(site spill.Site, dir string, perm os.FileMode) error {
	if _, err := f.check(OpMkdir, site, dir, -1, 0); err != nil {
		return err
	}
	return f.inner.MkdirAll(site, dir, perm)
}

func (f *hookFS) CreateTemp(site spill.Site, dir string) (spill.File, string, error) {
	if _, err := f.check(OpCreate, site, dir, -1, 0); err != nil {
		return nil, "", err
	}
	file, name, err := f.inner.CreateTemp(site, dir)
	if err != nil {
		return nil, "", err
	}
	path := name
	if path == "" {
		path = filepath.Join(dir, AnonymousFile)
	}
	return &hookFile{check: f.check, inner: file, path: path}, name, nil
}

func (f *hookFS) Remove(site spill.Site, name string) error {
	if _, err := f.check(OpRemove, site, name, -1, 0); err != nil {
		return err
	}
	return f.inner.Remove(site, name)
}

// AnonymousFile stands for the name of a spill file made without one
// (O_TMPFILE) in the paths rules and observations see: <dir>/(anonymous).
const AnonymousFile = "(anonymous)"

type hookFile struct {
	check checkFunc
	inner spill.File
	path  string // the file's: what a rule's path predicate sees
}

func (f *hookFile) WriteAt(site spill.Site, p []byte, off int64) (int, error) {
	allow, err := f.check(OpWrite, site, f.path, off, len(p))
	if err == nil {
		return f.inner.WriteAt(site, p, off)
	}
	n := 0
	if allow > 0 {
		n, _ = f.inner.WriteAt(site, p[:min(allow, len(p))], off)
	}
	return n, err
}

func (f *hookFile) ReadAt(site spill.Site, p []byte, off int64) (int, error) {
	if _, err := f.check(OpRead, site, f.path, off, 0); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(site, p, off)
}

// Close always closes the file, then reports an injected error if any:
// the descriptor must not leak because a fault was armed.
func (f *hookFile) Close(site spill.Site) error {
	err := f.inner.Close(site)
	if _, ferr := f.check(OpClose, site, f.path, -1, 0); ferr != nil {
		return ferr
	}
	return err
}
