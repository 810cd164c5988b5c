package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/blocklist"
)

// adHeavyPage is a page with what an ad-carrying page has: 40 images from
// another site (an EasyList path rule, /adsbanner-), each 150 ms slow as ad
// servers are, and an element of a generic hiding class.
func adHeavyPage(adSite string) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><link rel="stylesheet" href="/style.css"></head><body><div class="ADBAR" style="height:90px">ad</div><main>` + paragraphs + `</main>`)
	for i := range 40 {
		fmt.Fprintf(&b, `<img src="%s/adsbanner-%d.png?t=%d" width="300" height="250">`, adSite, i, time.Now().UnixNano())
	}
	b.WriteString(`</body></html>`)
	return b.String()
}

// adSite is the other site the ad-heavy page loads its ads from.
var adSite string

// adHandlers serves the ad-heavy page and its slow ad images.
func adHandlers(mux *http.ServeMux, adSite func() string) {
	mux.HandleFunc("/adheavy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, adHeavyPage(adSite()))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/adsbanner-") {
			http.NotFound(w, r)
			return
		}
		time.Sleep(150 * time.Millisecond)
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(onePixelPNG)
	})
}

// pageOption is one row of the page-options table.
type pageOption struct {
	name string
	page string // the fixture's path
	opts map[string]any
}

var pageOptions = []pageOption{
	{"default (every option off)", "/page", nil},
	{"block_ads", "/page", map[string]any{"block_ads": true}},
	{"block_trackers", "/page", map[string]any{"block_trackers": true}},
	{"block_chats", "/page", map[string]any{"block_chats": true}},
	{"block_cookie_banners", "/page", map[string]any{"block_cookie_banners": true}},
	{"hide_selectors + custom_css", "/page", map[string]any{"hide_selectors": []string{".x"}, "custom_css": "p{color:#333}"}},
	{"scroll_page", "/page", map[string]any{"scroll_page": true}},
	{"ad-heavy page, options off", "/adheavy", nil},
	{"ad-heavy page, block_ads", "/adheavy", map[string]any{"block_ads": true}},
}

// benchPageOptions captures each row's page runs times, in turns, and prints
// the medians against the default capture of the same run.
func benchPageOptions(svc *service, site string, runs int) {
	log.Printf("page options: %d captures of each, in turns...", runs)
	times := make([][]time.Duration, len(pageOptions))
	for range runs {
		for i, p := range pageOptions {
			t0 := time.Now()
			if err := svc.captureWith(site+p.page, p.opts); err != nil {
				log.Printf("%s: %v", p.name, err)
				continue
			}
			times[i] = append(times[i], time.Since(t0))
		}
	}
	fmt.Printf("\npage options (%s, back to back, in turns; ratio against the row it changes)\n", site)
	fmt.Printf("%-34s %10s %8s\n", "", "median", "ratio")
	for i, p := range pageOptions {
		base := times[0]
		if p.page == "/adheavy" {
			base = times[len(pageOptions)-2]
		}
		if len(times[i]) == 0 {
			fmt.Printf("%-34s %10s\n", p.name, "failed")
			continue
		}
		fmt.Printf("%-34s %10s %7.2fx\n", p.name, ms(median(times[i])), float64(median(times[i]))/float64(median(base)))
	}
	// What the lists hold, loaded once per process: measured here, in this
	// process, the way the service loads them.
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	l, err := blocklist.Load(blocklist.DefaultDir)
	took := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if err != nil {
		fmt.Printf("filter lists: %v\n", err)
		return
	}
	fmt.Printf("%-34s %9.0f MB heap from %.1f MB of lists, parsed in %s (once, at the first capture that blocks)\n", "filter lists (EasyList, EasyPrivacy, URLhaus)",
		float64(m1.HeapAlloc-m0.HeapAlloc)/(1<<20), float64(l.Bytes())/(1<<20), ms(took))
	runtime.KeepAlive(l)
}

func (s *service) captureWith(url string, opts map[string]any) error {
	o := map[string]any{"url": url}
	for k, v := range opts {
		o[k] = v
	}
	body, _ := json.Marshal(o)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/capture", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		return fmt.Errorf("status %s: %.200s", strconv.Itoa(resp.StatusCode), b)
	}
	return nil
}
