package spill

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

// DefaultThreshold is the byte budget of a Policy whose Threshold is zero.
const DefaultThreshold = 64 << 20

// DefaultIOBuffer is the staging space of a Policy whose IOBuffer is zero:
// records are combined into writes, and reloads read ahead, up to this
// many bytes, and never more than a sixteenth of the budget. The items
// keep the rest: at small budgets every byte given to staging is a byte
// the items lose, and more evictions cost more than combined writes save
// (at a 2 KiB budget, half of it for staging made the engine evict 11
// times as often and run 1.5 to 2.3 times slower). An explicit IOBuffer
// may take up to half.
const DefaultIOBuffer = 256 << 10

// Policy holds every knob of a spill buffer. The zero value is a working
// policy: 64 MiB budget, spooled backend, whole-batch records, no
// compression, reloaded items kept in memory, no RSS trigger.
//
// Precedence is explicit setting > environment > default: start from the
// defaults (the zero value), call ApplyEnv, then assign what the user set
// explicitly.
type Policy struct {
	// Threshold is the in-memory byte budget; zero means DefaultThreshold.
	Threshold int64
	// Dir is where the spill file goes. Empty means the spooled backend:
	// records stay in memory up to SpoolLimit bytes, then roll over to a
	// temp file in os.TempDir.
	Dir string
	// Granularity is how evicted items are grouped into records.
	Granularity Granularity
	// Compression is the record payload codec.
	Compression Compression
	// Reclaim is what happens to memory after a reload.
	Reclaim Reclaim
	// IOBuffer is the part of the budget kept for staging spill I/O:
	// records waiting to be written together and bytes read ahead for
	// the next reloads. Items are evicted to keep within the rest of the
	// budget, so what the buffer holds in all stays under Threshold. It is
	// at most half the threshold; zero means DefaultIOBuffer, at most a
	// sixteenth; a negative value turns staging off: every record is
	// written as it is made and read on its own, as the reference
	// implementation does.
	IOBuffer int64
	// RSSLimit, if positive, forces at least one item out on every insert
	// while the process's resident set size is above it, whatever the byte
	// budget says. RSS is read from /proc/self/statm at most every 100 ms.
	RSSLimit int64
	// InMemoryOnly forbids disk: exceeding the budget returns
	// ErrSpillDisabled instead of spilling.
	InMemoryOnly bool
	// FS is the filesystem seam; nil means OS.
	FS FS
	// Logger, if set, gets one warning the first time the buffer spills,
	// naming the directory and the budget, as the reference warns once
	// per transfer: spilling means the arrival order was adversarial or
	// the budget is undersized, which an operator should hear once, not
	// once per record. Nil logs nothing.
	Logger *slog.Logger
}

// String describes the policy's knobs in the key=value form benchmark
// names use.
func (p Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "threshold=%s gran=%s comp=%s reclaim=%s",
		FormatSize(p.threshold()), p.Granularity, p.Compression, p.Reclaim)
	if p.Dir != "" {
		fmt.Fprintf(&b, " dir=%s", p.Dir)
	}
	if p.IOBuffer != 0 {
		fmt.Fprintf(&b, " io-buffer=%s", FormatSize(p.ioBuffer()))
	}
	if p.RSSLimit > 0 {
		fmt.Fprintf(&b, " rss-limit=%s", FormatSize(p.RSSLimit))
	}
	if p.InMemoryOnly {
		b.WriteString(" in-memory-only")
	}
	return b.String()
}

func (p Policy) threshold() int64 {
	if p.Threshold == 0 {
		return DefaultThreshold
	}
	return p.Threshold
}

// ioBuffer is the staging space the policy allows: none in memory-only
// mode, where nothing is written.
func (p Policy) ioBuffer() int64 {
	switch {
	case p.IOBuffer < 0 || p.InMemoryOnly:
		return 0
	case p.IOBuffer == 0:
		return min(DefaultIOBuffer, p.threshold()/16)
	}
	return min(p.IOBuffer, p.threshold()/2)
}

func (p Policy) fs() FS {
	if p.FS == nil {
		return OS
	}
	return p.FS
}

// Validate reports the first knob that is out of range.
func (p Policy) Validate() error {
	switch {
	case p.Threshold < 0:
		return fmt.Errorf("spill threshold %d is negative; use a positive byte count, or 0 for the %s default", p.Threshold, FormatSize(DefaultThreshold))
	case p.RSSLimit < 0:
		return fmt.Errorf("RSS limit %d is negative; use a positive byte count, or 0 for none", p.RSSLimit)
	case p.Granularity > PerItem:
		return fmt.Errorf("unknown spill granularity %d", p.Granularity)
	case p.Reclaim > RespillAfterRead:
		return fmt.Errorf("unknown reclaim mode %d", p.Reclaim)
	}
	return p.Compression.validate()
}

// Granularity is how the items of one eviction are written.
type Granularity uint8

const (
	// Batch writes every evictable item (all but the hot zone) in one
	// record per eviction, paying the record header and the write call once.
	Batch Granularity = iota
	// PerItem writes one record per item and stops as soon as memory is
	// back under budget; a reload decodes just that item.
	PerItem
)

func (g Granularity) String() string {
	switch g {
	case Batch:
		return "batch"
	case PerItem:
		return "item"
	}
	return fmt.Sprintf("granularity(%d)", g)
}

// ParseGranularity reads "batch" or "item".
func ParseGranularity(s string) (Granularity, error) {
	switch s {
	case "batch":
		return Batch, nil
	case "item":
		return PerItem, nil
	}
	return 0, fmt.Errorf("granularity %q not recognised; use batch or item", s)
}

// Reclaim is what the buffer does after reloading a record.
type Reclaim uint8

const (
	// Keep leaves reloaded items in memory until they are delivered, even
	// when that puts memory over budget until the next insert.
	Keep Reclaim = iota
	// RespillAfterRead evicts again right after a reload while memory is
	// over budget, so memory stays bounded under heavy reload traffic at
	// the cost of more disk writes.
	RespillAfterRead
)

func (r Reclaim) String() string {
	switch r {
	case Keep:
		return "keep"
	case RespillAfterRead:
		return "respill"
	}
	return fmt.Sprintf("reclaim(%d)", r)
}

// ParseReclaim reads "keep" or "respill".
func ParseReclaim(s string) (Reclaim, error) {
	switch s {
	case "keep":
		return Keep, nil
	case "respill":
		return RespillAfterRead, nil
	}
	return 0, fmt.Errorf("reclaim %q not recognised; use keep or respill", s)
}

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

// ParseSize reads a byte count with an optional binary suffix: K, M, G or T
// (powers of 1024), optionally followed by "iB" or "B", in any case, so
// "64K", "64KiB" and "64kb" are all 65536. A bare "B" suffix is allowed.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "" {
		return 0, errors.New("empty size")
	}
	var shift uint
	unit := false
	for _, u := range sizeUnits {
		for _, form := range []string{u.suffix + "IB", u.suffix + "B", u.suffix} {
			if rest, ok := strings.CutSuffix(t, form); ok {
				t, shift, unit = rest, u.shift, true
				break
			}
		}
		if unit {
			break
		}
	}
	if !unit {
		t = strings.TrimSuffix(t, "B")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q is not a whole number of bytes with an optional K, M, G or T suffix", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << shift, nil
}

// FormatSize writes n in the largest binary unit that divides it exactly,
// "64KiB" for 65536 and "1000B" for 1000; ParseSize reads it back.
func FormatSize(n int64) string {
	if n != 0 {
		for _, u := range sizeUnits {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + u.suffix + "iB"
			}
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
