package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// documentedCommands returns the spillbench command lines the README's
// tour and this package's doc show.
func documentedCommands(t *testing.T) []string {
	t.Helper()
	var lines []string
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(readme), "\n") {
		if c, ok := strings.CutPrefix(l, "    spillbench "); ok {
			lines = append(lines, c)
		}
	}
	doc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(doc), "\n") {
		if c, ok := strings.CutPrefix(l, "//\tspillbench "); ok {
			lines = append(lines, c)
		}
	}
	if len(lines) < 10 {
		t.Fatalf("found %d documented commands; has the README's tour moved?", len(lines))
	}
	return lines
}

var flagName = regexp.MustCompile(`(?:^|[\s\[|])--?([a-z][a-z-]*)`)

// The commands the README and the package doc show exist, with the flags
// they show: the docs cannot rot unnoticed when a command or flag is
// renamed. (The cheap ones run for real in other tests; the sweeps would
// take minutes.)
func TestDocumentedCommandsExist(t *testing.T) {
	helps := map[string]string{}
	for _, line := range documentedCommands(t) {
		line, _, _ = strings.Cut(line, " #") // a comment
		fields := strings.Fields(line)
		cmd := []string{fields[0]}
		if fields[0] == "history" && len(fields) > 1 && !strings.HasPrefix(fields[1], "-") {
			for _, sub := range strings.Split(fields[1], "|") {
				if sub != "..." {
					checkFlags(t, helps, append(cmd, sub), line)
				}
			}
			continue
		}
		checkFlags(t, helps, cmd, line)
	}
}

// checkFlags runs cmd -h and checks that every flag line uses is in its
// usage.
func checkFlags(t *testing.T, helps map[string]string, cmd []string, line string) {
	t.Helper()
	key := strings.Join(cmd, " ")
	help, ok := helps[key]
	if !ok {
		code, out, errOut := run(append(cmd, "-h")...)
		if code != 0 {
			t.Errorf("spillbench %s -h: exit %d %s (documented: spillbench %s)", key, code, errOut, line)
			return
		}
		help = out + errOut
		helps[key] = help
	}
	for _, m := range flagName.FindAllStringSubmatch(line, -1) {
		if !regexp.MustCompile(`(?m)^  -` + m[1] + `(\s|$)`).MatchString(help) {
			t.Errorf("spillbench %s has no flag -%s (documented: spillbench %s)", key, m[1], line)
		}
	}
}
