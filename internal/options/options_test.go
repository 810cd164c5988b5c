package options

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

var lim = Limits{MaxTimeout: 60 * time.Second}

func TestDefaultsAndTemplates(t *testing.T) {
	o, err := ParseJSON([]byte(`{"url":"https://example.com"}`), lim)
	if err != nil {
		t.Fatal(err)
	}
	if o.Format != "png" || o.WindowWidth != 1920 || o.WindowHeight != 1080 || o.PixelDensity != 1 ||
		o.ImageQuality != 90 || o.WaitForTimeout != 8*time.Second || o.WaitForNetwork != "idle" ||
		o.ResponseType != "by_format" || o.IgnoreHTTPSErrors || !o.PDF.PrintBackground || o.PDF.Format != "A4" {
		t.Errorf("defaults: %+v", o)
	}
	// The default wait never exceeds a short deployment deadline.
	o, err = ParseJSON([]byte(`{"url":"https://example.com"}`), Limits{MaxTimeout: 2 * time.Second})
	if err != nil || o.WaitForTimeout != 2*time.Second {
		t.Errorf("default wait under a 2s deadline: %v %v", o, err)
	}
	// A preset fills only what the request left unset.
	o, err = ParseJSON([]byte(`{"url":"https://example.com","template":"mobile","window_width":400}`), lim)
	if err != nil {
		t.Fatal(err)
	}
	if o.WindowWidth != 400 || o.WindowHeight != 667 || o.PixelDensity != 2 || o.UserAgentDevice != "mobile" || o.UserAgentPlatform != "ios" {
		t.Errorf("mobile template: %+v", o)
	}
	o, _ = ParseJSON([]byte(`{"url":"https://example.com","template":"article_pdf"}`), lim)
	if o.Format != "pdf" || !o.FullPage || !o.BlockMedia || o.PDF.Format != "A4" {
		t.Errorf("article_pdf template: %+v", o)
	}
	o, _ = ParseJSON([]byte(`{"url":"https://example.com","template":"desktop_full","format":"jpeg"}`), lim)
	if o.Format != "jpeg" || !o.FullPage || o.PixelDensity != 2 {
		t.Errorf("desktop_full template: %+v", o)
	}
	o, _ = ParseJSON([]byte(`{"url":"https://example.com","format":"pdf","pdf_width":"210mm","pdf_height":"11in","pdf_format":"letter"}`), lim)
	if o.PDF.Format != "Letter" || o.PDF.Height != 11 || o.PDF.Width < 8.26 || o.PDF.Width > 8.27 {
		t.Errorf("pdf sizes: %+v", o.PDF)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	cases := []struct{ body, field string }{
		{`{}`, "url"},
		{`{"url":"https://a.example","html_content":"<p>"}`, "url"},
		{`{"url":"file:///etc/passwd"}`, "url"},
		{`{"url":"FILE:///etc/passwd"}`, "url"},
		{`{"url":"view-source:http://169.254.169.254/"}`, "url"},
		{`{"url":"data:text/html,<script>1</script>"}`, "url"},
		{`{"url":"javascript:alert(1)"}`, "url"},
		{`{"url":"chrome://version"}`, "url"},
		{`{"url":" file:///etc/passwd"}`, "url"},
		{`{"url":"http://allowed.example@127.0.0.1/"}`, "url"},
		{`{"url":"http://127.0.0.1\\@allowed.example/"}`, "url"},
		{`{"url":"http:///nohost"}`, "url"},
		{`{"url":"https://a.example","bogus":1}`, "bogus"},
		{`{"url":"https://a.example","window_width":"wide"}`, "window_width"},
		{`{"url":"https://a.example","window_width":0}`, "window_width"},
		{`{"url":"https://a.example","window_height":20000}`, "window_height"},
		{`{"url":"https://a.example","pixel_density":0}`, "pixel_density"},
		{`{"url":"https://a.example","pixel_density":9}`, "pixel_density"},
		{`{"url":"https://a.example","image_quality":101}`, "image_quality"},
		{`{"url":"https://a.example","format":"gif"}`, "format"},
		{`{"url":"https://a.example","wait_for_timeout":0}`, "wait_for_timeout"},
		{`{"url":"https://a.example","wait_for_timeout":600000}`, "wait_for_timeout"},
		{`{"url":"https://a.example","delay_capture":-1}`, "delay_capture"},
		{`{"url":"https://a.example","wait_for_network":"busy"}`, "wait_for_network"},
		{`{"url":"https://a.example","full_page":"yes"}`, "full_page"},
		{`{"url":"https://a.example","pdf_scale":5}`, "pdf_scale"},
		{`{"url":"https://a.example","pdf_format":"A0"}`, "pdf_format"},
		{`{"url":"https://a.example","pdf_width":"wide"}`, "pdf_width"},
		{`{"url":"https://a.example","pdf_page_ranges":"1-x"}`, "pdf_page_ranges"},
		{`{"url":"https://a.example","custom_headers":{"Host":"metadata.google.internal"}}`, "custom_headers"},
		{`{"url":"https://a.example","custom_headers":{"Metadata-Flavor":"Google"}}`, "custom_headers"},
		{`{"url":"https://a.example","custom_headers":{"X-Google-Metadata-Request":"True"}}`, "custom_headers"},
		{`{"url":"https://a.example","custom_headers":{"Connection":"close"}}`, "custom_headers"},
		{`{"url":"https://a.example","custom_headers":{"Bad:Name":"x"}}`, "custom_headers"},
		{`{"url":"https://a.example","custom_headers":{"X-A":"a\r\nHost: b"}}`, "custom_headers"},
		{`{"url":"https://a.example","user_agent_device":"tv"}`, "user_agent_device"},
		{`{"url":"https://a.example","user_agent_browser":"opera"}`, "user_agent_browser"},
		{`{"url":"https://a.example","template":"poster"}`, "template"},
		{`{"url":"https://a.example","geolocation":{"latitude":91,"longitude":0}}`, "geolocation.latitude"},
		{`{"url":"https://a.example","geolocation":{"latitude":0,"longitude":-181}}`, "geolocation.longitude"},
		{`{"url":"https://a.example","interactions":[{"action":"dance"}]}`, "interactions[0].action"},
		{`{"url":"https://a.example","interactions":[{"action":"click"}]}`, "interactions[0].selector"},
		{`{"url":"https://a.example","interactions":[{"action":"wait_for","wait_for":{"type":"timeout","value":"x"}}]}`, "interactions[0].wait_for.value"},
		{`{"url":"https://a.example","interactions":[{"action":"wait_for"}]}`, "interactions[0].wait_for"},
		{`{"url":"https://a.example","response_type":"xml"}`, "response_type"},
		{`{"url":"https://a.example","cache_ttl":-5}`, "cache_ttl"},
		{`{"url":"https://a.example"} {"x":1}`, "body"},
		{`[1,2]`, "body"},
		{`{"url":`, "body"},
		{``, "body"},
	}
	for _, c := range cases {
		_, err := ParseJSON([]byte(c.body), lim)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a field error", c.body, err)
			continue
		}
		if fe.Field != c.field || fe.Reason == "" {
			t.Errorf("%s: field %q (%s), want %q", c.body, fe.Field, fe.Reason, c.field)
		}
	}
}

