package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports a sweep's progress: a bar with the cell, ETA and
// failures on a terminal, a plain line every few seconds elsewhere, and
// nothing without a writer.
type progress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	total    int
	done     int
	failures int
	start    time.Time
	last     time.Time
}

// lineEvery is how often a non-terminal progress line is printed.
const lineEvery = 5 * time.Second

func newProgress(w io.Writer, terminal bool, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now(), last: time.Now()}
	if w != nil && terminal {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("spillbench"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) failed() { p.failures++ }

// more adds n runs to the expected total: adaptive repetition decides as
// it goes.
func (p *progress) more(n int) {
	p.total += n
	if p.bar != nil {
		p.bar.ChangeMax(p.total)
	}
}

// step counts one finished run of cell.
func (p *progress) step(cell string) {
	p.done++
	switch {
	case p.w == nil:
	case p.bar != nil:
		p.bar.Describe(fmt.Sprintf("%s (%d failed)", cell, p.failures))
		p.bar.Add(1)
	case time.Since(p.last) >= lineEvery || p.done == p.total:
		p.last = time.Now()
		eta := time.Duration(float64(time.Since(p.start)) / float64(p.done) * float64(p.total-p.done)).Round(time.Second)
		fmt.Fprintf(p.w, "spillbench: %d/%d runs, %d failed, eta %v, at %s\n", p.done, p.total, p.failures, eta, cell)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
