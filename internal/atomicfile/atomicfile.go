// Package atomicfile writes whole files or nothing: a reader of the path
// sees the old file or the new one, never a part of the new one, whatever
// happens to the writer (a full disk, SIGKILL, a power cut after the
// rename).
//
// A file is written to a temporary name beside it, synced, and renamed
// over the path; the directory is synced so the rename itself lasts. A
// failure removes the temporary file and leaves the path as it was.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every temporary file this package
// writes, after a dot: readers that list a directory can skip them.
const TempPrefix = ".atomic-"

// WriteFile writes data to path atomically, with permissions perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Write creates path atomically with the content fill writes to f. An
// error names path, not the temporary file.
func Write(path string, perm os.FileMode, fill func(f *os.File) error) error {
	if err := write(path, perm, fill); err != nil {
		return fmt.Errorf("writing %s (left as it was): %w", path, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the temporary file's name from an *os.PathError.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && IsTemp(filepath.Base(pe.Path)) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func write(path string, perm os.FileMode, fill func(f *os.File) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+base+".")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Filesystems that cannot sync a
// directory (EINVAL) are not an error: the rename is as durable as they
// make it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if err != nil && (errors.Is(err, os.ErrInvalid) || strings.Contains(err.Error(), "invalid argument")) {
		err = nil
	}
	return errors.Join(err, d.Close())
}

// IsTemp reports whether name (a base name) is a temporary file of this
// package, left behind by a writer killed before its rename.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// WriteFiles writes several files, each atomically, and all of them only
// if every one could be written in full: each goes to a temporary file
// first, and the renames follow once all are synced. A failure before the
// renames leaves every path as it was.
func WriteFiles(files map[string][]byte, perm os.FileMode) (err error) {
	type staged struct{ tmp, path string }
	var done []staged
	defer func() {
		if err != nil {
			for _, s := range done {
				os.Remove(s.tmp)
			}
		}
	}()
	dirs := map[string]bool{}
	for path, data := range files {
		dir, base := filepath.Split(path)
		if dir == "" {
			dir = "."
		}
		f, err := os.CreateTemp(dir, TempPrefix+base+".")
		if err != nil {
			return err
		}
		done = append(done, staged{f.Name(), path})
		_, werr := f.Write(data)
		if err := errors.Join(werr, f.Chmod(perm), f.Sync(), f.Close()); err != nil {
			return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
		}
		dirs[dir] = true
	}
	for i, s := range done {
		if err := os.Rename(s.tmp, s.path); err != nil {
			done = done[i:] // the renamed ones are in place
			return err
		}
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}
