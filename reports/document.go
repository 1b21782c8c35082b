package reports

import (
	"bytes"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/spillbench/spillbench/internal/atomicfile"
)

// The document model: blocks rendered to Markdown and to HTML alike.
type (
	heading struct {
		level int
		text  string
	}
	para  string
	table struct {
		header []string
		rows   [][]string
	}
	figure struct {
		name, caption string
		svg, png      []byte
	}
	code string
	// list is a bulleted list of short items, each one line of text.
	list []string
)

type doc struct{ blocks []any }

func (d *doc) h(level int, format string, args ...any) {
	d.blocks = append(d.blocks, heading{level, fmt.Sprintf(format, args...)})
}

func (d *doc) p(format string, args ...any) {
	d.blocks = append(d.blocks, para(fmt.Sprintf(format, args...)))
}

func (d *doc) t(header []string, rows [][]string) {
	d.blocks = append(d.blocks, table{header, rows})
}

// list adds a bulleted list; a "- " paragraph would show its dashes in
// HTML.
func (d *doc) list(items []string) {
	d.blocks = append(d.blocks, list(items))
}

// fig renders p as SVG and PNG and adds it.
func (d *doc) fig(name, caption string, p *plot.Plot) error {
	return d.figWidth(name, caption, p, PlotWidth)
}

// figWidth is fig for a plot wider than the default.
func (d *doc) figWidth(name, caption string, p *plot.Plot, width vg.Length) error {
	svg, err := RenderSize(p, "svg", width, PlotHeight)
	if err != nil {
		return err
	}
	png, err := RenderSize(p, "png", width, PlotHeight)
	if err != nil {
		return err
	}
	d.blocks = append(d.blocks, figure{name, caption, svg, png})
	return nil
}

func (d *doc) figures() []figure {
	var fs []figure
	for _, b := range d.blocks {
		if f, ok := b.(figure); ok {
			fs = append(fs, f)
		}
	}
	return fs
}

// writeDesign writes the document as out/name.md with its figures as SVG
// files in out/name/, the layout of a design document in docs/design.
func (d *doc) writeDesign(out, name string) error {
	if err := os.MkdirAll(filepath.Join(out, name), 0o755); err != nil {
		return err
	}
	files := map[string][]byte{}
	for _, f := range d.figures() {
		files[filepath.Join(out, name, f.name+".svg")] = f.svg
	}
	md := strings.ReplaceAll(string(d.markdown()), "](plots/", "]("+name+"/")
	files[filepath.Join(out, name+".md")] = []byte(md)
	if err := atomicfile.WriteFiles(files, 0o644); err != nil {
		return fmt.Errorf("writing %s (what was there is unchanged): %w", filepath.Join(out, name+".md"), err)
	}
	return nil
}

func (d *doc) markdown() []byte {
	var b bytes.Buffer
	for _, bl := range d.blocks {
		switch x := bl.(type) {
		case heading:
			fmt.Fprintf(&b, "%s %s\n\n", strings.Repeat("#", x.level), x.text)
		case para:
			fmt.Fprintf(&b, "%s\n\n", x)
		case code:
			fmt.Fprintf(&b, "```\n%s\n```\n\n", x)
		case list:
			for _, it := range x {
				fmt.Fprintf(&b, "- %s\n", it)
			}
			b.WriteString("\n")
		case table:
			fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(x.header, " | "), strings.Repeat("---|", len(x.header)))
			for _, r := range x.rows {
				fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
			}
			b.WriteString("\n")
		case figure:
			fmt.Fprintf(&b, "![%s](plots/%s.svg)\n\n*%s*\n\n", x.caption, x.name, x.caption)
		}
	}
	return b.Bytes()
}

func (d *doc) html() []byte {
	var b bytes.Buffer
	title := "spillbench report"
	if len(d.blocks) > 0 {
		if h, ok := d.blocks[0].(heading); ok {
			title = h.text
		}
	}
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(title))
	b.WriteString("<style>" + style + "</style>\n</head><body>\n")
	for _, bl := range d.blocks {
		switch x := bl.(type) {
		case heading:
			fmt.Fprintf(&b, "<h%d>%s</h%d>\n", x.level, html.EscapeString(x.text), x.level)
		case para:
			fmt.Fprintf(&b, "<p>%s</p>\n", inlineCode(html.EscapeString(string(x))))
		case code:
			fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(string(x)))
		case list:
			b.WriteString("<ul>\n")
			for _, it := range x {
				fmt.Fprintf(&b, "<li>%s</li>\n", inlineCode(html.EscapeString(it)))
			}
			b.WriteString("</ul>\n")
		case table:
			b.WriteString("<div class=\"table\"><table><tr>")
			for _, h := range x.header {
				fmt.Fprintf(&b, "<th>%s</th>", inlineCode(html.EscapeString(h)))
			}
			b.WriteString("</tr>\n")
			for _, r := range x.rows {
				b.WriteString("<tr>")
				for _, c := range r {
					fmt.Fprintf(&b, "<td>%s</td>", inlineCode(html.EscapeString(c)))
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</table></div>\n")
		case figure:
			svg := x.svg
			if i := bytes.Index(svg, []byte("<svg")); i > 0 {
				svg = svg[i:] // drop the XML prolog inside HTML
			}
			fmt.Fprintf(&b, "<figure>%s<figcaption>%s</figcaption></figure>\n", svg, html.EscapeString(x.caption))
		}
	}
	b.WriteString("</body></html>\n")
	return b.Bytes()
}

var codeBreaks = strings.NewReplacer("/", "/<wbr>", ".", ".<wbr>")

// style is the HTML page's stylesheet. Nothing may make the page wider
// than the window (TestBrowserRendersReport checks at 1280 px): a table
// too wide for the column scrolls inside its own box, code in a cell
// (long cell names) breaks anywhere, and plots and code blocks shrink or
// scroll.
const style = "body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}" +
	"div.table{overflow-x:auto;max-width:100%}" +
	"table{border-collapse:collapse}" +
	"td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}" +
	"td code,th code{overflow-wrap:anywhere}" +
	"pre{overflow-x:auto}" +
	"figure{margin:1em 0}" +
	"img,svg{max-width:100%;height:auto}"

// inlineCode turns `x` spans into <code>x</code>. A span may break
// after a slash or a dot (<wbr>), so a long cell or function name breaks
// between its parts before the stylesheet breaks it anywhere.
func inlineCode(s string) string {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 {
		return s
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + codeBreaks.Replace(p) + "</code>")
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}
