// Command thumbnails is farpipe's image worker pool example. It makes a few
// hundred sample images, starts a relay and two workers,
//
//	farpipe worker nats://RELAY/thumbs -- thumbnail --size 256 --out DIR
//
// and hands the images out with
//
//	find IMAGES -type f -print0 | farpipe map -0 --records 4 --via nats://RELAY/thumbs
//
// It kills one worker with SIGKILL a third of the way through; the chunks
// that worker was running go to the other one once their acknowledgement
// wait runs out. At the end it checks that every image has exactly one line
// in map's output and a thumbnail that is a valid image of the right size,
// then times the same work in a second run without faults, beside GNU
// parallel running the same thumbnailer on this host (-j 2, as two
// workers of one slot each). It exits 0 only if every check holds.
//
//	go run ./examples/thumbnails           # 300 images
//	go run ./examples/thumbnails -short    # 60 smaller ones, as CI runs it
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/farpipe/farpipe/examples/internal/exrun"
)

type config struct {
	images  int    // how many sample images
	maxSide int    // their largest side, in pixels
	size    int    // the thumbnails' largest side
	dir     string // where everything goes
	farpipe string // the farpipe binary; built when empty
}

func main() {
	short := flag.Bool("short", false, "a quick run: 60 images of at most 800 pixels (CI runs this)")
	images := flag.Int("images", 300, "how many sample images to make")
	dir := flag.String("dir", "", "work in this directory and keep it (default: a temporary one, removed at the end)")
	bin := flag.String("farpipe", "", "the farpipe binary to use (default: built from this repository)")
	flag.Parse()
	cfg := config{images: *images, maxSide: 1920, size: 256, dir: *dir, farpipe: *bin}
	if *short {
		cfg.images, cfg.maxSide = 60, 800
	}
	if cfg.images < 12 {
		fmt.Fprintln(os.Stderr, "thumbnails: --images: give at least 12, so that a worker can be killed in the middle")
		os.Exit(2)
	}
	if cfg.dir == "" {
		d, err := os.MkdirTemp("", "farpipe-thumbnails-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "thumbnails:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		cfg.dir = d
	}
	start := time.Now()
	err := run(cfg)
	fmt.Printf("\n(%s in all)\n", time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "thumbnails: FAILED:", err)
		os.Exit(1) // the deferred removal is skipped: the directory stays for a look
	}
}

func run(cfg config) error {
	bins, err := build(cfg)
	if err != nil {
		return err
	}
	exrun.Step("making %d sample images (JPEG and PNG, up to %d pixels a side)", cfg.images, cfg.maxSide)
	imgDir := filepath.Join(cfg.dir, "images")
	originals, inBytes, err := makeImages(imgDir, cfg.images, cfg.maxSide)
	if err != nil {
		return err
	}
	fmt.Printf("    %d images, %.1f MB in %s\n", len(originals), float64(inBytes)/1e6, imgDir)

	exrun.Step("starting a relay")
	relay, err := exrun.StartRelay(bins.farpipe, filepath.Join(cfg.dir, "relay.log"), "--listen", "127.0.0.1:0", "--store", filepath.Join(cfg.dir, "relay"))
	if err != nil {
		return err
	}
	defer relay.Stop()
	fmt.Printf("    %s\n", relay.URL)

	faulty, err := pool(cfg, bins, relay.URL, "thumbs", filepath.Join(cfg.dir, "thumbs"), originals, true)
	if err != nil {
		return err
	}
	clean, err := pool(cfg, bins, relay.URL, "thumbs-clean", filepath.Join(cfg.dir, "thumbs-clean"), originals, false)
	if err != nil {
		return err
	}
	local, tool, err := localRun(cfg, bins, imgDir, filepath.Join(cfg.dir, "thumbs-local"))
	if err != nil {
		return err
	}

	exrun.Step("summary")
	n := float64(len(originals))
	fmt.Printf("    %-44s %8s %10s\n", "", "time", "images/s")
	row := func(name string, d time.Duration) {
		fmt.Printf("    %-44s %8s %10.1f\n", name, d.Round(10*time.Millisecond), n/d.Seconds())
	}
	row("farpipe map --via, a worker killed -9", faulty)
	row("farpipe map --via, two workers (-j 1 each)", clean)
	row(tool+" (local)", local)
	fmt.Printf("    farpipe through the relay: %.2f× the local %s's rate\n", local.Seconds()/clean.Seconds(), tool)
	fmt.Println("    every image has exactly one thumbnail line, and every thumbnail is a valid image of the right size: PASS")
	return nil
}
