package main

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// barColors are the colors of the data sets' bars, in order.
var barColors = []color.Color{
	color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff},
	color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff},
	color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff},
}

// writeChart draws the median throughput of every tool as bars, one per
// data set side by side, with min–max whiskers, and saves it as a PNG.
func (r *results) writeChart(path string) error {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"} // before plot.New, which reads it
	p := plot.New()
	p.Title.Text = fmt.Sprintf("farpipe (shaded) and its peers on loopback: median GB/s of %s of %s, whiskers min–max",
		plural(r.runs, "run"), humanize.IBytes(uint64(r.size)))
	p.Title.Padding = vg.Points(6)
	p.Y.Label.Text = "GB/s (10^9 bytes/s)"
	p.Y.Min = 0
	p.Y.Tick.Marker = valueTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(4)
	for i, t := range r.tools {
		if t.farpipe {
			p.Add(&highlight{x: float64(i)})
		}
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)

	labels := make([]string, len(r.tools))
	for i, t := range r.tools {
		labels[i] = strings.Replace(t.label, " ", "\n", 1)
	}
	width := vg.Points(56 / float64(len(r.data)))
	top := 0.0
	for j, d := range r.data {
		med, lo, hi := make(plotter.Values, len(r.tools)), make([]float64, len(r.tools)), make([]float64, len(r.tools))
		for i, t := range r.tools {
			s := r.summary(t.name, d)
			med[i], lo[i], hi[i] = s.median, s.min, s.max
			top = max(top, s.max)
		}
		bars, err := plotter.NewBarChart(med, width)
		if err != nil {
			return fmt.Errorf("farpipe bench: chart: %v", err)
		}
		bars.Color = barColors[j%len(barColors)]
		bars.LineStyle.Width = 0
		bars.Offset = width * (vg.Length(j) - vg.Length(len(r.data)-1)/2)
		p.Add(bars, &whiskers{median: med, lo: lo, hi: hi, offset: bars.Offset})
		p.Legend.Add(d, bars)
	}
	for i := 1; i < len(r.tools); i++ {
		if r.tools[i].kind != r.tools[i-1].kind {
			p.Add(&divider{x: float64(i) - 0.5, left: "no encryption", right: "encrypted"})
		}
	}
	p.Y.Max = top * 1.25 // room for the legend and the labels
	p.X.Min, p.X.Max = -0.5, float64(len(r.tools))-0.5
	p.NominalX(labels...)
	if err := p.Save(11*vg.Inch, 5.5*vg.Inch, path); err != nil {
		return fmt.Errorf("farpipe bench: chart: %v", err)
	}
	return nil
}

// whiskers draws a min–max error bar and the median's value over each bar
// of a bar chart with the same offset.
type whiskers struct {
	median []float64
	lo, hi []float64
	offset vg.Length
}

// Plot implements plot.Plotter.
func (wh *whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	line := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	label := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 9),
		XAlign:  draw.XCenter,
		YAlign:  draw.YBottom,
		Handler: plot.DefaultTextHandler,
	}
	half := vg.Points(4)
	for i := range wh.median {
		if wh.median[i] == 0 {
			continue
		}
		x := trX(float64(i)) + wh.offset
		lo, hi := trY(wh.lo[i]), trY(wh.hi[i])
		c.StrokeLine2(line, x, lo, x, hi)
		c.StrokeLine2(line, x-half, lo, x+half, lo)
		c.StrokeLine2(line, x-half, hi, x+half, hi)
		c.FillText(label, vg.Point{X: x, Y: hi + vg.Points(2)}, fmt.Sprintf("%.2f", wh.median[i]))
	}
}

// DataRange implements plot.DataRanger.
func (wh *whiskers) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, h := range wh.hi {
		ymax = max(ymax, h)
	}
	return 0, float64(len(wh.median) - 1), 0, ymax
}

// divider draws a dashed vertical line between two groups of tools and
// names the groups at the top.
type divider struct {
	x           float64
	left, right string
}

// Plot implements plot.Plotter.
func (d *divider) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(d.x)
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{Y: 0x80}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}},
		x, c.Min.Y, x, c.Max.Y)
	sty := text.Style{Color: color.Gray{Y: 0x40}, Font: font.From(plot.DefaultFont, 10), YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	sty.XAlign = draw.XRight
	c.FillText(sty, vg.Point{X: x - vg.Points(6), Y: c.Max.Y - vg.Points(4)}, "← "+d.left)
	sty.XAlign = draw.XLeft
	c.FillText(sty, vg.Point{X: x + vg.Points(6), Y: c.Max.Y - vg.Points(4)}, d.right+" →")
}

// highlight shades the slot of one tool: farpipe's, to find it at a glance.
type highlight struct{ x float64 }

// Plot implements plot.Plotter.
func (hl *highlight) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := trX(hl.x-0.5), trX(hl.x+0.5)
	c.FillPolygon(color.RGBA{R: 0xff, G: 0xf4, B: 0xc8, A: 0xff}, []vg.Point{
		{X: x0, Y: c.Min.Y}, {X: x0, Y: c.Max.Y}, {X: x1, Y: c.Max.Y}, {X: x1, Y: c.Min.Y},
	})
}

// valueTicks marks the value axis every 0.1, 0.2, 0.25, 0.5, 1, 2 or 5,
// the first step that gives at most ten marks.
type valueTicks struct{}

// Ticks implements plot.Ticker.
func (valueTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 10.0
	for _, s := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 5} {
		if (hi-lo)/s <= 10 {
			step = s
			break
		}
	}
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi; i++ {
		v := i * step
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)})
	}
	return ticks
}
