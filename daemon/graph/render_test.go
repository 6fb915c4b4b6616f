package graph

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata/")

// goldenCases are the fixtures with the texts each must show (title,
// legend, ticks, markers, bar labels) and the series colours its lines use.
var goldenCases = []struct {
	name   string
	labels []string
	colors []string // series colours the SVG must paint with
}{
	{"default", []string{"upstream,time", "p50", "p90", "p99", "0.5 s", "1.0 s", "10:00", "12:00", "deploy v2", "outage"},
		[]string{"#4e79a7", "#f28e2b", "#e15759", "#c0392b"}},
	{"cpu", []string{"cpu,10.3.1.12", "user", "sytem", "iowait", "idle", "100%", "50%", "Nov 21", "sth. wrong happened"},
		[]string{"#4e79a7", "#e15759", "#f28e2b", "#dddddd"}},
	{"net", []string{"net,eth0", "in", "out", "4 MB/s", "2 MB/s", "0 MB/s", "09:15"},
		[]string{"#59a14f", "#4e79a7"}},
	{"url", []string{"url", "/", "/api/v1/items", "/static/app.js", "5.23k", "3.31k", "0"},
		[]string{"#4e79a7"}},
	{"tree-bar", []string{"br", "ie,6", "ie,7", "webkit,13.0", "webkit,14.0", "firefox", "40", "27"},
		[]string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"}},
	{"nodata", []string{"nothing,here", "no data"}, nil},
}

func renderFixture(t *testing.T, name string, f Format) []byte {
	t.Helper()
	ch, ok := fixtures()[name]
	if !ok {
		t.Fatalf("no fixture %q", name)
	}
	var buf bytes.Buffer
	if err := NewRenderer().Render(&buf, ch, f); err != nil {
		t.Fatalf("render %s as %s: %v", name, f, err)
	}
	return buf.Bytes()
}

func decode(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("cannot decode image: %v", err)
	}
	return img
}

func goldenPNG(t *testing.T, name string) image.Image {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".png"))
	if err != nil {
		t.Fatalf("missing golden image (run go test ./daemon/graph -run TestGoldenPNG -update): %v", err)
	}
	return decode(t, data)
}

// imageDiff compares two images of the same size: the mean absolute
// channel difference (0–255) and the fraction of pixels where some channel
// differs by more than tol.
func imageDiff(a, b image.Image, tol int) (mean, bad float64, err error) {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 0, 0, fmt.Errorf("size %v, want %v", a.Bounds().Size(), b.Bounds().Size())
	}
	ab, bb := a.Bounds(), b.Bounds()
	var sum, nbad, n int
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			worst := 0
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				d = max(d, -d)
				sum += d
				worst = max(worst, d)
			}
			if worst > tol {
				nbad++
			}
			n++
		}
	}
	return float64(sum) / float64(3*n), float64(nbad) / float64(n), nil
}

// TestGoldenPNG compares each style's PNG with testdata/, allowing small
// per-pixel differences (anti-aliasing, encoder versions).
func TestGoldenPNG(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			data := renderFixture(t, tc.name, FormatPNG)
			path := filepath.Join("testdata", tc.name+".png")
			if *update {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			mean, bad, err := imageDiff(decode(t, data), goldenPNG(t, tc.name), 16)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("PNG vs golden: mean channel diff %.3f, %.3f%% pixels off by > 16", mean, 100*bad)
			if mean > 0.5 || bad > 0.002 {
				t.Errorf("PNG differs from %s: mean channel diff %.3f (max 0.5), %.3f%% pixels off by > 16 (max 0.2%%)", path, mean, 100*bad)
			}
		})
	}
}

// TestGoldenJPEG checks the JPEG against the same golden PNG, with room
// for compression artefacts.
func TestGoldenJPEG(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			data := renderFixture(t, tc.name, FormatJPEG)
			if _, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			mean, bad, err := imageDiff(decode(t, data), goldenPNG(t, tc.name), 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("JPEG vs golden PNG: mean channel diff %.2f, %.2f%% pixels off by > 64", mean, 100*bad)
			if mean > 3 || bad > 0.01 {
				t.Errorf("JPEG differs from the golden PNG: mean channel diff %.2f (max 3), %.2f%% pixels off by > 64 (max 1%%)", mean, 100*bad)
			}
		})
	}
}

// svgContent parses an SVG and returns its texts, the stroke and fill
// colours of its paths and whether it embeds a font.
func svgContent(t *testing.T, data []byte) (texts []string, strokes map[string]int, embedsFont bool) {
	t.Helper()
	strokes = make(map[string]int)
	dec := xml.NewDecoder(bytes.NewReader(data))
	var inText, inStyle bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "text":
				inText = true
				texts = append(texts, "")
			case "style":
				inStyle = true
			case "path":
				for _, a := range el.Attr {
					if a.Name.Local == "style" {
						for _, decl := range strings.Split(a.Value, ";") {
							decl = strings.TrimSpace(decl)
							for _, prop := range []string{"stroke:", "fill:"} {
								if c, ok := strings.CutPrefix(decl, prop); ok && c != "none" {
									strokes[strings.ToLower(c)]++
								}
							}
						}
					}
				}
			}
		case xml.EndElement:
			inText = inText && el.Name.Local != "text"
			inStyle = inStyle && el.Name.Local != "style"
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(el)
			}
			if inStyle && bytes.Contains(el, []byte("@font-face")) && bytes.Contains(el, []byte("base64,")) {
				embedsFont = true
			}
		}
	}
	return texts, strokes, embedsFont
}

