package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/internal/resultlock"
)

// LockFile is the name of a result directory's lock: one sweep writes a
// directory, and holds an exclusive flock(2) on this file while it does.
// The kernel releases the lock when the process ends, however it ends;
// the file stays, with the PID of the last writer in it.
const LockFile = resultlock.File

// lockHolder reports whether dir's lock is held by a live process, and
// the PID it wrote into the lock (0 if not yet).
func lockHolder(dir string) (int, bool) { return resultlock.Holder(dir) }

// OutError says the result directory cannot be used: it is held by
// another sweep, holds files already, or cannot be created. It is the
// caller's input that is wrong (exit status 2 on the command line).
type OutError struct {
	Dir string
	// PID is the process holding the directory's lock, 0 if none does.
	PID int
	Err error
}

func (e *OutError) Error() string {
	switch {
	case e.PID > 0:
		return fmt.Sprintf("result directory %s is being written by another spillbench (PID %d holds %s); wait for it or give another --out", e.Dir, e.PID, filepath.Join(e.Dir, LockFile))
	case e.Err == errLocked:
		return fmt.Sprintf("result directory %s is being written by another spillbench (its lock %s is held); wait for it or give another --out", e.Dir, filepath.Join(e.Dir, LockFile))
	case e.Err == errNotEmpty:
		return fmt.Sprintf("result directory %s is not empty; give a new --out directory", e.Dir)
	}
	return fmt.Sprintf("result directory %s cannot be used: %v; give a writable --out directory", e.Dir, e.Err)
}

func (e *OutError) Unwrap() error { return e.Err }

var (
	errLocked   = errors.New("locked by another process")
	errNotEmpty = errors.New("not empty")
)

// dirLock is a held lock on a result directory.
type dirLock struct {
	f *os.File
	// created: the directory did not exist before; an aborted start
	// removes it again.
	created bool
}

// lockResultDir takes dir for one writer: it creates dir if needed,
// takes the exclusive lock, writes its PID into the lock file, and checks
// that nothing else is in dir. A directory with files and no lock file
// is refused without writing to it.
func lockResultDir(dir string) (*dirLock, error) {
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, os.ErrNotExist)
	if ents, err := os.ReadDir(dir); err == nil && !onlyLock(ents) {
		// Do not add a lock file to a directory that is not ours; but if
		// a sweep holds it, say which.
		if pid, held := lockHolder(dir); held {
			return nil, &OutError{Dir: dir, PID: pid, Err: errLocked}
		}
		return nil, &OutError{Dir: dir, Err: errNotEmpty}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &OutError{Dir: dir, Err: err}
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return nil, &OutError{Dir: dir, Err: err}
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := lockHolder(dir)
			return nil, &OutError{Dir: dir, PID: pid, Err: errLocked}
		}
		return nil, &OutError{Dir: dir, Err: err}
	}
	l := &dirLock{f: f, created: created}
	if ents, err := os.ReadDir(dir); err != nil || !onlyLock(ents) {
		// Another sweep came and went between the check and the lock.
		l.release()
		if err == nil {
			err = errNotEmpty
		}
		return nil, &OutError{Dir: dir, Err: err}
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		// A full disk: leave the directory as it was found.
		os.Remove(filepath.Join(dir, LockFile))
		l.release()
		if created {
			os.Remove(dir)
		}
		return nil, &OutError{Dir: dir, Err: err}
	}
	return l, nil
}

// onlyLock reports whether a directory's entries are at most its lock file.
func onlyLock(ents []os.DirEntry) bool {
	return len(ents) == 0 || (len(ents) == 1 && ents[0].Name() == LockFile)
}

// release lets the directory go; the lock file stays.
func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
	return err
}
