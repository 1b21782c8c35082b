package main

import (
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// asCommandEnv makes the test binary spillbench itself: calibrate and ab
// run their sweeps in processes of os.Executable(), which in these tests
// is this binary. TestMain sets it for the processes the tests start.
const asCommandEnv = "SPILLBENCH_TEST_AS_COMMAND"

// The commands run in-process in these tests: none may leave a goroutine
// behind (the hard signal handler, if left armed, is one).
func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) != "" {
		os.Exit(spillbench(os.Stdout, os.Stderr, os.Args[1:]))
	}
	os.Setenv(asCommandEnv, "1")
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { shared.remove() }))
}

func TestInterruptibleReleasesItsHandlers(t *testing.T) {
	t.Run("finished", func(t *testing.T) {
		ctx, stop := interruptible()
		stop()
		if ctx.Err() == nil {
			t.Fatal("stop left the context live")
		}
		goleak.VerifyNone(t)
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, stop := interruptible()
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("SIGINT did not cancel the context")
		}
		stop()
		goleak.VerifyNone(t)
	})
}
