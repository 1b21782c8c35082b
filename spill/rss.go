package spill

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// rssTTL is how long a resident-set-size reading is reused. Reading
// /proc/self/statm costs an open, a read and a close; an insert-heavy
// pipeline must not pay that per item.
const rssTTL = 100 * time.Millisecond

// rssCache serves the process RSS, refreshed at most once per ttl.
type rssCache struct {
	ttl  time.Duration
	now  func() time.Time
	read func() (int64, error)

	mu    sync.Mutex
	at    time.Time
	bytes int64
	err   error
}

func (c *rssCache) get() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= c.ttl {
		c.bytes, c.err = c.read()
		c.at = now
	}
	return c.bytes, c.err
}

// processRSS is the cache every buffer shares: RSS is a property of the
// process, not of one buffer.
var processRSS = &rssCache{ttl: rssTTL, now: time.Now, read: readStatm}

// readStatm returns the resident set size from /proc/self/statm, whose
// second field counts resident pages.
func readStatm() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	return parseStatm(b, os.Getpagesize())
}

func parseStatm(b []byte, pageSize int) (int64, error) {
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: %d fields, want at least 2", len(fields))
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil || pages < 0 {
		return 0, fmt.Errorf("/proc/self/statm: resident field %q is not a page count", fields[1])
	}
	return pages * int64(pageSize), nil
}
