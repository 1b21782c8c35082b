package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("read %q, want new", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
	fail := errors.New("the disk is full")
	err := Write(path, 0o644, func(f *os.File) error {
		f.WriteString("half")
		return fail
	})
	if !errors.Is(err, fail) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v; want it to wrap the fill's and name %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("a failed write changed the file to %q", b)
	}
	assertNoTemps(t, dir)
}

func TestWriteFilesAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := WriteFiles(map[string][]byte{a: []byte("a1"), b: []byte("b1")}, 0o644); err != nil {
		t.Fatal(err)
	}
	// One target cannot be written (its directory is missing): the
	// others keep their old content.
	err := WriteFiles(map[string][]byte{a: []byte("a2"), b: []byte("b2"), filepath.Join(dir, "missing", "c"): []byte("c")}, 0o644)
	if err == nil {
		t.Fatal("no error for a file in a missing directory")
	}
	for path, want := range map[string]string{a: "a1", b: "b1"} {
		if got, _ := os.ReadFile(path); string(got) != want {
			t.Errorf("%s is %q after a failed WriteFiles, want %q", path, got, want)
		}
	}
	assertNoTemps(t, dir)
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if IsTemp(e.Name()) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
