package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

type imageInfo struct {
	w, h   int
	format string
}

// makeImages writes n sample images (every third a PNG, the rest JPEGs, of
// random sizes up to maxSide) into dir, the same ones on every run.
func makeImages(dir string, n, maxSide int) (map[string]imageInfo, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	type result struct {
		path  string
		info  imageInfo
		bytes int64
		err   error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Go(func() {
			for i := range next {
				r := &results[i]
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				r.info = imageInfo{w: maxSide/3 + rng.IntN(maxSide*2/3+1), h: maxSide/3 + rng.IntN(maxSide*2/3+1), format: "jpeg"}
				if i%3 == 0 {
					r.info.format = "png"
				}
				r.path = filepath.Join(dir, fmt.Sprintf("img%04d.%s", i, map[string]string{"jpeg": "jpg", "png": "png"}[r.info.format]))
				r.bytes, r.err = writeImage(r.path, r.info, rng)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	infos := make(map[string]imageInfo, n)
	var total int64
	for _, r := range results {
		if r.err != nil {
			return nil, 0, r.err
		}
		infos[r.path] = r.info
		total += r.bytes
	}
	return infos, total, nil
}

// writeImage draws a gradient with a few discs on it.
func writeImage(path string, info imageInfo, rng *rand.Rand) (int64, error) {
	img := image.NewRGBA(image.Rect(0, 0, info.w, info.h))
	type disc struct {
		x, y, r2 int
		c        color.RGBA
	}
	discs := make([]disc, 3+rng.IntN(5))
	for i := range discs {
		r := 10 + rng.IntN(info.h/3)
		discs[i] = disc{rng.IntN(info.w), rng.IntN(info.h), r * r, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}}
	}
	base := uint8(rng.IntN(256))
	for y := range info.h {
		for x := range info.w {
			c := color.RGBA{uint8(x * 255 / info.w), uint8(y * 255 / info.h), base, 255}
			for _, d := range discs {
				if dx, dy := x-d.x, y-d.y; dx*dx+dy*dy < d.r2 {
					c = d.c
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	if info.format == "png" {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, img)
	} else {
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: 90})
	}
	if err == nil {
		err = w.Flush()
	}
	st, serr := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// check verifies map's output lines (SOURCE, SIZE, THUMBNAIL): each image
// exactly once, and each thumbnail a valid image of its format that fits
// in size × size with the original's aspect ratio.
func check(lines []string, dir string, originals map[string]imageInfo, size int) error {
	seen := make(map[string]bool, len(lines))
	for _, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return fmt.Errorf("a line of map's output is not SOURCE<TAB>SIZE<TAB>THUMBNAIL: %q", line)
		}
		src, thumb := f[0], f[2]
		orig, ok := originals[src]
		switch {
		case !ok:
			return fmt.Errorf("map's output names %q, which is not one of the images", src)
		case seen[src]:
			return fmt.Errorf("%s has two lines in map's output", src)
		case filepath.Dir(thumb) != dir:
			return fmt.Errorf("the thumbnail of %s is %s, not in %s", src, thumb, dir)
		}
		seen[src] = true
		if err := checkThumbnail(thumb, orig, size); err != nil {
			return err
		}
	}
	for src := range originals {
		if !seen[src] {
			return fmt.Errorf("%s has no line in map's output", src)
		}
	}
	return nil
}

func checkThumbnail(path string, orig imageInfo, size int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("thumbnail: %w", err)
	}
	defer f.Close()
	img, format, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("thumbnail %s is not a valid image: %w", path, err)
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	long := max(orig.w, orig.h)
	switch {
	case format != orig.format:
		return fmt.Errorf("thumbnail %s is a %s, its image a %s", path, format, orig.format)
	case max(w, h) != min(size, long):
		return fmt.Errorf("thumbnail %s is %dx%d: its longer side should be %d", path, w, h, min(size, long))
	case abs(w*orig.h-h*orig.w) > long:
		return fmt.Errorf("thumbnail %s is %dx%d: not the aspect ratio of its %dx%d image", path, w, h, orig.w, orig.h)
	}
	return nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
