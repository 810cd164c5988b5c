package agent

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
)

// A screenshot over the bound comes back scaled down to fit, still a PNG,
// rather than failing.
func TestFitScalesDownToTheBound(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 800, 600))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256)) // noise: PNG cannot shrink it
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	const max = 256 << 10
	if buf.Len() <= max {
		t.Fatalf("the fixture is only %d bytes", buf.Len())
	}
	out, err := fit(buf.Bytes(), "image/png", max)
	if err != nil {
		t.Fatal(err)
	}
	small, format, err := image.Decode(bytes.NewReader(out))
	if err != nil || format != "png" || len(out) > max || small.Bounds().Dx() >= 800 || small.Bounds().Dx() < 100 {
		t.Fatalf("%d bytes, %v %s %v", len(out), small.Bounds(), format, err)
	}
	if same, _ := fit(buf.Bytes(), "image/png", buf.Len()); !bytes.Equal(same, buf.Bytes()) {
		t.Error("an image within the bound was changed")
	}
}

func TestWithoutDropsOnlyTheKey(t *testing.T) {
	got := without(json.RawMessage(`{"format":"jpeg","url":"https://example.com/"}`), "format")
	if string(got) != `{"url":"https://example.com/"}` {
		t.Errorf("%s", got)
	}
	if got := without(json.RawMessage(`[1]`), "format"); string(got) != `[1]` {
		t.Errorf("not an object: %s", got)
	}
}
