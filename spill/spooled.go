package spill

import "bytes"

// SpoolLimit is how many bytes the spooled backend (Policy.Dir empty) keeps
// in memory before it rolls over to a temp file.
const SpoolLimit = 1 << 20

// spooled is the backend of a policy without a directory: spill bytes live
// in a slice until the file would pass SpoolLimit, then move to an
// anonymous temp file in dir. Transient pressure never touches the disk.
type spooled struct {
	fs   FS
	dir  string
	mem  []byte
	file File // set once rolled over
}

func (s *spooled) WriteAt(site Site, p []byte, off int64) (int, error) {
	if s.file == nil {
		end := off + int64(len(p))
		if end <= SpoolLimit {
			if end > int64(len(s.mem)) {
				s.mem = append(s.mem, make([]byte, end-int64(len(s.mem)))...)
			}
			return copy(s.mem[off:], p), nil
		}
		if err := s.rollover(); err != nil {
			return 0, err
		}
	}
	return s.file.WriteAt(site, p, off)
}

// rollover moves the spooled bytes to a new temp file. On failure the bytes
// stay in memory, so nothing committed is lost.
func (s *spooled) rollover() error {
	f, err := createAnonymous(s.fs, SiteBackendRollover, s.dir)
	if err != nil {
		return err
	}
	if len(s.mem) > 0 {
		if _, err := f.WriteAt(SiteBackendRollover, s.mem, 0); err != nil {
			_ = f.Close(SiteBackendClose) // the write error is the one to report
			return &IOError{Site: SiteBackendRollover, Path: s.dir, Offset: 0, Err: err}
		}
	}
	s.file, s.mem = f, nil
	return nil
}

func (s *spooled) ReadAt(site Site, p []byte, off int64) (int, error) {
	if s.file != nil {
		return s.file.ReadAt(site, p, off)
	}
	return bytes.NewReader(s.mem).ReadAt(p, off)
}

func (s *spooled) Close(site Site) error {
	s.mem = nil
	if s.file == nil {
		return nil
	}
	f := s.file
	s.file = nil
	return f.Close(site)
}

// createAnonymous creates a spill file in dir that has no name: unnamed from
// the start where the filesystem allows, otherwise created and unlinked
// straight away. A name that is already gone is fine; any other unlink
// failure closes the file, since a named spill file would outlive a crash.
func createAnonymous(fs FS, site Site, dir string) (File, error) {
	f, name, err := fs.CreateTemp(site, dir)
	if err != nil {
		return nil, &IOError{Site: site, Path: dir, Offset: -1, Err: err}
	}
	if name == "" {
		return f, nil
	}
	if err := fs.Remove(SiteBackendUnlink, name); err != nil && !isVanished(err) {
		_ = f.Close(SiteBackendClose) // the unlink error is the one to report
		return nil, &IOError{Site: SiteBackendUnlink, Path: name, Offset: -1, Err: err}
	}
	return f, nil
}
