// The status page's stylesheet and script (raw string literals: the page is one document), and
// its Content-Security-Policy. The script reads /status/live every 2 s and fills the cells the
// server rendered (rows by data-k, cells by data-f): rates, ratios and latency percentiles over
// the last interval (from two successive documents), sparklines of the last 5 minutes (kept in
// the page only). It writes text with textContent and builds SVG with DOM calls - never markup
// from data. A new configuration generation reloads the page (its rows come from the
// configuration).
#include "http/status_page/assets.h"

#include <openssl/evp.h>

#include "core/base64.h"

namespace gw::http::status_page {

namespace {

constexpr std::string_view kStyle = R"CSS(
:root{--fg:#1d2330;--muted:#5c6577;--bg:#f6f7f9;--card:#fff;--line:#dde1e8;--up:#1a7f37;--down:#c62828;--warn:#b26a00;--accent:#2457c5}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 24px;background:var(--card);border-bottom:1px solid var(--line)}
h1{margin:0 0 4px;font-size:20px}
h1 .version{color:var(--muted);font-weight:normal}
h2{margin:0 0 8px;font-size:16px}
.meta,.totals{margin:2px 0}
.note{margin:6px 0 0;color:var(--muted);font-size:12px}
main{padding:12px 24px;display:flex;flex-direction:column;gap:16px}
section{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:12px 16px;overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:0 0 8px}
caption{text-align:left;color:var(--muted);padding:4px 0}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:12px}
.n{text-align:right;font-variant-numeric:tabular-nums}
td.name{font-weight:600}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#e8eaef}
.b-up,.b-closed,.b-ready,.b-yes{background:#dcf3e2;color:var(--up)}
.b-down,.b-open{background:#fde0e0;color:var(--down);font-weight:600}
.b-passive_down,.b-half-open,.b-draining,.b-starting{background:#fff1d6;color:var(--warn)}
.warn{color:var(--warn);font-weight:600}
#live-state.live{color:var(--up)}
#live-state.stale{color:var(--down)}
.spark svg{display:block}
.spark polyline{fill:none;stroke:var(--accent);stroke-width:1.5}
footer{padding:8px 24px 24px;color:var(--muted);font-size:12px}
a{color:var(--accent)}
)CSS";

constexpr std::string_view kScript = R"JS(
(function () {
  'use strict';
  var KEEP = 150, PERIOD = 2000, SVG = 'http://www.w3.org/2000/svg', DASH = '\u2013';
  var BADGES = ['up', 'down', 'passive_down', 'closed', 'open', 'half-open', 'ready', 'starting', 'draining', 'yes', 'no'];
  var generation = document.getElementById('generation').textContent;
  var state = document.getElementById('live-state');
  var prev = null, hist = Object.create(null);  // sparkline samples by row

  function dict() { return Object.create(null); }
  function series(d, name) {
    if (!d.families) { d.families = dict(); (d.metrics || []).forEach(function (f) { d.families[f.name] = f; }); }
    return (d.families[name] && d.families[name].series) || [];
  }
  function is4(l) { return String(l.code).charAt(0) === '4'; }
  function is5(l) { return String(l.code).charAt(0) === '5'; }
  // One pass over a family: its values summed by one or two labels (keys joined by U+0000).
  function sums(d, name, k1, k2, test) {
    var o = dict();
    series(d, name).forEach(function (s) {
      if (test && !test(s.labels)) return;
      var key = s.labels[k1] + (k2 ? '\u0000' + s.labels[k2] : '');
      o[key] = (o[key] || 0) + s.value;
    });
    return o;
  }
  // One pass over a histogram family: its series added up by one label.
  function histos(d, name, key) {
    var o = dict();
    series(d, name).forEach(function (s) {
      var h = o[s.labels[key]] || (o[s.labels[key]] = { le: s.le.slice(), b: s.buckets.map(function () { return 0; }) });
      if (h.b.length !== s.buckets.length) return;
      s.buckets.forEach(function (v, i) { h.b[i] += v; });
    });
    return o;
  }
  // What the rows read, indexed once per document (and kept with it for the next interval).
  function index(d) {
    if (d.idx) return d.idx;
    var r = 'gateway_http_requests_total', u = 'gateway_upstream_';
    d.idx = {
      requests: sums(d, r, 'route'), c4: sums(d, r, 'route', null, is4), c5: sums(d, r, 'route', null, is5),
      duration: histos(d, 'gateway_http_request_duration_seconds', 'route'),
      active: sums(d, u + 'active_requests', 'upstream', 'server'),
      upstream: sums(d, u + 'requests_total', 'upstream', 'server'),
      errors: sums(d, u + 'errors_total', 'upstream', 'server'),
      limits: sums(d, 'gateway_ratelimit_decisions_total', 'policy', 'result'),
      handshakes: sums(d, 'gateway_tls_handshakes_total', 'listener', 'result'),
      resumed: sums(d, 'gateway_tls_resumed_total', 'listener'),
      tlsErrors: sums(d, 'gateway_tls_handshake_errors_total', 'listener')
    };
    return d.idx;
  }
  function total(o) { var t = 0; for (var k in o) t += o[k]; return t; }
  function at(o, k1, k2) { return (o && o[k1 + (k2 === undefined ? '' : '\u0000' + k2)]) || 0; }
  function minus(a, b) {
    if (!a) return null;
    if (!b || b.b.length !== a.b.length) return a;
    return { le: a.le, b: a.b.map(function (v, i) { return v - b.b[i]; }) };
  }
  function quantile(h, q) {
    if (!h || !h.le.length) return NaN;
    var n = h.b[h.b.length - 1];
    if (n <= 0) return NaN;
    var rank = q * n, i = 0;
    while (i + 1 < h.b.length && h.b[i] < rank) i++;
    if (i >= h.le.length) return h.le[h.le.length - 1];
    var lo = i ? h.le[i - 1] : 0, before = i ? h.b[i - 1] : 0, inside = h.b[i] - before;
    return inside > 0 ? lo + (h.le[i] - lo) * (rank - before) / inside : h.le[i];
  }
  function secs(s) {
    if (isNaN(s)) return DASH;
    if (s < 0.001) return (s * 1e6).toFixed(0) + ' \u00b5s';
    if (s < 1) return (s * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function rate(v) { return isNaN(v) ? DASH : v < 10 ? v.toFixed(2) : v.toFixed(1); }
  function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(2) + ' %' : DASH; }
  function duration(t) {
    t = Math.floor(t);
    var d = Math.floor(t / 86400), h = Math.floor(t / 3600) % 24, m = Math.floor(t / 60) % 60, s = t % 60;
    return d ? d + 'd ' + h + 'h ' + m + 'm' : h ? h + 'h ' + m + 'm ' + s + 's' : m ? m + 'm ' + s + 's' : s + 's';
  }
  function remember(key, v) {
    var a = hist[key] || (hist[key] = []);
    a.push(isNaN(v) ? 0 : v);
    if (a.length > KEEP) a.shift();
    return a;
  }
  function spark(el, a) {
    if (!el) return;
    var w = 120, h = 22, max = Math.max.apply(null, a.concat([1e-9]));
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('role', 'img');
    var line = document.createElementNS(SVG, 'polyline'), pts = [];
    a.forEach(function (v, i) {
      var x = a.length > 1 ? i * (w - 1) / (a.length - 1) : w / 2;
      pts.push(x.toFixed(1) + ',' + (h - 1 - (h - 2) * v / max).toFixed(1));
    });
    line.setAttribute('points', pts.join(' '));
    var title = document.createElementNS(SVG, 'title');
    title.textContent = 'last ' + a.length + ' samples, max ' + rate(max) + '/s';
    svg.appendChild(title);
    svg.appendChild(line);
    el.replaceChildren(svg);
  }
  function cell(row, f) { return row.querySelector('[data-f="' + f + '"]'); }
  function put(row, f, text) { var c = cell(row, f); if (c) c.textContent = text; }
  function badge(row, f, value) {
    var c = cell(row, f);
    if (!c) return;
    if (value === undefined || value === null) { c.textContent = DASH; return; }
    var b = document.createElement('span');
    b.className = 'badge b-' + (BADGES.indexOf(value) >= 0 ? value : 'other');
    b.textContent = value;
    c.replaceChildren(b);
  }
  function rows(id) { return document.querySelectorAll('#' + id + ' tbody tr[data-k]'); }

  function update(d) {
    if (String(d.generation) !== generation) { location.reload(); return; }
    // Intervals by the page's clock (when each document arrived): a browser's virtual time
    // (headless tests) and a throttled background tab both keep it right.
    d.arrived = performance.now();
    var m = index(d), p = prev ? index(prev) : null, dt = prev ? (d.arrived - prev.arrived) / 1000 : 0;
    function per(now, before) { return dt > 0 ? (now - before) / dt : NaN; }

    document.getElementById('uptime').textContent = duration(d.uptime_seconds);
    var all = total(m.requests), allBefore = p ? total(p.requests) : 0;
    var e5 = total(m.c5), e5Before = p ? total(p.c5) : 0;
    document.getElementById('total-requests').textContent = all;
    var totalRate = per(all, allBefore);
    document.getElementById('total-rps').textContent = rate(totalRate);
    document.getElementById('total-5xx').textContent = prev ? pct(e5 - e5Before, all - allBefore) : pct(e5, all);
    if (prev) spark(document.getElementById('total-spark'), remember('total', totalRate));

    var workers = {};
    (d.workers || []).forEach(function (w) { workers[String(w.slot)] = w; });
    rows('workers').forEach(function (row) {
      var w = workers[row.dataset.k];
      if (!w) { badge(row, 'state', 'gone'); return; }
      badge(row, 'state', w.state);
      put(row, 'pid', w.pid);
      put(row, 'generation', w.generation);
      put(row, 'requests', w.requests);
      put(row, 'connections', w.connections);
    });

    rows('routes').forEach(function (row) {
      var k = row.dataset.k, n = at(m.requests, k);
      put(row, 'requests', n);
      if (!prev) return;
      var n0 = at(p.requests, k), r = per(n, n0), win = minus(m.duration[k], p.duration[k]);
      put(row, 'rps', rate(r));
      put(row, 'e4', pct(at(m.c4, k) - at(p.c4, k), n - n0));
      put(row, 'e5', pct(at(m.c5, k) - at(p.c5, k), n - n0));
      put(row, 'p50', secs(quantile(win, 0.5)));
      put(row, 'p90', secs(quantile(win, 0.9)));
      put(row, 'p99', secs(quantile(win, 0.99)));
      spark(cell(row, 'spark'), remember('route ' + k, r));
    });

    var servers = dict();
    (d.upstreams || []).forEach(function (u) {
      (u.servers || []).forEach(function (s) { servers[u.name + ' ' + s.address] = { u: u.name, s: s }; });
    });
    rows('upstreams').forEach(function (row) {
      var x = servers[row.dataset.k];
      if (!x) return;
      var n = at(m.upstream, x.u, x.s.address);
      badge(row, 'health', x.s.health);
      badge(row, 'circuit', x.s.circuit);
      put(row, 'inflight', at(m.active, x.u, x.s.address));
      put(row, 'fails', x.s.passive_fails === undefined ? DASH : x.s.passive_fails);
      put(row, 'requests', n);
      put(row, 'errors', at(m.errors, x.u, x.s.address));
      if (!prev) return;
      var r = per(n, at(p.upstream, x.u, x.s.address));
      put(row, 'rps', rate(r));
      spark(cell(row, 'spark'), remember('server ' + row.dataset.k, r));
    });

    rows('ratelimits').forEach(function (row) {
      var pol = row.dataset.k;
      function of(ix, result) { return at(ix.limits, pol, result); }
      put(row, 'allowed', of(m, 'allowed'));
      put(row, 'rejected', of(m, 'rejected'));
      put(row, 'dry', of(m, 'dry_run_rejected'));
      put(row, 'fallback', of(m, 'fallback_allowed') + of(m, 'fallback_rejected') + of(m, 'fallback_dry_run_rejected'));
      if (!prev) return;
      put(row, 'aps', rate(per(of(m, 'allowed'), of(p, 'allowed'))));
      var rr = per(of(m, 'rejected'), of(p, 'rejected'));
      put(row, 'rps', rate(rr));
      spark(cell(row, 'spark'), remember('policy ' + pol, rr));
    });

    var zones = d.cache || {};
    rows('cache').forEach(function (row) {
      var z = zones[row.dataset.k];
      if (!z) return;
      put(row, 'objects', z.objects);
      put(row, 'bytes', z.bytes);
      put(row, 'evictions', z.evictions);
    });

    rows('tls').forEach(function (row) {
      var l = row.dataset.k, ok = at(m.handshakes, l, 'ok'), resumed = at(m.resumed, l);
      put(row, 'ok', ok);
      put(row, 'failed', at(m.handshakes, l, 'failed'));
      put(row, 'resumed', resumed);
      put(row, 'resumption', pct(resumed, ok));
      put(row, 'errors', at(m.tlsErrors, l));
    });

    document.querySelectorAll('table.family').forEach(function (table) {
      var keys = [];
      table.querySelectorAll('thead th').forEach(function (th) { keys.push(th.textContent); });
      keys.pop();
      var values = dict();
      series(d, table.dataset.family).forEach(function (s) {
        values[keys.map(function (k) { return (s.labels[k] || '') + '\ufffd'; }).join('')] = s.value;
      });
      table.querySelectorAll('tbody tr[data-k]').forEach(function (row) {
        if (row.dataset.k in values) put(row, 'value', values[row.dataset.k]);
      });
    });

    state.textContent = 'live \u00b7 updated ' + new Date(d.time_ms).toISOString().slice(11, 19) + ' UTC';
    state.className = 'live';
    if (prev) document.getElementById('mode-note').textContent =
      'Live: requests are totals since the start; req/s, 4xx, 5xx and p50/p90/p99 are over the last ' +
      dt.toFixed(1) + ' s; sparklines show the last ' + Math.round(KEEP * PERIOD / 60000) + ' minutes of req/s (rejected/s for rate limits).';
    prev = d;
  }

  function tick() {
    fetch('/status/live', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(update)
      .catch(function (e) { state.textContent = 'refresh failed: ' + e.message; state.className = 'stale'; });
  }
  tick();
  setInterval(tick, PERIOD);
})();
)JS";

std::string sha256_source(std::string_view text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
    std::string out = "'sha256-";
    base64_encode(std::string_view(reinterpret_cast<const char*>(md), len), out);
    out += "'";
    return out;
}

}  // namespace

std::string_view page_style() { return kStyle; }
std::string_view page_script() { return kScript; }

const std::string& page_headers() {
    // Computed once per process (the first page served); the texts are constants.
    static const std::string headers =
        "content-security-policy: default-src 'none'; script-src " + sha256_source(kScript) +
        "; style-src " + sha256_source(kStyle) +
        "; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
        "x-content-type-options: nosniff\r\n"
        "x-frame-options: DENY\r\n"
        "referrer-policy: no-referrer\r\n";
    return headers;
}

}  // namespace gw::http::status_page
