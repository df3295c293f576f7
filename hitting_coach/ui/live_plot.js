// The live plots' browser half: run once a served dashboard page's document is ready (a Bokeh
// CustomJS; hitting_coach/ui/dashboard.py). Its args: `sources` {sensor: ColumnDataSource},
// `ranges` (the plots' x ranges), `status` (the status line's Div), `token`, `window_s`,
// `window_points`. It connects to `live.ws` beside the page, streams each frame
// (hitting_coach/web/live.py: encode_frame) into its sources without echoing to the server, and
// reconnects (after 0.5 s, doubling to 5 s) unless told the page's session is gone.
// window.__hc_feed counts frames for tests and benchmarks.
const state = window.__hc_feed = {frames: 0, resets: 0, bytes: 0, closed: null};
const AXES = ["x", "y", "z"];
function empty() {
  return {t: new Float64Array(0), x: new Float32Array(0), y: new Float32Array(0),
          z: new Float32Array(0)};
}
function apply(src, t, cols, reset) {
  if (reset) src.setv({data: empty()}, {sync: false});
  let n = t.length;
  if (n === 0) return;
  let rollover = window_points;
  if (!(window_points > 0)) {
    const shown = src.data.t;
    let newest = t[n - 1];
    if (shown.length && shown[shown.length - 1] > newest) newest = shown[shown.length - 1];
    const cutoff = newest - window_s * 1000;
    let first = 0;
    while (first < n && t[first] < cutoff) first++;
    if (first > 0) {
      t = t.subarray(first);
      for (const c of AXES) cols[c] = cols[c].subarray(first);
      n = t.length;
      if (n === 0) return;
    }
    let kept = 0;
    for (let i = 0; i < shown.length; i++) if (shown[i] >= cutoff) kept++;
    rollover = kept + n;
  }
  src.stream({t: t, x: cols.x, y: cols.y, z: cols.z}, rollover, {sync: false});
}
// The x ranges follow the data in the browser alone: a DataRange1d tells the server each new
// start and end, which with a frame per tick was most of what a tab cost the server. A zoom
// or pan (the user's own change) still goes through as before.
for (const range of ranges) {
  const update = range.update;
  range.update = function (...args) {
    const setv = this.setv;
    this.setv = (attrs, options = {}) => setv.call(this, attrs, {...options, sync: false});
    try { return update.apply(this, args); } finally { this.setv = setv; }
  };
}
function onframe(buf) {
  const view = new DataView(buf);
  const size = view.getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, size)));
  let offset = 4 + size;
  for (const s of head.s) {
    const n = s.n;
    let t;
    if (s.enc === undefined) {  // int32 µs after s.base
      const us = new Int32Array(buf, offset, n);
      t = new Float64Array(n);
      for (let i = 0; i < n; i++) t[i] = s.base + us[i] / 1000;
      offset += 4 * n;
    } else {
      t = new Float64Array(buf.slice(offset, offset + 8 * n));
      offset += 8 * n;
    }
    const cols = {};
    for (const c of AXES) { cols[c] = new Float32Array(buf, offset, n); offset += 4 * n; }
    const src = sources[s.name];
    if (src) apply(src, t, cols, head.reset);
  }
  if (head.status !== undefined && status) status.setv({text: head.status}, {sync: false});
  state.frames += 1;
  state.bytes += buf.byteLength;
  if (head.reset) state.resets += 1;
}
let delay = 500;
function connect() {
  const url = new URL("live.ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = "?token=" + encodeURIComponent(token);
  const ws = state.ws = new WebSocket(url.href);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { delay = 500; };
  ws.onmessage = (event) => onframe(event.data);
  ws.onclose = (event) => {
    if (event.code === 4404 || event.code === 4409) { state.closed = event.code; return; }
    setTimeout(connect, delay);
    delay = Math.min(2 * delay, 5000);
  };
}
connect();
