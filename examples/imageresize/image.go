package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registered with image.Decode
	_ "image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"

	_ "golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// size is the side of the square the image is resized to, as the article's
// im.resize((800, 800)).
const size = 800

// Text layout: basicfont.Face7x13 glyphs are 7 px wide and 13 px high; the
// text starts 10 px from the top left corner, as the article's
// draw.multiline_text((10, 10), ...).
const (
	margin     = 10
	lineHeight = 15
	maxColumns = (size - 2*margin) / 7
)

// decode decodes an uploaded image after checking the size its header
// declares against maxPixels (413 beyond it). Anything that is not an image
// of a registered format, or is truncated, is 400.
func decode(data []byte, maxPixels int) (image.Image, int, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, http.StatusBadRequest, notImage(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, http.StatusBadRequest, fmt.Errorf("%s image_data is %d×%d pixels", format, cfg.Width, cfg.Height)
	}
	if cfg.Width > maxPixels/cfg.Height {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the %s image is %d×%d pixels; the limit is %d pixels",
			format, cfg.Width, cfg.Height, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("decoding the %s image: %w", format, err)
	}
	return img, 0, nil
}

func notImage(err error) error {
	if errors.Is(err, image.ErrFormat) {
		return errors.New("image_data is not an image in a known format (PNG, JPEG, GIF, BMP, TIFF, WebP)")
	}
	return fmt.Errorf("image_data is not a readable image: %w", err)
}

// render scales img to size×size (Catmull-Rom, a bicubic filter like
// Pillow's default for resize) and draws lines on it in black, one per
// line, clipped to the image.
func render(img image.Image, lines []string) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	d := font.Drawer{Dst: dst, Src: image.NewUniform(color.Black), Face: basicfont.Face7x13}
	y := margin + basicfont.Face7x13.Ascent
	for _, line := range lines {
		if y+basicfont.Face7x13.Descent > size-margin {
			break
		}
		d.Dot = fixed.P(margin, y)
		d.DrawString(printable(line))
		y += lineHeight
	}
	return dst
}

// printable replaces what basicfont cannot draw (anything but printable
// ASCII) with '?' and cuts the line at the image's width.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxColumns {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// encodePNG writes img as a PNG with default compression.
func encodePNG(w io.Writer, img image.Image) error {
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("png: %w", err)
	}
	return nil
}
