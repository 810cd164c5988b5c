package main

import (
	"strings"
	"testing"
)

// The heavy pages are what issue 38 asks of them, whatever the seed.
func TestHeavyPagesShape(t *testing.T) {
	fonts := [][]byte{[]byte("font-a"), []byte("font-b"), []byte("font-c"), []byte("font-d")}
	for _, seed := range []uint64{38, 7} { // the bench's default, and another
		for s := range 8 {
			h := genHeavy(s, seed, fonts, "8000")
			count := func(prefix string) (n int) {
				for p := range h.files {
					if strings.HasPrefix(p, prefix) {
						n++
					}
				}
				return n
			}
			frames := strings.Count(h.page, "<iframe ")
			lazy := strings.Count(h.page, `loading="lazy"`)
			sites := map[string]bool{}
			for _, k := range []int{0, 1, 2, 3} {
				if strings.Contains(h.page, heavyHost(s, k, "8000")) || k == 0 {
					sites[heavyHost(s, k, "8000")] = true
				}
			}
			switch {
			case h.count < 60 || h.count > 120:
				t.Errorf("seed %d site %d: %d subresources", seed, s, h.count)
			case h.image < 2<<20 || h.image > 6<<20+256<<10:
				t.Errorf("seed %d site %d: %d bytes of images", seed, s, h.image)
			case count("/font/") < 2 || count("/font/") > 4:
				t.Errorf("seed %d site %d: %d fonts", seed, s, count("/font/"))
			case frames < 3 || frames > 6:
				t.Errorf("seed %d site %d: %d iframes", seed, s, frames)
			case lazy == 0:
				t.Errorf("seed %d site %d: no lazy image", seed, s)
			case len(sites) != 4:
				t.Errorf("seed %d site %d: the page names %d of its four sites", seed, s, len(sites))
			case strings.Count(h.page, "<section") < 14:
				t.Errorf("seed %d site %d: a short document", seed, s)
			}
		}
	}
}
