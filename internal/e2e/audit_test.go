package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pixashot/pixashot-cloudrun/internal/audit/fakelogging"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
)

func TestAuditTrailReachesCloudLogging(t *testing.T) {
	fake, err := fakelogging.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Stop()
	e := own(t, func(c *config.Config) {
		c.AuditProject = "audit-proj"
		c.LoggingEndpoint = fake.Addr
		c.TrustedHops = 1 // as behind the load balancer, which appends the client and itself
	})
	ok := e.capture(t, opts{"url": e.page + "/color?c=ff0000", "window_width": 20, "window_height": 20})
	if ok.status != 200 {
		t.Fatalf("%d %s", ok.status, ok.body)
	}
	req, _ := http.NewRequest("POST", e.svc.URL+"/capture", strings.NewReader(`{"url":"http://127.0.0.2/"}`))
	req.Header.Set("Authorization", "Bearer wrong-"+e.token)
	req.Header.Set("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
	req.Header.Set("X-Cloud-Trace-Context", "0123456789abcdef0123456789abcdef/42;o=1")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	e.app.Close() // flushes the batched entries
	// The request log line is in Cloud Logging's stdout shape, with the trace.
	for _, want := range []string{`"httpRequest":{"requestMethod":"POST","requestUrl":"/capture","status":403`,
		`"remoteIp":"198.51.100.7"`, `"logging.googleapis.com/trace":"projects/audit-proj/traces/0123456789abcdef0123456789abcdef"`} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("request log has no %s", want)
		}
	}

	var texts []string
	deadline := time.Now().Add(5 * time.Second)
	for len(texts) < 2 && time.Now().Before(deadline) {
		texts = texts[:0]
		for _, en := range fake.Entries() {
			// The library also writes one instrumentation entry of its own.
			if en.GetLogName() == "projects/audit-proj/logs/pixashot-audit" {
				b, _ := protojson.Marshal(en)
				texts = append(texts, string(b))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(texts) != 2 {
		t.Fatalf("%d audit entries, want 2: %v", len(texts), texts)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{`"client":"dev"`, `"key_version":"static-1"`, `"route":"POST /capture"`, `"outcome":"allowed"`,
		`"status":200`, `"target_host":"127.0.0.2:`, `"caller_ip":"127.0.0.1"`, `"outcome":"denied"`, `"reason":"unknown_token"`,
		`"status":403`, `"caller_ip":"198.51.100.7"`} {
		if !strings.Contains(all, want) {
			t.Errorf("no %s in the audit entries:\n%s", want, all)
		}
	}
	if strings.Contains(all, e.token) || strings.Contains(all, "/color") {
		t.Errorf("a token or a target path reached the audit log:\n%s", all)
	}
}