// TestGoldenSVG parses each style's SVG and checks its labels, the
// stroke of each line series and the embedded font.
func TestGoldenSVG(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			texts, strokes, embeds := svgContent(t, renderFixture(t, tc.name, FormatSVG))
			for _, l := range tc.labels {
				if !slices.Contains(texts, l) {
					t.Errorf("SVG has no text %q; texts: %q", l, texts)
				}
			}
			if !embeds {
				t.Errorf("SVG does not embed its font")
			}
			for _, c := range tc.colors {
				if strokes[c] == 0 {
					t.Errorf("no path drawn in series colour %s; colours: %v", c, strokes)
				}
			}
		})
	}
}

// TestGoldenPDF checks each style's PDF: pdftotext finds the labels and
// pdftoppm renders it close to the golden PNG.
func TestGoldenPDF(t *testing.T) {
	pdftoppm := testenv.NeedCommand(t, "pdftoppm", "poppler-utils")
	pdftotext := testenv.NeedCommand(t, "pdftotext", "poppler-utils")
	pdffonts := testenv.NeedCommand(t, "pdffonts", "poppler-utils")
	dir := t.TempDir()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			data := renderFixture(t, tc.name, FormatPDF)
			if !bytes.HasPrefix(data, []byte("%PDF-")) {
				t.Fatalf("not a PDF: %.20q", data)
			}
			pdf := filepath.Join(dir, tc.name+".pdf")
			if err := os.WriteFile(pdf, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(pdftotext, "-layout", pdf, "-").CombinedOutput()
			if err != nil {
				t.Fatalf("pdftotext: %v\n%s", err, out)
			}
			for _, l := range tc.labels {
				if !bytes.Contains(out, []byte(l)) {
					t.Errorf("PDF text has no %q:\n%s", l, out)
				}
			}
			// Every font embedded: the PDF needs nothing from the reader's system.
			fonts, err := exec.Command(pdffonts, pdf).CombinedOutput()
			if err != nil {
				t.Fatalf("pdffonts: %v\n%s", err, fonts)
			}
			lines := strings.Split(strings.TrimSpace(string(fonts)), "\n")
			if len(lines) < 3 {
				t.Errorf("pdffonts lists no font:\n%s", fonts)
			}
			for _, l := range lines[min(2, len(lines)):] {
				if f := strings.Fields(l); len(f) < 5 || f[len(f)-5] != "yes" {
					t.Errorf("font not embedded: %q", l)
				}
			}
			prefix := filepath.Join(dir, tc.name)
			if out, err := exec.Command(pdftoppm, "-r", "96", "-png", "-singlefile", pdf, prefix).CombinedOutput(); err != nil {
				t.Fatalf("pdftoppm: %v\n%s", err, out)
			}
			raster, err := os.ReadFile(prefix + ".png")
			if err != nil {
				t.Fatal(err)
			}
			// Compared at half resolution: poppler and gg place edges that
			// fall between pixels half a pixel apart.
			mean, bad, err := imageDiff(halve(decode(t, raster)), halve(goldenPNG(t, tc.name)), 64)
			if err != nil {
				t.Fatalf("pdftoppm rendering: %v", err)
			}
			t.Logf("pdftoppm vs PNG: mean channel diff %.2f, %.2f%% pixels off by > 64", mean, 100*bad)
			if mean > 2.5 || bad > 0.01 {
				t.Errorf("pdftoppm rendering differs from the PNG: mean channel diff %.2f (max 2.5), %.2f%% pixels off by > 64 (max 1%%)", mean, 100*bad)
			}
		})
	}
}

// halve averages 2×2 blocks.
func halve(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	for y := 0; y < b.Dy()/2; y++ {
		for x := 0; x < b.Dx()/2; x++ {
			var sum [3]uint32
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, bl, _ := img.At(b.Min.X+2*x+d[0], b.Min.Y+2*y+d[1]).RGBA()
				sum[0], sum[1], sum[2] = sum[0]+r>>8, sum[1]+g>>8, sum[2]+bl>>8
			}
			out.Set(x, y, color.RGBA{uint8(sum[0] / 4), uint8(sum[1] / 4), uint8(sum[2] / 4), 0xff})
		}
	}
	return out
}

var _ = png.Decode // image.Decode needs the PNG and JPEG decoders registered

// TestPDFText: text outside ASCII (µs ticks, "…" of cut labels, accents)
// reaches the PDF as text, not mojibake.
func TestPDFText(t *testing.T) {
	pdftotext := testenv.NeedCommand(t, "pdftotext", "poppler-utils")
	ch := &Chart{Title: "Übersicht café", Width: 300, Height: 150, Unit: UnitSeconds,
		Series: []Series{wave("latency", 10, time.Minute, func(i int) float64 { return 1e-5 * float64(i) })}}
	var buf bytes.Buffer
	if err := NewRenderer().Render(&buf, ch, FormatPDF); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.pdf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	for _, want := range []string{"Übersicht café", "µs"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("PDF text lacks %q:\n%s", want, out)
		}
	}
}
