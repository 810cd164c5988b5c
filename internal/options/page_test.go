package options

import (
	"errors"
	"strings"
	"testing"
)

func TestPageOptions(t *testing.T) {
	o, err := ParseJSON([]byte(`{"url":"https://example.com","block_ads":true,"use_cookie_blocker":true,
		"hide_selectors":[".a","#b"],"custom_css":"p{color:red}","timezone":"Europe/Berlin","locale":"de-ch",
		"cookies":[{"name":"s","value":"1","same_site":"lax"},{"name":"t","value":"2","domain":".other.example","secure":true,"same_site":"None","expires":1900000000}],
		"clip":{"x":10,"y":20,"width":300,"height":200},"fail_on_http_status":"404, 500-599"}`), lim)
	if err != nil {
		t.Fatal(err)
	}
	p := o.Page
	if !p.BlockAds || p.BlockTrackers || !p.BlockCookieBanners || p.ScrollPage || len(p.HideSelectors) != 2 ||
		p.Timezone != "Europe/Berlin" || p.Locale != "de-CH" || p.Clip == nil || p.Clip.Width != 300 {
		t.Errorf("page: %+v", p)
	}
	if p.Cookies[0].SameSite != "Lax" || p.Cookies[1].Domain != ".other.example" || p.Cookies[1].Expires != 1900000000 {
		t.Errorf("cookies: %+v", p.Cookies)
	}
	for status, want := range map[int]bool{404: true, 403: false, 500: true, 599: true, 200: false} {
		if Matches(p.FailOnStatus, status) != want {
			t.Errorf("fail_on_http_status %d: %v", status, !want)
		}
	}
	if len(o.Ignored) != 0 {
		t.Errorf("use_cookie_blocker is block_cookie_banners now, not ignored: %v", o.Ignored)
	}
	// scroll_page follows full_page unless set.
	full, _ := ParseJSON([]byte(`{"url":"https://example.com","full_page":true}`), lim)
	off, _ := ParseJSON([]byte(`{"url":"https://example.com","full_page":true,"scroll_page":false}`), lim)
	if !full.Page.ScrollPage || off.Page.ScrollPage {
		t.Errorf("scroll_page default: %v, explicit false: %v", full.Page.ScrollPage, off.Page.ScrollPage)
	}
}

func TestPageOptionsNameTheField(t *testing.T) {
	many := `"` + strings.Repeat(`.a","`, 50) + `.a"`
	cases := []struct{ body, field string }{
		{`"block_ads":"yes"`, "block_ads"},
		{`"hide_selectors":[` + many + `]`, "hide_selectors"},
		{`"hide_selectors":[".a","}body{display:none"]`, "hide_selectors[1]"},
		{`"hide_selectors":[""]`, "hide_selectors[0]"},
		{`"custom_css":"` + strings.Repeat("a", 100<<10+1) + `"`, "custom_css"},
		{`"timezone":"Mars/Olympus"`, "timezone"},
		{`"timezone":"Local"`, "timezone"},
		{`"locale":"not a tag"`, "locale"},
		{`"cookies":[{"name":"a b","value":"1"}]`, "cookies[0].name"},
		{`"cookies":[{"name":"a"}]`, "cookies[0].value"},
		{`"cookies":[{"name":"a","value":"x;y"}]`, "cookies[0].value"},
		{`"cookies":[{"name":"a","value":"1","domain":"evil.example/path"}]`, "cookies[0].domain"},
		{`"cookies":[{"name":"a","value":"1","path":"nope"}]`, "cookies[0].path"},
		{`"cookies":[{"name":"a","value":"1","same_site":"sometimes"}]`, "cookies[0].same_site"},
		{`"cookies":[{"name":"a","value":"1","same_site":"None"}]`, "cookies[0].same_site"},
		{`"cookies":[{"name":"a","value":"1","bogus":1}]`, "cookies[0].bogus"},
		{`"clip":{"x":0,"y":0,"width":0,"height":10}`, "clip"},
		{`"clip":{"x":-1,"y":0,"width":10,"height":10}`, "clip"},
		{`"clip":{"x":0,"y":0,"width":10}`, "clip"},
		{`"clip":{"x":0,"y":0,"width":10,"height":10},"selector":"#a"`, "clip"},
		{`"clip":{"x":0,"y":0,"width":10,"height":10},"format":"pdf"`, "clip"},
		{`"fail_on_http_status":"404,abc"`, "fail_on_http_status"},
		{`"fail_on_http_status":"600"`, "fail_on_http_status"},
		{`"fail_on_http_status":"500-400"`, "fail_on_http_status"},
	}
	for _, c := range cases {
		_, err := ParseJSON([]byte(`{"url":"https://example.com",`+c.body+`}`), lim)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%.80s: %v, want a %s error", c.body, err, c.field)
		}
	}
}
