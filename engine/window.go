package engine

import "time"

// window keeps the reorder window's diagnostics as the reference's
// reorder buffer keeps them: the most results it held at once, how long
// it held results without the one due next (a stall: something ahead of
// the cursor waits on a straggler), and how often back-pressure forced an
// insert past the window's capacity.
type window struct {
	peak    int
	stalled time.Duration
	since   time.Time // when the current stall began; zero outside one
	forced  int64
}

// held notes how many results the window holds after an insert.
func (w *window) held(n int) { w.peak = max(w.peak, n) }

// settled notes the window after a drain: it holds n results and none of
// them is due, so n > 0 is a stall. The clock is read only when a stall
// begins or ends, not per result.
func (w *window) settled(n int) {
	switch {
	case n > 0 && w.since.IsZero():
		w.since = time.Now()
	case n == 0 && !w.since.IsZero():
		w.stalled += time.Since(w.since)
		w.since = time.Time{}
	}
}

// finish closes a stall still open when the run stops.
func (w *window) finish() { w.settled(0) }
