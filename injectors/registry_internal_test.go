package injectors

import (
	"errors"
	"os"
	"testing"
	"time"
)

// A release in progress elsewhere is waited for: a signal handler that
// drains the registry must not exit while an unmount it did not start is
// still running, and the failure is reported once, by whoever ran it.
func TestReleaseAllWaitsForReleasesInProgress(t *testing.T) {
	var r Registry
	started, unblock := make(chan struct{}), make(chan struct{})
	slow := r.Add("mount", "slow", func() error {
		close(started)
		<-unblock
		return errors.New("busy")
	})
	fast := 0
	r.Add("dir", "fast", func() error { fast++; return nil })

	first := make(chan error, 1)
	go func() { first <- slow.Release() }()
	<-started
	all := make(chan error, 1)
	go func() { all <- r.ReleaseAll() }()
	select {
	case err := <-all:
		t.Fatalf("ReleaseAll returned (%v) while a release was still running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(unblock)
	if err := <-first; err == nil {
		t.Fatal("the release that ran did not report its failure")
	}
	if err := <-all; err != nil {
		t.Fatalf("ReleaseAll reported %v, which the first caller already had", err)
	}
	if fast != 1 || len(r.Held()) != 0 {
		t.Fatalf("fast released %d times, still held %v", fast, r.Held())
	}
}

func TestSigkillPending(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"Name:\tx\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000100\n", true}, // SIGKILL is signal 9, bit 8
		{"SigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n", true},
		{"SigPnd:\t0000000000000002\nShdPnd:\t0000000000004000\n", false}, // SIGINT, SIGTERM
		{"SigPnd:\tzz\n", false},
		{"", false},
	} {
		if got := sigkillPending([]byte(tc.status)); got != tc.want {
			t.Errorf("sigkillPending(%q) = %v, want %v", tc.status, got, tc.want)
		}
	}
	if killPending(os.Getpid()) || !processAlive(os.Getpid()) {
		t.Fatal("this process has no SIGKILL pending and is alive")
	}
}
