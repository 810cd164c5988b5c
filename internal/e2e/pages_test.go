package e2e

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/websocket"
)

// pages are the test sites. Every request is counted by path, with its headers.
func (e *env) pages() http.Handler {
	mux := http.NewServeMux()
	page := func(path, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		})
	}
	// The webhook receiver: records each delivery; ?fail=N answers 503 to
	// the first N tries of each message.
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		e.mu.Lock()
		tries := 0
		for _, h := range e.hooks {
			if h.header.Get("webhook-id") == r.Header.Get("webhook-id") {
				tries++
			}
		}
		e.hooks = append(e.hooks, hook{header: r.Header.Clone(), body: body})
		e.mu.Unlock()
		if n, _ := strconv.Atoi(r.URL.Query().Get("fail")); tries < n {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	// A page a monitor watches (monitor_test.go): a block of the colour the
	// test set for its key, or a 500 for "down".
	mux.HandleFunc("/watched/", func(w http.ResponseWriter, r *http.Request) {
		c, _ := e.watched.Load(strings.TrimPrefix(r.URL.Path, "/watched/"))
		if c == "down" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<body style="margin:0;background:#fff"><div style="width:100px;height:50px;background:#%s"></div></body>`, c)
	})
	// Everything that moves by itself (visual_test.go): CSS animations
	// finite and infinite, a transition, a Web Animation, a frame loop on
	// performance.now, a blinking caret, a clock to the millisecond,
	// Math.random colours and an SVG animation.
	page("/moving", `<html><head><style>
		body{margin:0;font:16px sans-serif}
		@keyframes spin{to{transform:rotate(360deg)}} @keyframes fade{from{opacity:0}to{opacity:1}}
		#spin{position:absolute;left:10px;top:10px;width:80px;height:80px;background:#c00;animation:spin 1s linear infinite}
		#fade{position:absolute;left:110px;top:10px;width:80px;height:80px;background:#00c;animation:fade 3s}
		#grow{position:absolute;left:210px;top:10px;width:10px;height:80px;background:#0a0;transition:width 3s linear}
		#wa{position:absolute;left:10px;top:110px;width:80px;height:80px;background:#a0a}
		#raf{position:absolute;left:0;top:210px;width:40px;height:40px;background:#088}
		.rnd{display:inline-block;width:40px;height:40px}
		</style></head><body>
		<div id="spin"></div><div id="fade"></div><div id="grow"></div><div id="wa"></div><div id="raf"></div>
		<div style="position:absolute;left:10px;top:270px"><span class="rnd"></span><span class="rnd"></span><span class="rnd"></span></div>
		<div id="clock" style="position:absolute;left:10px;top:330px"></div>
		<input id="in" autofocus value="typing here" style="position:absolute;left:10px;top:370px">
		<video id="vid" muted loop style="position:absolute;left:420px;top:10px;width:160px;height:90px"></video>
		<svg style="position:absolute;left:300px;top:10px" width="100" height="100"><circle cx="50" cy="50" r="10" fill="#f80">
		<animate attributeName="r" from="10" to="45" dur="1s" repeatCount="indefinite"/></circle></svg>
		<script>
		document.getElementById("wa").animate([{transform:"translateX(0)"},{transform:"translateX(200px)"}], {duration:700, iterations:Infinity});
		requestAnimationFrame(() => { document.getElementById("grow").style.width = "300px"; });
		const t0 = performance.now();
		(function loop() { document.getElementById("raf").style.left = ((performance.now() - t0) / 5 % 400) + "px"; requestAnimationFrame(loop); })();
		for (const s of document.querySelectorAll(".rnd")) s.style.background = "hsl(" + Math.floor(Math.random() * 360) + ",80%,50%)";
		setInterval(() => { const d = new Date(); document.getElementById("clock").textContent = d.toISOString(); document.title = d.toISOString(); }, 5);
		document.getElementById("in").focus();
		// A video, recorded here from a canvas that changes colour each
		// frame (no file to fetch), then looped; ready once it can play.
		(() => {
			const c = document.createElement("canvas"); c.width = 160; c.height = 90;
			const g = c.getContext("2d"), chunks = [];
			const rec = new MediaRecorder(c.captureStream(30), { mimeType: "video/webm" });
			rec.ondataavailable = (e) => chunks.push(e.data);
			rec.onstop = () => {
				const v = document.getElementById("vid");
				v.oncanplay = () => { document.body.dataset.video = "ready"; };
				v.src = URL.createObjectURL(new Blob(chunks, { type: "video/webm" }));
				v.play();
			};
			let f = 0;
			const draw = () => { g.fillStyle = "hsl(" + (f * 24 % 360) + ",80%,50%)"; g.fillRect(0, 0, 160, 90); if (++f < 20) setTimeout(draw, 33); else rec.stop(); };
			rec.start(); draw();
		})();
		</script></body></html>`)
	// Boxes to mask: one in the viewport, one far below it.
	page("/masked", `<html><body style="margin:0;background:#fff;height:4000px">
		<div id="top" style="position:absolute;left:50px;top:50px;width:100px;height:60px;background:#f00"></div>
		<div class="ad" style="position:absolute;left:50px;top:3000px;width:100px;height:60px;background:#f00"></div>
		</body></html>`)
	// A page and its stylesheet (which paints it blue) that record the
	// address each request came from (X-Test-Peer): the proxy tests.
	mux.HandleFunc("/proxied", func(w http.ResponseWriter, r *http.Request) {
		e.hitFrom(r)
		fmt.Fprint(w, `<html><head><link rel="stylesheet" href="/proxied.css"></head><body style="margin:0"></body></html>`)
	})
	mux.HandleFunc("/proxied.css", func(w http.ResponseWriter, r *http.Request) {
		e.hitFrom(r)
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, `body{background:#0000ff}`)
	})
	// A page that opens a WebSocket to its own host and turns green when
	// the server's message arrives.
	page("/proxied-ws", `<html><body style="margin:0;background:#fff"><script>
		const ws = new WebSocket("ws://" + location.host + "/ws");
		ws.onmessage = (m) => { if (m.data === "hello") { document.body.style.background = "#00ff00"; document.body.dataset.ws = "done"; } };
		</script></body></html>`)
	mux.Handle("/ws", websocket.Server{Handler: func(ws *websocket.Conn) {
		e.hitFrom(ws.Request())
		io.WriteString(ws, "hello") //nolint:errcheck // the page may be gone
		io.Copy(io.Discard, ws)     //nolint:errcheck // until the page closes it
	}})
	// A page whose subresources the guard refuses (a loopback name, the
	// metadata server), recording what the service sent it.
	mux.HandleFunc("/traced", func(w http.ResponseWriter, r *http.Request) {
		e.hit(r.URL.Path, r.Header)
		fmt.Fprintf(w, `<html><body style="margin:0;background:#00ff00"><img src="http://secret.test:%d/x"><img src="http://meta.test:%d/y"></body></html>`,
			e.port, e.port)
	})
	// Links of every kind, and a script that makes anchors lie to the
	// page's own world.
	page("/links", `<html><head><base href="/docs/"></head><body>
		<a href="intro.html" rel="next">Intro  <b>page</b></a>
		<a href="https://www.example.org/x?q=1">Example</a>
		<a href="http://sub.page.test/y">Same site, other host</a>
		<a href="mailto:a@example.org">Mail</a>
		<map name="m"><area href="/area" alt="An area"></map>
		<script>
		Object.defineProperty(HTMLAnchorElement.prototype, "href", {get() { return "https://evil.example/" }});
		document.querySelectorAll("a").forEach(a => a.setAttribute("data-x", "1"));
		</script></body></html>`)
	// Structured data: a block, an array, one that is not JSON, and one a
	// script adds.
	page("/structured", `<html><head>
		<script type="application/ld+json">{"@context":"https://schema.org","@type":"Article","headline":"Tides"}</script>
		<script type="application/ld+json">[{"@type":"Person","name":"Ada"},{"@type":"Place","name":"Harbour"}]</script>
		<script type="application/ld+json">{not json</script>
		</head><body><script>
		const s = document.createElement("script"); s.type = "application/ld+json";
		s.textContent = JSON.stringify({"@type": "Event", "name": "Spring tide"}); document.head.appendChild(s);
		</script></body></html>`)
	mux.HandleFunc("/color", func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("c")
		if strings.Trim(c, "0123456789abcdef") != "" {
			c = "000000"
		}
		fmt.Fprintf(w, `<html><body style="margin:0;background:#%s"></body></html>`, c)
	})
	// 20000 px: red for the first 10000, blue for the rest; taller than the
	// 16384 px texture limit that breaks naive full-page captures.
	page("/tall", `<html><body style="margin:0"><div style="height:10000px;background:#ff0000"></div><div style="height:10000px;background:#0000ff"></div></body></html>`)
	page("/element", `<html><body style="margin:0;background:#ffffff"><div id="box" style="position:absolute;left:50px;top:1500px;width:200px;height:100px;background:#00ff00"></div></body></html>`)
	page("/delayed", `<html><body style="margin:0;background:#ffffff"><script>
		setTimeout(() => { const d = document.createElement("div"); d.id = "late"; d.textContent = "arrived";
		d.style = "width:100px;height:100px;background:#00ff00"; document.body.appendChild(d); }, 700);
	</script></body></html>`)
	// A form whose submit navigates (the original's "Complex Sequences"), and
	// a link that does.
	page("/form", `<html><body style="margin:0;background:#ff0000"><form action="/submitted" method="get">
		<input id="username" name="username"><button id="submit" type="submit" style="width:80px;height:30px">Go</button></form>
		<a id="link" href="/submitted?via=link" style="display:block;width:80px;height:30px">link</a></body></html>`)
	mux.HandleFunc("/submitted", func(w http.ResponseWriter, r *http.Request) {
		e.hit("/submitted", r.Header)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><body style="margin:0;background:#00ff00"><p id="done">got %s</p></body></html>`, html.EscapeString(r.URL.RawQuery))
	})
	page("/preview", previewPage)
	page("/dark", `<html><head><style>body{margin:0;background:#ffffff} @media (prefers-color-scheme: dark){body{background:#000000}}</style></head><body></body></html>`)
	page("/media", `<html><body style="margin:0;background:#ffffff"><img src="/asset/image.png" width="10" height="10"><video src="/asset/video.mp4"></video><p id="ok">text</p></body></html>`)
	// Red until a request made 100 ms after load answers (300 ms later), then
	// green: network activity that starts while a capture is being taken.
	page("/late-fetch", `<html><body style="margin:0;background:#ff0000"><script>
		addEventListener("load", () => setTimeout(() => fetch("/slow").then(r => r.text()).then(() => {
			document.body.style.background = "#00ff00"; }), 100));
	</script></body></html>`)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/counted", func(w http.ResponseWriter, r *http.Request) {
		e.hit(r.URL.Path, r.Header)
		fmt.Fprint(w, `<html><body style="margin:0;background:#336699"></body></html>`)
	})
	mux.HandleFunc("/asset/", func(w http.ResponseWriter, r *http.Request) {
		e.hit(r.URL.Path, r.Header)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0})
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		e.hit(r.URL.Path, r.Header)
		// The page also loads a script from another origin (the same server
		// by another name); custom headers must not reach it.
		fmt.Fprintf(w, `<html><body><script src="http://page.test:%d/third-party.js"></script></body></html>`, e.port)
	})
	mux.HandleFunc("/third-party.js", func(w http.ResponseWriter, r *http.Request) {
		e.hit(r.URL.Path, r.Header)
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, "window.third = 1;")
	})
	page("/interact", `<html><body style="margin:0;background:#ffffff">
		<button id="b" style="width:200px;height:50px" onclick="document.body.style.background='#0000ff'">go</button>
		<input id="in" oninput="document.getElementById('echo').textContent=this.value">
		<div id="hov" style="width:100px;height:100px" onmouseover="this.dataset.hovered='yes'"></div>
		<p id="echo"></p><div style="height:3000px"></div><div id="bottom">bottom</div>
		<script>window.addEventListener('scroll', () => { document.body.dataset.scrolled = String(window.scrollY); });</script>
	</body></html>`)
	page("/geo", `<html><body><p id="out">waiting</p><script>
		navigator.geolocation.getCurrentPosition(
			p => document.getElementById('out').textContent = 'lat=' + p.coords.latitude + ' lon=' + p.coords.longitude,
			e => document.getElementById('out').textContent = 'error ' + e.code);
	</script></body></html>`)
	page("/cookie-set", `<html><body><script>document.cookie = "session=leaked; max-age=3600"; localStorage.setItem("k", "leaked");</script></body></html>`)
	page("/cookie-read", `<html><body><p id="c"></p><script>
		document.getElementById('c').textContent = 'cookie=[' + document.cookie + '] storage=[' + localStorage.getItem('k') + ']';
	</script></body></html>`)
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		e.hit("/hang", r.Header)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	page("/slow-subresource", `<html><body><img src="/hang"></body></html>`)
	page("/as-local-file", localPage)
	page("/script", `<html><body><p id="p">server</p><script>document.getElementById('p').textContent = 'built by script';</script></body></html>`)
	page("/pages", `<html><body style="margin:0">`+strings.Repeat(`<div style="height:100px;page-break-after:always">page</div>`, 3)+`</body></html>`)
	page("/anim", `<html><head><style>
		@keyframes go { from { background: #ff0000 } to { background: #00ff00 } }
		#a { width: 100px; height: 100px; background: #00ff00; animation: go 600ms linear 1; }
	</style></head><body style="margin:0"><div id="a"></div></body></html>`)
	mux.HandleFunc("/ua", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><p id="ua">%s</p></body></html>`, html.EscapeString(r.UserAgent()))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if code == 0 {
			code = http.StatusFound
		}
		http.Redirect(w, r, r.URL.Query().Get("to"), code)
	})
	mux.HandleFunc("/navigate", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		switch r.URL.Query().Get("how") {
		case "meta":
			fmt.Fprintf(w, `<html><head><meta http-equiv="refresh" content="0;url=%s"></head><body>meta</body></html>`, html.EscapeString(to))
		default:
			fmt.Fprintf(w, `<html><body><script>location.href = %q;</script></body></html>`, to)
		}
	})
	mux.HandleFunc("/vector", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, vectorPage(r.URL.Query().Get("kind"), r.URL.Query().Get("t")))
	})
	e.cleanPages(mux)
	return mux
}

// vectorPage makes the page reach target in the way kind names, and write
// whatever comes back into the document, where a capture would show it.
func vectorPage(kind, target string) string {
	t := strings.ReplaceAll(target, `"`, "")
	show := `document.body.insertAdjacentText('beforeend', String(x))`
	var inner string
	switch kind {
	case "img":
		inner = `<img src="` + t + `">`
	case "iframe":
		// The whole viewport, so a screenshot shows what it loaded.
		inner = `<iframe src="` + t + `" style="position:fixed;inset:0;width:100%;height:100%;border:0"></iframe>`
	case "script":
		inner = `<script src="` + t + `"></script>`
	case "style":
		inner = `<link rel="stylesheet" href="` + t + `">`
	case "font":
		inner = `<style>@font-face{font-family:x;src:url(` + t + `)} body{font-family:x}</style>text`
	case "import":
		inner = `<style>@import url(` + t + `);</style>`
	case "prefetch":
		inner = `<link rel="prefetch" href="` + t + `"><link rel="preconnect" href="` + t + `">`
	case "fetch":
		inner = `<script>fetch("` + t + `").then(r => r.text()).then(x => ` + show + `).catch(() => {});</script>`
	case "xhr":
		inner = `<script>const q = new XMLHttpRequest(); q.onload = () => { const x = q.responseText; ` + show + ` }; q.open("GET", "` + t + `"); q.send();</script>`
	case "beacon":
		inner = `<script>navigator.sendBeacon("` + t + `", "x");</script>`
	case "ws":
		inner = `<script>try { new WebSocket("` + strings.Replace(t, "http", "ws", 1) + `"); } catch (e) {}</script>`
	case "eventsource":
		inner = `<script>new EventSource("` + t + `").onmessage = (m) => { const x = m.data; ` + show + ` };</script>`
	case "worker":
		inner = `<script>const w = new Worker(URL.createObjectURL(new Blob(['fetch("` + t + `").then(r => r.text()).then(x => postMessage(x)).catch(() => {})'])));
			w.onmessage = (m) => { const x = m.data; ` + show + ` };</script>`
	case "popup":
		inner = `<script>window.open("` + t + `");</script>`
	case "webrtc":
		// A valid STUN/TURN server address (host:port, no path), or the
		// constructor throws and the case proves nothing.
		hostport := t
		if u, err := url.Parse(t); err == nil && u.Host != "" {
			hostport = u.Host
		}
		inner = `<script>try { const pc = new RTCPeerConnection({iceServers: [{urls: ["stun:` + hostport + `", "turn:` + hostport + `?transport=udp"], username: "u", credential: "p"}]});
			pc.createDataChannel("x"); pc.createOffer().then(o => pc.setLocalDescription(o));
			document.body.append("rtc-started"); } catch (e) { document.body.append("rtc-threw: " + e); }</script>`
	}
	return `<html><body>` + inner + `</body></html>`
}
