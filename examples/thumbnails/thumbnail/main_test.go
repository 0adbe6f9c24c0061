package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFit(t *testing.T) {
	tests := []struct {
		w, h, size int
		want       image.Rectangle
	}{
		{1000, 500, 256, image.Rect(0, 0, 256, 128)},
		{500, 1000, 256, image.Rect(0, 0, 128, 256)},
		{300, 300, 256, image.Rect(0, 0, 256, 256)},
		{100, 50, 256, image.Rect(0, 0, 100, 50)}, // never enlarged
		{10000, 1, 256, image.Rect(0, 0, 256, 1)}, // never 0 pixels
	}
	for _, tt := range tests {
		if got := fit(image.Rect(0, 0, tt.w, tt.h), tt.size); got != tt.want {
			t.Errorf("fit(%dx%d, %d) = %v, want %v", tt.w, tt.h, tt.size, got, tt.want)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 600, 400))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.White)
	names := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "b.jpg")}
	var pngBuf, jpgBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgBuf, img, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(names[0], pngBuf.Bytes(), 0o644)
	os.WriteFile(names[1], jpgBuf.Bytes(), 0o644)
	out := filepath.Join(dir, "out")
	var stdout bytes.Buffer
	// Twice, as a redelivered chunk runs: the same lines, whole files.
	for range 2 {
		stdout.Reset()
		if err := run(150, out, nil, strings.NewReader(names[0]+"\x00"+names[1]+"\x00"), &stdout); err != nil {
			t.Fatal(err)
		}
	}
	want := names[0] + "\t150x100\t" + filepath.Join(out, "a.png") + "\n" + names[1] + "\t150x100\t" + filepath.Join(out, "b.jpg") + "\n"
	if stdout.String() != want {
		t.Fatalf("output %q, want %q", stdout.String(), want)
	}
	for _, name := range []string{"a.png", "b.jpg"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 150 || cfg.Height != 100 {
			t.Errorf("%s: %dx%d, %v; want a 150x100 image", name, cfg.Width, cfg.Height, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".thumb-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := run(150, out, []string{filepath.Join(dir, "missing.png")}, nil, &stdout); err == nil {
		t.Error("a missing image gave no error")
	}
}
