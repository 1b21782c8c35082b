package bench

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/injectors"
)

// spillWatch follows what an external target does in its spill
// directory, through inotify: the files it creates, writes, reads and
// removes. From the sizes it sees (a stat at every event) it keeps the
// peak of bytes held in the directory and the bytes written to it (each
// file's largest size, summed: right for files written once from the
// start, as spill runs are; a file truncated and rewritten counts once).
// It hands every event to the cell's injector (injectors.ObserveExternal)
// and, for a capped filesystem, notes when the target filled it.
//
// Only files directly in the directory are followed.
type spillWatch struct {
	dir   string
	inj   injectors.Injector // nil without a fault
	capFS bool               // statfs after events: did the target fill the filesystem?
	f     *os.File
	done  chan struct{}

	mu       sync.Mutex
	sizes    map[string]int64 // current size of each file present
	maxSize  map[string]int64 // largest size seen of each file present
	held     int64            // sum of sizes
	peak     int64
	written  int64 // max sizes of the files removed so far
	files    int   // files created
	full     bool  // the filesystem had no free block or inode left
	overflow bool
}

// watchSpill starts following dir. The watcher must be stopped.
func watchSpill(dir string, inj injectors.Injector, capFS bool) (*spillWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	mask := uint32(unix.IN_CREATE | unix.IN_MODIFY | unix.IN_ACCESS | unix.IN_CLOSE_WRITE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO)
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, err
	}
	w := &spillWatch{dir: dir, inj: inj, capFS: capFS, f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{}),
		sizes: map[string]int64{}, maxSize: map[string]int64{}}
	go w.loop()
	return w, nil
}

func (w *spillWatch) loop() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed, or past the deadline stop set
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			name := string(nameBytes)
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			w.event(ev.Mask, name)
		}
	}
}

// event accounts one inotify event.
func (w *spillWatch) event(mask uint32, name string) {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		w.mu.Lock()
		w.overflow = true
		w.mu.Unlock()
		return
	}
	if name == "" || mask&unix.IN_ISDIR != 0 {
		return
	}
	path := filepath.Join(w.dir, name)
	switch {
	case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
		w.mu.Lock()
		w.held -= w.sizes[path]
		w.written += w.maxSize[path]
		delete(w.sizes, path)
		delete(w.maxSize, path)
		w.mu.Unlock()
		return
	case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		w.mu.Lock()
		w.files++
		w.mu.Unlock()
		w.observe(injectors.SpillEvent{Op: injectors.SpillCreate, Path: path})
	case mask&unix.IN_MODIFY != 0:
		w.observe(injectors.SpillEvent{Op: injectors.SpillWrite, Path: path})
	case mask&unix.IN_ACCESS != 0:
		w.observe(injectors.SpillEvent{Op: injectors.SpillRead, Path: path})
		return // a read changes no size
	}
	w.stat(path)
}

func (w *spillWatch) observe(ev injectors.SpillEvent) {
	if w.inj != nil {
		injectors.ObserveExternal(w.inj, ev)
	}
}

// stat updates the size of path, and checks the filesystem is not full.
func (w *spillWatch) stat(path string) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		w.mu.Lock()
		w.held += st.Size - w.sizes[path]
		w.sizes[path] = st.Size
		w.maxSize[path] = max(w.maxSize[path], st.Size)
		w.peak = max(w.peak, w.held)
		w.mu.Unlock()
	}
	if w.capFS {
		var fs unix.Statfs_t
		if err := unix.Statfs(w.dir, &fs); err == nil && (fs.Bavail == 0 || fs.Files > 0 && fs.Ffree == 0) {
			w.mu.Lock()
			w.full = true
			w.mu.Unlock()
		}
	}
}

// spillStats is what a watch saw.
type spillStats struct {
	Peak, Written int64
	Files         int
	Full          bool // the target filled a capped filesystem
	Overflow      bool // inotify dropped events: the figures are low
}

// stop reads the events still queued, sizes what is left in the
// directory, and closes the watch.
func (w *spillWatch) stop() spillStats {
	_ = w.f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	<-w.done
	err := w.f.Close()
	if ents, derr := os.ReadDir(w.dir); derr == nil {
		for _, e := range ents {
			w.stat(filepath.Join(w.dir, e.Name()))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	written := w.written
	for _, n := range w.maxSize {
		written += n
	}
	return spillStats{Peak: w.peak, Written: written, Files: w.files, Full: w.full,
		Overflow: w.overflow || err != nil && !errors.Is(err, os.ErrClosed)}
}
