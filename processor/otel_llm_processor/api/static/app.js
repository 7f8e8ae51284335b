// otel-llm dashboard: polls /v1/dashboard and redraws. No build step; uPlot is vendored.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  if (params.get("token")) sessionStorage.setItem("otel-llm-token", params.get("token"));
  const token = sessionStorage.getItem("otel-llm-token");
  const traceUrl = params.get("trace_url") || sessionStorage.getItem("otel-llm-trace-url") || "";
  const POLL_MS = Number(params.get("poll_ms") || 2000);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const palette = ["#4aa3ff", "#f5b942", "#ff5d5d", "#3fb950", "#c678dd", "#56b6c2", "#e5c07b", "#98c379"];
  const charts = {};
  let anomalyTimes = [];

  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return Number(v).toFixed(digits === undefined ? 2 : digits);
  }
  function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
  function when(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString() : "–"; }
  function traceLinks(exemplars) {
    const td = el("td");
    (exemplars || []).slice(0, 3).forEach(function (ex) {
      const id = Array.isArray(ex) ? ex[0] : ex;
      const a = el("a", id.slice(0, 8));
      a.href = traceUrl ? traceUrl.replace("{trace_id}", id) : "#" + id;
      a.title = "trace " + id; a.className = "trace-link";
      td.appendChild(a); td.appendChild(document.createTextNode(" "));
    });
    return td;
  }

  // Vertical markers at anomaly times, drawn on every chart.
  const anomalyPlugin = {
    hooks: {
      draw: [function (u) {
        const ctx = u.ctx; ctx.save(); ctx.strokeStyle = "rgba(255,93,93,0.8)"; ctx.lineWidth = 2; ctx.setLineDash([4, 3]);
        anomalyTimes.forEach(function (t) {
          if (t < u.scales.x.min || t > u.scales.x.max) return;
          const x = Math.round(u.valToPos(t, "x", true));
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        });
        ctx.restore();
      }],
    },
  };

  function chart(id, labels) {
    const target = document.getElementById(id);
    const opts = {
      width: Math.max(300, target.clientWidth || 460), height: 220,
      plugins: [anomalyPlugin],
      scales: { x: { time: true } },
      axes: [{ stroke: "#8b98a5", grid: { stroke: "#253040" } }, { stroke: "#8b98a5", grid: { stroke: "#253040" } }],
      series: [{}].concat(labels.map(function (l, i) { return { label: l, stroke: palette[i % palette.length], width: 2, spanGaps: true }; })),
    };
    const data = [[]].concat(labels.map(function () { return []; }));
    const plot = new uPlot(opts, data, target);
    target.dataset.rendered = "true";
    return { plot: plot, labels: labels };
  }
  function setData(id, labels, data) {
    let c = charts[id];
    if (!c || c.labels.join("|") !== labels.join("|")) {
      if (c) c.plot.destroy();
      c = charts[id] = chart(id, labels);
    }
    c.plot.setData(data);
    document.getElementById(id).dataset.points = String(data[0].length);
  }

  async function act(id, action) {
    const r = await fetch("/v1/alerts/" + encodeURIComponent(id) + "/" + action + "?by=dashboard", { method: "POST", headers: headers });
    if (!r.ok) alert(action + " failed: " + r.status);
    await refresh();
  }

  function renderAlerts(alerts) {
    const tbody = document.querySelector("#alerts tbody"); tbody.replaceChildren();
    alerts.forEach(function (a) {
      const tr = el("tr"); tr.dataset.alertId = a.id; tr.dataset.state = a.state;
      tr.appendChild(el("td", a.state, "state-" + a.state));
      tr.appendChild(el("td", a.severity, "sev-" + a.severity));
      tr.appendChild(el("td", a.rule));
      tr.appendChild(el("td", a.summary));
      tr.appendChild(el("td", when(a.starts_at)));
      tr.appendChild(traceLinks(a.exemplars));
      const td = el("td");
      if (a.state === "firing" || a.state === "pending") {
        const b = el("button", "Acknowledge", "ack"); b.onclick = function () { act(a.id, "acknowledge"); }; td.appendChild(b);
      }
      if (a.state !== "resolved") {
        const b = el("button", "Resolve", "resolve"); b.onclick = function () { act(a.id, "resolve"); }; td.appendChild(b);
      }
      tr.appendChild(td); tbody.appendChild(tr);
    });
    document.getElementById("t-alerts").textContent = String(alerts.filter(function (a) { return a.state === "firing"; }).length);
  }
  function renderAnomalies(items) {
    const tbody = document.querySelector("#anomalies tbody"); tbody.replaceChildren();
    items.slice(0, 50).forEach(function (a) {
      const tr = el("tr");
      tr.appendChild(el("td", when(a.time)));
      tr.appendChild(el("td", a.severity, "sev-" + a.severity));
      tr.appendChild(el("td", a.metric));
      tr.appendChild(el("td", Object.entries(a.series || {}).map(function (kv) { return kv[0] + "=" + kv[1]; }).join(" ")));
      tr.appendChild(el("td", fmt(a.value, 3), "num"));
      tr.appendChild(el("td", fmt(a.expected, 3), "num"));
      tr.appendChild(el("td", a.detector));
      tr.appendChild(traceLinks(a.exemplars));
      tbody.appendChild(tr);
    });
  }
  function renderModels(groups) {
    const tbody = document.querySelector("#models tbody"); tbody.replaceChildren();
    groups.forEach(function (g) {
      const d = (g.distributions || {}).duration_s || {};
      const tr = el("tr");
      tr.appendChild(el("td", g.labels.model || "–"));
      tr.appendChild(el("td", String(g.calls), "num"));
      tr.appendChild(el("td", String(g.errors), "num"));
      tr.appendChild(el("td", fmt(d.p95, 3), "num"));
      tr.appendChild(el("td", fmt(g.input_tokens + g.output_tokens, 0), "num"));
      tr.appendChild(el("td", fmt(g.cost_usd, 4), "num"));
      tbody.appendChild(tr);
    });
  }
  function renderTiles(t) {
    const d = (t.distributions || {});
    document.getElementById("t-rate").textContent = fmt(t.calls_per_s);
    document.getElementById("t-err").textContent = t.calls ? (100 * t.error_rate).toFixed(1) + "%" : "–";
    document.getElementById("t-p95").textContent = d.duration_s ? fmt(d.duration_s.p95, 3) + " s" : "–";
    document.getElementById("t-ttft").textContent = d.ttft_s ? fmt(d.ttft_s.p95, 3) + " s" : "–";
    document.getElementById("t-tok").textContent = t.calls ? fmt(t.input_tokens + t.output_tokens, 0) : "–";
    document.getElementById("t-cost").textContent = t.calls ? "$" + fmt(t.cost_usd, 4) : "–";
  }
  function renderCharts(s) {
    const t = s.t;
    setData("c-rate", ["req/s"], [t, s.calls_per_s]);
    setData("c-err", ["error rate"], [t, s.error_rate]);
    setData("c-lat", ["p50", "p95", "p99"], [t, s.latency_p50, s.latency_p95, s.latency_p99]);
    setData("c-ttft", ["p50", "p95", "p99"], [t, s.ttft_p50, s.ttft_p95, s.ttft_p99]);
    const models = s.models.length ? s.models : ["(none)"];
    setData("c-tok", models, [t].concat(models.map(function (m) { return s.tokens_by_model[m] || t.map(function () { return null; }); })));
    setData("c-cost", models, [t].concat(models.map(function (m) { return s.cost_by_model[m] || t.map(function () { return null; }); })));
  }

  async function refresh() {
    const status = document.getElementById("status");
    try {
      const r = await fetch("/v1/dashboard", { headers: headers });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const d = await r.json();
      anomalyTimes = (d.anomalies || []).map(function (a) { return a.time; });
      renderTiles(d.totals_5m || {});
      renderCharts(d.series);
      renderAlerts(d.alerts || []);
      renderAnomalies(d.anomalies || []);
      renderModels(d.by_model_1h || []);
      status.textContent = "live · " + new Date().toLocaleTimeString(); status.className = "status live";
      document.body.dataset.loaded = "true";
    } catch (e) {
      status.textContent = "disconnected: " + e.message; status.className = "status down";
    }
  }
  refresh();
  setInterval(refresh, POLL_MS);
})();
