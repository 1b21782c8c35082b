package reports

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// This file keeps tables and figures readable: cell names cut to what
// varies among a table's rows, legends beside the data instead of over
// it, and memory plots' axes sized to the data rather than the budget.

// namePart is one part of a cell name after its kind: key=value, or a
// bare word (a sub-benchmark name), whose key is the word itself.
type namePart struct{ key, text string }

// splitName parses "Kind/key=value/...": the kind is the first part
// unless it has an "=".
func splitName(name string) (kind string, parts []namePart) {
	fields := strings.Split(name, "/")
	if !strings.Contains(fields[0], "=") {
		kind, fields = fields[0], fields[1:]
	}
	for _, f := range fields {
		k, _, _ := strings.Cut(f, "=")
		parts = append(parts, namePart{k, f})
	}
	return kind, parts
}

// varyingKeys shortens the cell names of a table's rows to the parts that
// differ among them, the kind only if kinds differ. fixed lists the parts
// every name has alike, "key=value, key=value", for a sentence above the
// table; it leaves out a common kind, which the section names. A key
// missing from some names varies. A name left with nothing shortens to
// its kind, or "-" if it has none.
//
//	Engine/workload=mix/threshold=2KiB/fault=none
//	Engine/workload=mix/threshold=4MiB/fault=none
//
// shorten to threshold=2KiB and threshold=4MiB, fixed
// "workload=mix, fault=none".
func varyingKeys(names []string) (short []string, fixed string) {
	if len(names) == 0 {
		return nil, ""
	}
	kinds := make([]string, len(names))
	parts := make([][]namePart, len(names))
	var keys []string // in order of first appearance
	for i, n := range names {
		kinds[i], parts[i] = splitName(n)
		for _, p := range parts[i] {
			if !slices.Contains(keys, p.key) {
				keys = append(keys, p.key)
			}
		}
	}
	textOf := func(ps []namePart, key string) (string, bool) {
		for _, p := range ps {
			if p.key == key {
				return p.text, true
			}
		}
		return "", false
	}
	varies := map[string]bool{}
	var same []string
	for _, k := range keys {
		first, _ := textOf(parts[0], k)
		for _, ps := range parts {
			if t, ok := textOf(ps, k); !ok || t != first {
				varies[k] = true
				break
			}
		}
		if !varies[k] {
			same = append(same, first)
		}
	}
	kindVaries := slices.ContainsFunc(kinds, func(k string) bool { return k != kinds[0] })
	short = make([]string, len(names))
	for i, ps := range parts {
		var keep []string
		if kindVaries {
			keep = append(keep, kinds[i])
		}
		for _, p := range ps {
			if varies[p.key] {
				keep = append(keep, p.text)
			}
		}
		if len(keep) == 0 && kinds[i] != "" {
			keep = []string{kinds[i]}
		}
		if len(keep) == 0 {
			keep = []string{"-"}
		}
		short[i] = strings.Join(keep, "/")
	}
	return short, strings.Join(same, ", ")
}

// dropKey removes key's part from a cell name, for a table that shows it
// in a column of its own.
func dropKey(name, key string) string {
	fields := strings.Split(name, "/")
	return strings.Join(slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, key+"=") }), "/")
}

// allRows states the parts a table's rows share, above the table.
func allRows(d *doc, fixed string) {
	if fixed != "" {
		d.p("All rows: %s.", fixed)
	}
}

// legendBeside moves p's legend out of the data area to its right: it
// narrows the data area by the width of the widest of labels (the
// legend's entries) and puts the legend, top aligned, in the room left.
func legendBeside(p *plot.Plot, labels ...string) {
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	sty := p.Legend.TextStyle
	var w vg.Length
	for _, l := range labels {
		w = max(w, sty.Width(l))
	}
	em := sty.Width("M")
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.XOffs, p.Legend.YOffs = 0, 0
	p.Add(legendRoom(em + w + em/2 + p.Legend.ThumbnailWidth))
}

// legendRoom is a plotter that draws nothing and asks for its width of
// room right of the data area, where plot.Plot pads for glyphs.
type legendRoom vg.Length

func (legendRoom) Plot(draw.Canvas, *plot.Plot) {}

func (r legendRoom) GlyphBoxes(*plot.Plot) []plot.GlyphBox {
	return []plot.GlyphBox{
		{X: 1, Rectangle: vg.Rectangle{Max: vg.Point{X: vg.Length(r)}}},
	}
}

// budgetOffAxis says where the budget line, y = x for x from lo to hi,
// leaves a y axis from ymin to ymax, as legend entries below the
// budget's: the axes are sized to the data, not to the budget.
func budgetOffAxis(lo, hi, ymin, ymax float64) []string {
	var notes []string
	switch {
	case lo > ymax:
		notes = append(notes, fmt.Sprintf("↑ all above the axis: %s to %s", formatBytes(lo), formatBytes(hi)))
	case hi > ymax:
		notes = append(notes, fmt.Sprintf("↑ off the top, up to %s", formatBytes(hi)))
	}
	switch {
	case hi < ymin:
		notes = append(notes, fmt.Sprintf("↓ all below the axis: %s to %s", formatBytes(lo), formatBytes(hi)))
	case lo < ymin:
		notes = append(notes, fmt.Sprintf("↓ off the bottom, down to %s", formatBytes(lo)))
	}
	return notes
}

// budgetColor is the budget line's grey.
var budgetColor = color.Gray{Y: 90}

// byteTicks marks a linear axis of bytes at multiples of a power of two,
// labelled in binary units: 16MiB, 32MiB, 48MiB.
type byteTicks struct{}

func (byteTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || hi <= 0 {
		return nil
	}
	step := 1.0
	for (hi-max(lo, 0))/step > 6 {
		step *= 2
	}
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: formatBytes(v)})
	}
	return ts
}

// notRun is the fault matrix's label for a mechanism and mode no cell
// ran, on notRunColor: lighter than "unavailable", a cell that was tried.
const notRun = "not run"

var notRunColor = color.Gray{Y: 0xe4}
