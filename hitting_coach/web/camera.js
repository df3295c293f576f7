// The camera page (/sensor/camera; hitting_coach/web/camera.py): the device's camera recorded
// with MediaRecorder, uploaded one chunk a second as it is recorded, each stamped with the
// server's time. Clock: the page asks camera/time SAMPLES times and keeps the sample with the
// shortest round trip (as NTP does): offset = server time - the midpoint of that round trip,
// good to within half of it. A chunk the server did not acknowledge stays queued and is sent
// again (0.5 s, doubling to 5 s) until it is; chunks go one at a time, in order.
// window.__hc_camera is the page's state, for tests and for a curious coach's console.
"use strict";
(() => {
const SAMPLES = 8;
const TIMESLICE_MS = 1000;
const $ = (id) => document.getElementById(id);
const state = window.__hc_camera = {
  clock: null, video: null, session: null, device: null, type: null,
  recording: false, made: 0, acked: 0, queued: 0, retries: 0, error: "", camera: null,
};
const queue = [];  // {seq, blob, end_ns}
let stream = null, recorder = null, sending = false, backoff = 500;

// The page's clock, in ms (high resolution; Date.now() can step).
const now = () => performance.timeOrigin + performance.now();

async function syncClock() {
  let best = null;
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = now();
    const r = await fetch("camera/time", {cache: "no-store"});
    const t1 = now();
    if (!r.ok) throw new Error(`camera/time: ${r.status} ${await r.text()}`);
    const server_ms = (await r.json()).server_ns / 1e6;
    const sample = {rtt_ms: t1 - t0, offset_ms: server_ms - (t0 + t1) / 2};
    samples.push(sample);
    if (best === null || sample.rtt_ms < best.rtt_ms) best = sample;
  }
  state.clock = {offset_ms: best.offset_ms, rtt_ms: best.rtt_ms, samples: samples.length};
  $("clock").textContent = `clock: ${best.offset_ms >= 0 ? "+" : ""}${best.offset_ms.toFixed(1)} ms ` +
    `from the server's, ±${(best.rtt_ms / 2).toFixed(1)} ms (best of ${samples.length} round trips)`;
  return best;
}

const serverNs = (page_ms) => Math.round((page_ms + state.clock.offset_ms) * 1e6);

function pickType() {
  for (const t of ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm", "video/mp4"]) {
    if (window.MediaRecorder && MediaRecorder.isTypeSupported(t)) return t;
  }
  return "";
}

function show() {
  state.queued = queue.length;
  $("upload").textContent = state.made === 0 ? "" :
    `chunks recorded ${state.made}, stored on the server ${state.acked}` +
    (queue.length ? `, waiting to send ${queue.length}` : "") +
    (state.retries ? ` (${state.retries} sent again)` : "");
  $("error").textContent = state.error;
  const rec = $("record");
  rec.textContent = state.recording ? "■ Stop" : "● Record";
  rec.classList.toggle("on", state.recording);
  rec.disabled = !stream || (!state.recording && !$("device").value);
  const st = $("state");
  st.textContent = state.recording ? "recording" : stream ? "not recording" : st.textContent;
  st.classList.toggle("recording", state.recording);
}

async function devices() {
  try {
    const r = await fetch("swings.json", {cache: "no-store"});
    if (!r.ok) return;
    const names = Object.keys((await r.json()).devices).sort();
    const sel = $("device"), was = sel.value;
    const have = [...sel.options].map((o) => o.value).filter((v) => v);
    if (names.join("\n") !== have.join("\n")) {
      sel.replaceChildren(...(names.length ? names : [""]).map((n) => {
        const o = document.createElement("option");
        o.value = n; o.textContent = n || "(waiting for a phone)";
        return o;
      }));
      if (names.includes(was)) sel.value = was;
    }
  } catch (e) { /* offline for a moment: the next poll tries again */ }
  show();
}

async function send() {
  if (sending) return;
  sending = true;
  try {
    while (queue.length && state.video) {
      const c = queue[0];
      const url = `camera/chunk?video=${encodeURIComponent(state.video)}` +
        `&session=${encodeURIComponent(state.session)}&seq=${c.seq}&end_ns=${c.end_ns}`;
      let r;
      try {
        r = await fetch(url, {method: "POST", body: c.blob, headers: {"Content-Type": state.type}});
      } catch (e) {
        r = null;  // the connection is down: keep the chunk, try again
      }
      if (r && r.ok) {
        queue.shift();
        state.acked = c.seq + 1;
        backoff = 500;
        show();
        continue;
      }
      if (r && r.status < 500 && r.status !== 401 && r.status !== 408 && r.status !== 429) {
        const body = await r.json().catch(() => ({}));
        state.error = `the server refused the video: ${body.error || r.status}`;
        queue.length = 0;
        if (state.recording) stop();
        show();
        return;
      }
      state.retries += 1;
      state.error = r ? `the server could not store a chunk (${r.status}); trying again` :
        "no connection to the server; the video is kept here and sent when it is back";
      show();
      await new Promise((ok) => setTimeout(ok, backoff));
      backoff = Math.min(2 * backoff, 5000);
    }
    if (!queue.length) state.error = "";
  } finally {
    sending = false;
    show();
  }
}

async function start() {
  const device = $("device").value;
  if (!device || !stream) return;
  state.error = "";
  await syncClock();
  const type = pickType();
  recorder = new MediaRecorder(stream, type ? {mimeType: type} : {});
  state.type = (recorder.mimeType || type || "video/webm").toString();
  Object.assign(state, {recording: true, made: 0, acked: 0, retries: 0, video: null,
                        device, session: null});
  queue.length = 0;
  // the start event comes later than start(), by as much as the page is busy
  const begun = new Promise((ok) => { recorder.onstart = ok; });
  recorder.ondataavailable = (e) => {
    if (!e.data || !e.data.size) return;
    queue.push({seq: state.made, blob: e.data, end_ns: serverNs(now())});
    state.made += 1;
    show();
    send();
  };
  recorder.onstop = () => { state.recording = false; show(); };
  const first = firstFrame(performance.now());
  recorder.start(TIMESLICE_MS);
  show();
  await begun;
  const started_ms = await first;
  const r = await fetch("camera/start", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({device, type: state.type, started_ns: serverNs(started_ms),
                          clock: state.clock, camera: state.camera}),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    state.error = `cannot record: ${body.error || r.status}`;
    stop();
    queue.length = 0;
    show();
    return;
  }
  state.video = body.video;
  state.session = body.session;
  send();
}

// The video's time 0, on the page's clock. The recorder's first frame is the last the camera
// gave before start() or the first after it (which, the browser does not say): time 0 is
// midway between their capture times, so it is off by at most half a frame. A page that cannot
// tell (no requestVideoFrameCallback, or the preview not drawn) takes the start() call itself.
let lastCapture = null;  // capture time of the newest frame the preview presented
function watchFrames() {
  const v = $("preview");
  if (!v.requestVideoFrameCallback) return;
  const seen = (t, m) => {
    lastCapture = {shown: m.presentationTime ?? t, captured: m.captureTime ?? null};
    v.requestVideoFrameCallback(seen);
  };
  v.requestVideoFrameCallback(seen);
}

function firstFrame(after) {
  const v = $("preview");
  const before = lastCapture && lastCapture.shown < after ? lastCapture.captured : null;
  return new Promise((ok) => {
    const fallback = () => ok(performance.timeOrigin + after);
    if (!v.requestVideoFrameCallback) { fallback(); return; }
    const timer = setTimeout(fallback, 1000);
    const seen = (t, m) => {
      if ((m.presentationTime ?? t) < after) { v.requestVideoFrameCallback(seen); return; }
      clearTimeout(timer);
      const next = m.captureTime;
      if (next == null) { fallback(); return; }
      ok(performance.timeOrigin + (before != null && before < next ? (before + next) / 2 : next));
    };
    v.requestVideoFrameCallback(seen);
  });
}

function stop() {
  // recording stays true until the recorder's stop event, after its last chunk
  if (recorder && recorder.state !== "inactive") recorder.stop();
  else state.recording = false;
  show();
}

async function openCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: {facingMode: {ideal: "environment"}, width: {ideal: 1280}, height: {ideal: 720},
              frameRate: {ideal: 30}},
    });
  } catch (e) {
    $("state").textContent = `no camera: ${e.name}: ${e.message}`;
    $("state").classList.add("error");
    return;
  }
  $("preview").srcObject = stream;
  watchFrames();
  const s = stream.getVideoTracks()[0].getSettings();
  state.camera = {width: s.width, height: s.height, fps: s.frameRate, facing: s.facingMode || ""};
  $("camera").textContent = `camera: ${s.width}×${s.height} at ${s.frameRate} frames/s` +
    (s.facingMode ? ` (${s.facingMode})` : "");
  show();
}

$("record").addEventListener("click", () => (state.recording ? stop() : start()));
$("device").addEventListener("change", show);
window.addEventListener("online", send);
openCamera();
syncClock().catch((e) => { state.error = String(e); show(); });
devices();
setInterval(devices, 3000);
setInterval(send, 2000);  // a chunk left waiting (offline) goes as soon as it can
})();