func TestQueryForm(t *testing.T) {
	q := url.Values{"url": {"https://a.example"}, "window_width": {"800"}, "full_page": {"true"},
		"pixel_density": {"1.5"}, "custom_headers": {`{"X-A":"b"}`}}
	o, err := ParseQuery(q, lim)
	if err != nil {
		t.Fatal(err)
	}
	if o.WindowWidth != 800 || !o.FullPage || o.PixelDensity != 1.5 || o.CustomHeaders["X-A"] != "b" {
		t.Errorf("query options: %+v", o)
	}
	for name, bad := range map[string]string{"window_width": "wide", "full_page": "maybe", "nope": "1", "custom_headers": "{"} {
		_, err := ParseQuery(url.Values{"url": {"https://a.example"}, name: {bad}}, lim)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s=%s: %v", name, bad, err)
		}
	}
}

// A proxy's credentials never ride in a query string, which is logged on
// its way; its other faults name the field without repeating the value.
func TestProxyOption(t *testing.T) {
	const pw = "pw-never-echoed-271"
	if _, err := ParseQuery(url.Values{"url": {"https://a.example"}, "proxy": {"http://u:" + pw + "@p.example:3128"}}, lim); err == nil ||
		!strings.Contains(err.Error(), "proxy") || strings.Contains(err.Error(), pw) {
		t.Errorf("credentials in a query: %v", err)
	}
	o, err := ParseQuery(url.Values{"url": {"https://a.example"}, "proxy": {"socks5://p.example"}}, lim)
	if err != nil || o.Proxy != "socks5://p.example" {
		t.Errorf("%v %v", o, err)
	}
	for _, bad := range []string{"ftp://u:" + pw + "@p.example", "http://u:" + pw + "@p.example/x", "http://u:" + pw + "@p.example:99999", "http://u:" + pw + "@"} {
		_, err := ParseJSON([]byte(`{"url":"https://a.example","proxy":"`+bad+`"}`), lim)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "proxy" || strings.Contains(err.Error(), pw) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// The cache keys on the proxy and its credentials, never in clear.
	a, _ := ParseJSON([]byte(`{"url":"https://a.example","proxy":"http://u:`+pw+`@p.example:3128"}`), lim)
	b, _ := ParseJSON([]byte(`{"url":"https://a.example","proxy":"http://u:other@p.example:3128"}`), lim)
	if strings.Contains(string(a.Normalized()), pw) || string(a.Normalized()) == string(b.Normalized()) {
		t.Errorf("normalized: %s", a.Normalized())
	}
}

// The client reads field and reason as one sentence.
func TestTargetMessagesRead(t *testing.T) {
	for body, want := range map[string]string{
		`{}`: "url is missing (validation error): Either url or html_content must be provided",
		`{"url":"https://a.example","html_content":"<p>"}`: "url and html_content cannot both be given",
	} {
		_, err := ParseJSON([]byte(body), lim)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field+" "+fe.Reason != want {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}
