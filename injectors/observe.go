package injectors

import (
	"os"
	"sync"

	"github.com/spillbench/spillbench/spill"
)

// observer wraps the spill FS without changing anything and logs every
// call that fails: for kernel mechanisms it is how the errno, site and
// offset a fault produced at the seam get recorded.
type observer struct {
	log   *Log
	mode  func() Mode
	inner spill.FS

	mu    sync.Mutex
	calls int
}

func (o *observer) note(kind OpKind, site spill.Site, path string, off int64, err error) error {
	o.mu.Lock()
	o.calls++
	call := o.calls
	o.mu.Unlock()
	if err != nil {
		o.log.Add(Observation{Mode: o.mode(), Errno: errnoName(err), Site: site, Op: string(kind),
			Path: path, Offset: off, Call: call, Note: err.Error()})
	}
	return err
}

func (o *observer) MkdirAll(site spill.Site, dir string, perm os.FileMode) error {
	return o.note(OpMkdir, site, dir, -1, o.inner.MkdirAll(site, dir, perm))
}

func (o *observer) CreateTemp(site spill.Site, dir string) (spill.File, string, error) {
	f, name, err := o.inner.CreateTemp(site, dir)
	if o.note(OpCreate, site, dir, -1, err) != nil {
		return nil, "", err
	}
	return &observedFile{o: o, inner: f, path: dir}, name, nil
}

func (o *observer) Remove(site spill.Site, name string) error {
	return o.note(OpRemove, site, name, -1, o.inner.Remove(site, name))
}

type observedFile struct {
	o     *observer
	inner spill.File
	path  string
}

func (f *observedFile) WriteAt(site spill.Site, p []byte, off int64) (int, error) {
	n, err := f.inner.WriteAt(site, p, off)
	return n, f.o.note(OpWrite, site, f.path, off+int64(n), err)
}

func (f *observedFile) ReadAt(site spill.Site, p []byte, off int64) (int, error) {
	n, err := f.inner.ReadAt(site, p, off)
	return n, f.o.note(OpRead, site, f.path, off+int64(n), err)
}

func (f *observedFile) Close(site spill.Site) error {
	return f.o.note(OpClose, site, f.path, -1, f.inner.Close(site))
}
