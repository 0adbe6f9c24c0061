// Command thumbnail makes thumbnails: for each image named on its command
// line, or on standard input (NUL-separated, as find -print0 writes them,
// when no name is given), it writes a copy that fits in --size × --size
// pixels, keeping the aspect ratio and the format (JPEG or PNG), into --out
// under the same base name, and prints one line per image:
//
//	SOURCE<TAB>WIDTHxHEIGHT<TAB>THUMBNAIL
//
// A thumbnail is written to a temporary file and renamed into place, so
// that running it twice on the same image (a chunk redelivered after a
// worker died) leaves one whole file, never a torn one. It stops at the
// first image it cannot read, with exit status 1.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
)

func main() {
	size := flag.Int("size", 256, "the largest width and height of a thumbnail, in pixels")
	out := flag.String("out", "thumbs", "the directory the thumbnails go to")
	flag.Parse()
	if err := run(*size, *out, flag.Args(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "thumbnail:", err)
		os.Exit(1)
	}
}

func run(size int, outDir string, names []string, in io.Reader, out io.Writer) error {
	if size < 1 {
		return fmt.Errorf("--size %d: give a size of at least 1", size)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	do := func(name string) error {
		dst, b, err := thumbnail(name, outDir, size)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\t%dx%d\t%s\n", name, b.Dx(), b.Dy(), dst)
		return err
	}
	if len(names) == 0 {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		sc.Split(splitNull)
		for sc.Scan() {
			if err := do(sc.Text()); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := do(name); err != nil {
			return err
		}
	}
	return w.Flush()
}

// splitNull splits NUL-terminated names (the last may lack its NUL).
func splitNull(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// thumbnail writes the thumbnail of the image src into dir and returns its
// path and bounds.
func thumbnail(src, dir string, size int) (string, image.Rectangle, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", image.Rectangle{}, err
	}
	img, format, err := image.Decode(bufio.NewReader(f))
	f.Close()
	if err != nil {
		return "", image.Rectangle{}, fmt.Errorf("%s: %w", src, err)
	}
	b := fit(img.Bounds(), size)
	small := image.NewRGBA(b)
	draw.ApproxBiLinear.Scale(small, b, img, img.Bounds(), draw.Src, nil)

	dst := filepath.Join(dir, filepath.Base(src))
	tmp, err := os.CreateTemp(dir, ".thumb-*")
	if err != nil {
		return "", b, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	switch format {
	case "jpeg":
		err = jpeg.Encode(tmp, small, &jpeg.Options{Quality: 85})
	case "png":
		err = png.Encode(tmp, small)
	default:
		err = errors.New("not a JPEG or PNG image")
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", b, fmt.Errorf("%s: %w", src, err)
	}
	return dst, b, os.Rename(tmp.Name(), dst)
}

// fit returns the bounds, at the origin, of r scaled to fit in size × size
// (never enlarged), keeping its aspect ratio.
func fit(r image.Rectangle, size int) image.Rectangle {
	w, h := r.Dx(), r.Dy()
	if w <= size && h <= size {
		return image.Rect(0, 0, w, h)
	}
	if w >= h {
		return image.Rect(0, 0, size, max(1, h*size/w))
	}
	return image.Rect(0, 0, max(1, w*size/h), size)
}
