// The playground: a form built from the service's OpenAPI document. Every
// value is put in the page with textContent or as a property, never as HTML.
"use strict";

// The options the form shows; their types, bounds, enums and defaults come
// from the document.
const COMMON = ["format", "window_width", "window_height", "full_page", "pixel_density", "image_quality",
  "wait_for_network", "delay_capture", "dark_mode", "template", "block_ads", "block_trackers",
  "block_cookie_banners", "block_chats", "timezone", "locale", "response_type",
  "deterministic", "compare_to", "diff_threshold", "fail_on_diff_ratio"];

const $ = (id) => document.getElementById(id);
let schema = {}; // name -> JSON Schema of the option
let blobURL = null;

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

function field(name, s) {
  const id = "opt-" + name;
  const title = s.description || "";
  if (s.type === "boolean") {
    const input = el("input", { type: "checkbox", id, checked: s.default === true, title });
    return el("label", { className: "check", title }, input, name);
  }
  let input;
  if (s.enum) {
    input = el("select", { id, title });
    const def = s.default === undefined ? "" : " (" + s.default + ")";
    input.append(el("option", { value: "", textContent: "default" + def }));
    for (const v of s.enum) input.append(el("option", { value: v, textContent: v }));
  } else if (s.type === "integer" || s.type === "number") {
    input = el("input", { type: "number", id, title, step: s.type === "integer" ? "1" : "any" });
    if (s.minimum !== undefined) input.min = s.minimum;
    if (s.maximum !== undefined) input.max = s.maximum;
    if (s.default !== undefined) input.placeholder = String(s.default);
  } else {
    input = el("input", { type: "text", id, title, spellcheck: false });
    if (s.maxLength) input.maxLength = s.maxLength;
  }
  return el("label", { title }, name, input);
}

// body is the request: the target, and each option the form changed.
function body() {
  const out = {};
  const target = $("target").value;
  out[target] = $(target).value;
  for (const name of Object.keys(schema)) {
    const s = schema[name], input = $("opt-" + name);
    if (s.type === "boolean") {
      if (input.checked !== (s.default === true)) out[name] = input.checked;
    } else if (input.value !== "") {
      out[name] = s.type === "integer" || s.type === "number" ? Number(input.value) : input.value;
    }
  }
  return out;
}

function ext(b) {
  return { jpeg: "jpg", markdown: "md", text: "txt", metadata: "json" }[b.format] || b.format || "png";
}

function curl(b) {
  const json = JSON.stringify(b).replace(/'/g, "'\\''");
  return "curl -H \"Authorization: Bearer $PIXASHOT_TOKEN\" -H 'Content-Type: application/json' \\\n  -d '" +
    json + "' \\\n  -o screenshot." + ext(b) + " " + location.origin + "/capture";
}

function update() {
  $("curl").textContent = curl(body());
}

function showError(msg) {
  const box = $("error");
  box.replaceChildren(msg);
  box.hidden = false;
}

async function capture(ev) {
  ev.preventDefault();
  const b = body();
  $("error").hidden = true;
  $("result").replaceChildren();
  $("status").textContent = "Capturing…";
  $("capture").disabled = true;
  if (blobURL) URL.revokeObjectURL(blobURL);
  blobURL = null;
  try {
    const headers = { "Content-Type": "application/json" };
    const token = $("token").value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    const started = performance.now();
    const resp = await fetch("/capture", { method: "POST", headers, body: JSON.stringify(b), credentials: "omit" });
    const ms = Math.round(performance.now() - started);
    const type = (resp.headers.get("Content-Type") || "").split(";")[0];
    if (!resp.ok) {
      let msg = "HTTP " + resp.status;
      if (type === "application/json") {
        const e = await resp.json();
        msg = e.error_type + ": " + e.message + (e.field ? " (field: " + e.field + ")" : "");
      }
      $("status").textContent = "Failed after " + ms + " ms";
      showError(msg);
      return;
    }
    if (resp.status === 204) {
      $("status").textContent = "Done in " + ms + " ms (response_type empty)";
      return;
    }
    const blob = await resp.blob();
    let done = "Done in " + ms + " ms: " + type + ", " + blob.size + " bytes";
    if (resp.headers.get("X-Diff-Ratio") !== null) {
      done += "; differs from the baseline by " + resp.headers.get("X-Diff-Ratio") + " (" + resp.headers.get("X-Diff-Pixels") + " pixels)";
    }
    if (type.startsWith("image/")) {
      blobURL = URL.createObjectURL(blob);
      const img = el("img", { id: "shot", alt: "capture" });
      img.addEventListener("load", () => {
        $("status").textContent = done + ", " + img.naturalWidth + "×" + img.naturalHeight;
      });
      img.src = blobURL;
      $("result").append(img);
    } else if (type === "application/pdf") {
      blobURL = URL.createObjectURL(blob);
      $("result").append(el("iframe", { id: "shot", src: blobURL, title: "PDF" }));
      $("status").textContent = done;
    } else {
      let text = await blob.text();
      if (type === "application/json") text = JSON.stringify(JSON.parse(text), null, 2);
      $("result").append(el("pre", { id: "shot", textContent: text }));
      $("status").textContent = done;
    }
  } catch (err) {
    $("status").textContent = "";
    showError("The request failed: " + err.message);
  } finally {
    $("capture").disabled = false;
  }
}

// watch creates a monitor of the form's page and options (POST /monitors)
// and shows the answer.
async function watch() {
  const spec = { options: body(), schedule: $("schedule").value.trim() };
  if ($("threshold").value !== "") spec.threshold = Number($("threshold").value);
  $("error").hidden = true;
  $("result").replaceChildren();
  $("status").textContent = "Creating the monitor…";
  try {
    const headers = { "Content-Type": "application/json" };
    const token = $("token").value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch("/monitors", { method: "POST", headers, body: JSON.stringify(spec), credentials: "omit" });
    const answer = await resp.json();
    if (!resp.ok) {
      $("status").textContent = "";
      showError(answer.error_type + ": " + answer.message + (answer.field ? " (field: " + answer.field + ")" : ""));
      return;
    }
    $("status").textContent = "Monitor " + answer.id + " created: GET /monitors/" + answer.id + " lists its runs";
    $("result").append(el("pre", { id: "shot", textContent: JSON.stringify(answer, null, 2) }));
  } catch (err) {
    $("status").textContent = "";
    showError("The request failed: " + err.message);
  }
}

async function init() {
  try {
    const doc = await (await fetch("/openapi.json", { credentials: "omit" })).json();
    const props = doc.components.schemas.CaptureOptions.properties;
    const box = $("options");
    $("loading").remove();
    for (const name of COMMON) {
      if (!props[name]) continue;
      schema[name] = props[name];
      box.append(field(name, props[name]));
    }
  } catch (err) {
    showError("Could not load /openapi.json: " + err.message);
    return;
  }
  $("target").addEventListener("change", () => {
    const html = $("target").value === "html_content";
    $("url").hidden = html;
    $("html_content").hidden = !html;
    update();
  });
  $("form").addEventListener("input", update);
  $("form").addEventListener("change", update);
  $("form").addEventListener("submit", capture);
  $("watch").addEventListener("click", watch);
  $("copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("curl").textContent));
  $("capture").disabled = false;
  $("watch").disabled = false;
  update();
}

init();
