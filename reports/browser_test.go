package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser test loads the HTML report in headless Chromium, as a
// reader would see it, and checks what a Go test of the bytes cannot: that
// the page fits a 1280 px window, that every plot is drawn, that the
// page logs no errors and that every link leads somewhere.

// viewportWidth is the window the report must fit: a laptop's.
const viewportWidth, viewportHeight = 1280, 800

// What checkPage finds, to match with errors.Is.
var (
	errOverflow = errors.New("page is wider than the window")
	errPlot     = errors.New("plot not drawn")
	errConsole  = errors.New("console error")
	errLink     = errors.New("broken link")
)

// TestBrowserRendersReport checks the HTML report of testdata/quick in
// Chromium and leaves a full-page screenshot of it for a human: in
// $SPILLBENCH_SCREENSHOT_DIR if set, else in the test's temporary directory.
func TestBrowserRendersReport(t *testing.T) {
	browser := startBrowser(t)
	out := t.TempDir()
	if _, err := Generate(loadQuick(t), Options{Out: out, Formats: []Format{HTML}, Command: "spillbench report testdata/quick"}); err != nil {
		t.Fatal(err)
	}
	p := openPage(t, browser, filepath.Join(out, "report.html"))
	m, err := checkPage(p)
	t.Logf("report.html: width %d px in a %d px window; %d plots; %d links; %d tables scroll in their box",
		m.ScrollWidth, m.ClientWidth, len(m.Plots), len(m.Links), m.ScrolledTables)
	if err != nil {
		t.Error(err)
	}
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("SPILLBENCH_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report-1280.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserCatchesPlantedDefects proves each check can fail: pages with
// a planted defect must be reported, and only with the defect planted.
func TestBrowserCatchesPlantedDefects(t *testing.T) {
	browser := startBrowser(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// A table with a 3000 px unbreakable cell, through the document model:
	// the page must scroll the table inside its box and still fit; without
	// the stylesheet the same table must widen the page.
	var d doc
	d.h(1, "Wide")
	d.t([]string{"cell", "note"}, [][]string{{strings.Repeat("x", 400), "the cell above cannot break"}})
	d.t([]string{"cell"}, [][]string{{"`" + strings.Repeat("Engine/wl=hol/spill=file/", 20) + "`"}})
	d.list([]string{"a list item"})
	page := d.html()
	unstyled := regexp.MustCompile(`(?s)<style>.*?</style>`).ReplaceAll(page, nil)
	if len(unstyled) == len(page) {
		t.Fatal("the page has no <style> element to remove")
	}

	broken := []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>
<p><a href="#nowhere">anchor</a> <a href="#here">anchor</a> <a href="missing.html">file</a> <a href="wide.html">file</a>
<a href="http://">http</a> <a href="https://example.org/x">http</a></p>
<p id="here"><svg width="0" height="0"></svg> <img src="missing.png" alt="missing"></p>
<script>console.error("planted console error")</script>
<script>throw new Error("planted exception")</script>
</body></html>`)

	for _, c := range []struct {
		file string
		page []byte
		want []error // none: the page must pass
		text []string
	}{
		{file: "wide.html", page: page},
		{file: "unstyled.html", page: unstyled, want: []error{errOverflow}, text: []string{"table"}},
		{file: "broken.html", page: broken, want: []error{errPlot, errConsole, errLink},
			text: []string{"planted console error", "planted exception", `"#nowhere"`, `"missing.html"`, `"http://"`, "svg", "missing.png"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			_, err := checkPage(openPage(t, browser, write(c.file, c.page)))
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("a clean page was reported: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the planted defects were not reported")
			}
			t.Logf("reported, as it must be:\n%v", err)
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("not reported: %v", w)
				}
			}
			for _, s := range c.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the report does not name %q", s)
				}
			}
			for _, ok := range []string{`"#here"`, `"wide.html"`, "example.org"} {
				if strings.Contains(err.Error(), ok) {
					t.Errorf("a good link was reported: %s", ok)
				}
			}
		})
	}
}

// startBrowser starts headless Chromium for the test and stops it, and
// every process it started, when the test ends. Without Chromium it skips,
// except on CI, where .ci/run installs it.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	var exe string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium on PATH; .ci/run installs Debian's chromium package")
		}
		t.Skip("no chromium or chromium-browser on PATH (apt-get install chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.UserDataDir(profile),
		// Chromium keeps its crash database in its config directory, not
		// the profile: keep that in the test's temporary directory too.
		chromedp.Env("XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, _ := chromedp.NewContext(alloc)
	// Cleanups run last-in first-out: close the browser, then the
	// allocator (which waits for the process), then the deadline, then
	// look for any of its processes left behind.
	t.Cleanup(func() {
		var left []string
		for range 50 {
			if left = processesNaming(profile); len(left) == 0 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("chromium processes outlived the test: %s", strings.Join(left, "; "))
	})
	t.Cleanup(cancel)
	t.Cleanup(cancelAlloc)
	t.Cleanup(func() {
		if err := chromedp.Cancel(browser); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("closing chromium: %v", err)
		}
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return browser
}

// processesNaming lists the processes whose command line names dir, as
// every process of a browser names its profile directory (Linux only:
// elsewhere it finds none).
func processesNaming(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var ps []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(dir)) {
			exe, _, _ := bytes.Cut(cmd, []byte{0})
			ps = append(ps, e.Name()+" "+string(exe))
		}
	}
	return ps
}

// page is a file loaded in a tab of the test's browser, with the errors
// the page logged while it loaded.
type page struct {
	ctx  context.Context
	file string

	mu      sync.Mutex
	console []string
}

// openPage loads file in a new tab of browser, at the window's width,
// and closes the tab when the test ends.
func openPage(t *testing.T, browser context.Context, file string) *page {
	t.Helper()
	p := &page{file: file}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(p.listen))
	t.Cleanup(cancel)
	p.ctx = ctx
	u := url.URL{Scheme: "file", Path: file}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(viewportWidth, viewportHeight),
		chromedp.Navigate(u.String()),
	); err != nil {
		t.Fatalf("loading %s: %v", file, err)
	}
	return p
}

// listen records errors. It runs in the tab's event loop, so it only
// appends.
func (p *page) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		msg = "console.error: " + strings.Join(args, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "exception: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.console = append(p.console, msg)
}

// measures is what the page reports of itself.
type measures struct {
	ScrollWidth int `json:"scrollWidth"`
	ClientWidth int `json:"clientWidth"`
	// Wide: the elements that stick out of the window while their
	// parent does not, the culprits of an overflow.
	Wide  []string `json:"wide"`
	Plots []struct {
		What   string  `json:"what"`
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
		Loaded bool    `json:"loaded"`
	} `json:"plots"`
	Links          []string `json:"links"`
	IDs            []string `json:"ids"`
	ScrolledTables int      `json:"scrolledTables"`
}

const measureJS = `(() => {
	const de = document.documentElement, cw = de.clientWidth;
	const name = el => {
		let s = el.tagName.toLowerCase();
		if (el.className && typeof el.className === "string") s += "." + el.className;
		const text = (el.textContent || "").trim().replace(/\s+/g, " ");
		return s + (text ? " " + JSON.stringify(text.slice(0, 60)) : "");
	};
	const wide = [];
	if (de.scrollWidth > cw) {
		for (const el of document.body.querySelectorAll("*")) {
			const parent = el.parentElement;
			if (el.getBoundingClientRect().right > cw && parent.getBoundingClientRect().right <= cw) {
				wide.push(name(el) + " reaches " + Math.round(el.getBoundingClientRect().right) + " px");
			}
		}
	}
	const plots = [];
	for (const el of document.querySelectorAll("img, svg")) {
		if (el.parentElement.closest("svg")) continue;
		const r = el.getBoundingClientRect();
		const fig = el.closest("figure");
		const cap = fig && fig.querySelector("figcaption");
		plots.push({
			what: el.tagName.toLowerCase() + " " + (cap ? cap.textContent : el.getAttribute("src") || el.getAttribute("alt") || "(no caption)"),
			width: r.width, height: r.height,
			loaded: el.tagName.toLowerCase() !== "img" || (el.complete && el.naturalWidth > 0),
		});
	}
	let scrolled = 0;
	for (const t of document.querySelectorAll("table")) {
		if (t.parentElement.scrollWidth > t.parentElement.clientWidth) scrolled++;
	}
	return {
		scrollWidth: de.scrollWidth, clientWidth: cw, wide: wide.slice(0, 10), plots: plots,
		links: [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")),
		ids: [...document.querySelectorAll("[id], a[name]")].map(e => e.id || e.getAttribute("name")),
		scrolledTables: scrolled,
	};
})()`

// checkPage checks a loaded page: it fits the window, every plot has a
// rendered size, it logged no errors, and every link resolves. It returns
// what it measured and every problem it found.
func checkPage(p *page) (measures, error) {
	m, err := chromedp.Run(p.ctx, chromedp.Evaluate[measures](measureJS))
	if err != nil {
		return m, err
	}
	var errs []error
	if m.ScrollWidth > m.ClientWidth || m.ClientWidth > viewportWidth {
		errs = append(errs, fmt.Errorf("%w: %d px in a %d px window; sticking out: %s", errOverflow, m.ScrollWidth, m.ClientWidth, strings.Join(m.Wide, "; ")))
	}
	for _, pl := range m.Plots {
		if pl.Width <= 0 || pl.Height <= 0 || !pl.Loaded {
			errs = append(errs, fmt.Errorf("%w: %s is %.0fx%.0f px (loaded: %t)", errPlot, pl.What, pl.Width, pl.Height, pl.Loaded))
		}
	}
	// The reply to Evaluate came after every event of the load: the
	// listener has seen them all.
	p.mu.Lock()
	for _, c := range p.console {
		errs = append(errs, fmt.Errorf("%w: %s", errConsole, c))
	}
	p.mu.Unlock()
	ids := map[string]bool{}
	for _, id := range m.IDs {
		ids[id] = true
	}
	for _, href := range m.Links {
		if err := checkLink(href, filepath.Dir(p.file), ids); err != nil {
			errs = append(errs, fmt.Errorf("%w %q: %v", errLink, href, err))
		}
	}
	return m, errors.Join(errs...)
}

// checkLink checks that href, found in a page in dir with the given
// element ids, leads somewhere: an anchor in the page, a file on disk, or
// a well-formed web address (not fetched).
func checkLink(href, dir string, ids map[string]bool) error {
	u, err := url.Parse(href)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return errors.New("no host")
		}
		return nil
	case "mailto":
		if u.Opaque == "" {
			return errors.New("no address")
		}
		return nil
	case "file":
		_, err := os.Stat(u.Path)
		return err
	case "":
		if u.Path == "" {
			if u.Fragment != "" && !ids[u.Fragment] {
				return errors.New("no element has this id")
			}
			return nil
		}
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(u.Path)))
		return err
	}
	return fmt.Errorf("scheme %q is not checked", u.Scheme)
}
