package browser

import "github.com/chromedp/chromedp"

// Hardening are the flags that keep every byte of browser traffic on the
// egress guard and keep Chrome quiet on a closed network (exported for the
// benchmark, which measures what they cost).
func Hardening(proxyURL string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		// Every request goes to the guard. "<-loopback>" removes Chrome's
		// implicit bypass for localhost, 127/8, [::1] and 169.254/16, which
		// would otherwise go DIRECT (the metadata server among them).
		chromedp.Flag("proxy-server", proxyURL),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		// Chrome resolves nothing itself; the guard resolves and pins. The
		// guard's own address must stay exempt, or no proxy can be reached.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		// UDP cannot go through an HTTP proxy: no QUIC, and WebRTC only via
		// the proxy (two spellings: different builds read different ones).
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		chromedp.Flag("webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		// chromedp turns popup blocking off; a page must not open targets.
		chromedp.Flag("disable-popup-blocking", false),
		// Quiet on a closed network, and nothing that phones home.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("deny-permission-prompts", true),
	}
}
