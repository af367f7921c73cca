/* Tasqyn interactive hydrograph: uPlot 1.6 (vendored under /static/vendor/uplot/), no other library.
 *
 * Page contract (also in service/static/vendor/README.md):
 *   <div id="chart-app"> ...server-rendered SVG (kept for print and for browsers without JavaScript)... </div>
 *   <script type="application/json" id="chart-data">{
 *     "lang": "ru" | "kk" | "en",                       // optional; else the page's <html lang>
 *     "units": "м³/с",                                  // shown on the y axis and in the hover values
 *     "labels": {"observed": "Наблюдения", "forecast": "Прогноз (медиана)", "fan90": "Прогноз 5-95%",
 *                "fan50": "Прогноз 25-75%", "clim": "Обычные значения для этого дня (10-90% лет, медиана)",
 *                "last_year": "Прошлый год", "record_year": "Год рекорда ({year})", "history": "Прежние прогнозы",
 *                "history_run": "прогноз от {date}", "issue": "Выпуск", "windows": {"60": "60 дней",
 *                "180": "Сезон", "365": "Год"}, "zoom_hint": "Выделите участок мышью, чтобы приблизить;
 *                двойной щелчок возвращает окно", "window": "Окно",
 *                "months": ["янв.", ...], "months_standalone": [...], "months_full": ["января", ...],
 *                "date_full": "{d} {MMMM} {y} г."},     // optional: CLDR dates from the server, else Intl
 *     "issue_date": "2024-04-10",                       // optional: a dashed line; else the last observed day
 *     "series": {
 *       "obs": [["2024-02-10", 12.3], ["2024-02-11", null], ...],
 *       "clim": {"dates": [...], "p10": [...], "p50": [...], "p90": [...]},          // or null
 *       "last_year": [[date, value], ...],                                         // on this year's dates, or null
 *       "record_year": {"year": 1970, "values": [[date, value], ...]},             // on this year's dates, or null
 *       "fan": {"dates": [...], "q05": [...], "q25": [...], "q50": [...], "q75": [...], "q95": [...]},  // or null
 *       "history": [{"issue_date": "2024-04-03", "values": [[date, median], ...]}, ...]              // or []
 *     },
 *     "thresholds": [{"kind": "warning" | "danger" | "extreme", "label": "Неблагоприятная отметка", "value": 120.0}],
 *     "windows": [60, 180, 365],                         // days before the issue day; the first is shown first
 *     "end_date": "2024-06-30"                           // optional: the windows end here (else the fan's end)
 *   }</script>
 * Dates are ISO local days; values in the units given, null where missing. Another chart on the same page:
 * <div data-chart-data="level-chart-data"> with its own <script type="application/json" id="level-chart-data">.
 * The script replaces the contents of the container only; an element inside it with the attribute data-print is
 * kept (hidden on screen, shown when printing). window.TasqynCharts lists the uPlot instances (for tests). */
(function () {
  "use strict";
  if (!window.uPlot) return;
  var DEFAULTS = {
    observed: "Observed", forecast: "Forecast (median)", fan90: "Forecast 5-95%", fan50: "Forecast 25-75%",
    clim: "Normal for the day of year (10-90%, median)", last_year: "Last year", record_year: "Record year ({year})",
    history: "Earlier forecasts", history_run: "forecast of {date}", issue: "Issue", window: "Window",
    zoom_hint: "Drag across the chart to zoom in; double-click to return to the window"
  };
  // the marks take the colours of their levels: the custom properties of dashboard.css (their one definition)
  var CSS = window.getComputedStyle(document.documentElement);
  function cssColour(name, other) {
    return (CSS.getPropertyValue(name) || "").trim() || (other ? (CSS.getPropertyValue(other) || "").trim() : "") || "#555555";
  }
  var KIND_COLOURS = { warning: cssColour("--l1"), danger: cssColour("--l2"), extreme: cssColour("--l3") };
  var KIND_TEXT = { warning: cssColour("--l1-text", "--l1"), danger: cssColour("--l2-text", "--l2"),
                    extreme: cssColour("--l3-text", "--l3") };
  var LOCALES = { ru: "ru-RU", kk: "kk-KZ", en: "en-GB" };
  var DAY = 86400;
  window.TasqynCharts = window.TasqynCharts || [];

  function tsOf(iso) {
    var p = String(iso).slice(0, 10).split("-");
    return Date.UTC(+p[0], +p[1] - 1, +p[2]) / 1000;
  }
  function num(v) { return v === null || v === undefined || v === "" || !isFinite(+v) ? null : +v; }
  function pairs(list) {
    var out = {};
    (list || []).forEach(function (p) { if (p && p.length >= 2) out[tsOf(p[0])] = num(p[1]); });
    return out;
  }
  function columns(obj, keys) {
    var out = {};
    if (!obj || !obj.dates) return null;
    keys.forEach(function (k) {
      var m = {};
      obj.dates.forEach(function (d, i) { m[tsOf(d)] = num(obj[k] && obj[k][i]); });
      out[k] = m;
    });
    return out;
  }

  function build(container, dataEl) {
    var D;
    try { D = JSON.parse(dataEl.textContent); } catch (e) { if (window.console) console.error("chart-data:", e); return; }
    var S = D.series || {};
    var lang = D.lang || document.documentElement.lang || "ru";
    var locale = LOCALES[lang] || lang;
    var LB = D.labels || {};
    function label(key) { var v = LB[key]; return v ? String(v) : (DEFAULTS[key] || key); }
    var fmtNum = new Intl.NumberFormat(locale, { maximumSignificantDigits: 3 });
    // dates: the server's CLDR month names and long pattern where given (a browser's own Kazakh data can be missing)
    var intlDay = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" });
    var intlMonth = new Intl.DateTimeFormat(locale, { month: "short", timeZone: "UTC" });
    var intlFull = new Intl.DateTimeFormat(locale, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
    var M = LB.months, MS = LB.months_standalone, MF = LB.months_full, FULL = LB.date_full;
    var fmtDay = { format: function (d) { return M ? d.getUTCDate() + " " + M[d.getUTCMonth()] : intlDay.format(d); } };
    var fmtMonth = { format: function (d) { return MS ? MS[d.getUTCMonth()] : intlMonth.format(d); } };
    var fmtFull = { format: function (d) {
      if (!MF || !FULL) return intlFull.format(d);
      return FULL.replace("{d}", d.getUTCDate()).replace("{MMMM}", MF[d.getUTCMonth()]).replace("{y}", d.getUTCFullYear());
    } };
    var units = D.units || "";

    // ---- the series on one daily x axis ------------------------------------------------------------------------
    var obs = pairs(S.obs), lastYear = S.last_year ? pairs(S.last_year) : null;
    var record = S.record_year && S.record_year.values ? pairs(S.record_year.values) : null;
    var clim = columns(S.clim, ["p10", "p50", "p90"]);
    var fan = columns(S.fan, ["q05", "q25", "q50", "q75", "q95"]);
    var history = (S.history || []).map(function (h) { return { issue: h.issue_date, values: pairs(h.values) }; });
    var xsSet = {};
    [obs, lastYear, record].concat(history.map(function (h) { return h.values; })).forEach(function (m) {
      if (m) Object.keys(m).forEach(function (k) { xsSet[k] = 1; });
    });
    [clim, fan].forEach(function (c) { if (c) Object.keys(c[Object.keys(c)[0]]).forEach(function (k) { xsSet[k] = 1; }); });
    var xs = Object.keys(xsSet).map(Number).sort(function (a, b) { return a - b; });
    if (!xs.length) return;
    function col(m) { return xs.map(function (x) { return m && m[x] !== undefined ? m[x] : null; }); }

    var data = [xs], series = [{}], groups = {}, bands = [];
    function add(group, opts, values) {
      series.push(opts);
      data.push(values);
      (groups[group] = groups[group] || []).push(series.length - 1);
      return series.length - 1;
    }
    var noPoints = { show: false };
    if (clim) {
      var c90 = add("clim", { label: "clim p90", stroke: "rgba(110,110,110,0.35)", width: 1, points: noPoints, spanGaps: true }, col(clim.p90));
      var c10 = add("clim", { label: "clim p10", stroke: "rgba(110,110,110,0.35)", width: 1, points: noPoints, spanGaps: true }, col(clim.p10));
      bands.push({ series: [c90, c10], fill: "rgba(120,120,120,0.16)" });
      add("clim", { label: "clim p50", stroke: "#7a7a7a", width: 1.3, dash: [5, 4], points: noPoints, spanGaps: true }, col(clim.p50));
    }
    if (fan) {
      var f95 = add("fan", { label: "q95", stroke: "rgba(31,119,180,0.25)", width: 1, points: noPoints }, col(fan.q95));
      var f05 = add("fan", { label: "q05", stroke: "rgba(31,119,180,0.25)", width: 1, points: noPoints }, col(fan.q05));
      var f75 = add("fan", { label: "q75", stroke: "rgba(31,119,180,0.4)", width: 1, points: noPoints }, col(fan.q75));
      var f25 = add("fan", { label: "q25", stroke: "rgba(31,119,180,0.4)", width: 1, points: noPoints }, col(fan.q25));
      bands.push({ series: [f95, f05], fill: "rgba(31,119,180,0.16)" });
      bands.push({ series: [f75, f25], fill: "rgba(31,119,180,0.34)" });
    }
    history.forEach(function (h) {
      add("history", { label: label("history_run").replace("{date}", fmtDay.format(new Date(tsOf(h.issue) * 1000))),
                       stroke: "rgba(214,96,21,0.75)",
                       width: 1.2, dash: [4, 3], points: noPoints }, col(h.values));
    });
    if (lastYear) add("last_year", { label: label("last_year"), stroke: "#b58a2c", width: 1.3, points: noPoints }, col(lastYear));
    if (record) {
      add("record_year", { label: label("record_year").replace("{year}", S.record_year.year), stroke: "#5b3a29",
                           width: 1.3, dash: [7, 3], points: noPoints }, col(record));
    }
    var iMed = fan ? add("fan", { label: label("forecast"), stroke: "#1f77b4", width: 2.5, points: noPoints }, col(fan.q50)) : -1;
    var iObs = add("obs", { label: label("observed"), stroke: "#1f2a36", width: 1.8, points: { show: false } }, col(obs));

    // ---- windows: the last observed day (or the issue day) back n days, to the end of the forecast ----------------
    var obsDays = Object.keys(obs).map(Number).filter(function (k) { return obs[k] !== null; });
    var anchor = D.issue_date ? tsOf(D.issue_date) : (obsDays.length ? Math.max.apply(null, obsDays) : xs[xs.length - 1]);
    var end = D.end_date ? tsOf(D.end_date) : Math.max(anchor, fan ? Math.max.apply(null, Object.keys(fan.q50).map(Number)) : anchor);
    var windows = (D.windows && D.windows.length ? D.windows : [60, 180, 365]).map(Number);
    var current = windows[0];
    function range(n) { return { min: Math.max(xs[0], anchor - (n - 1) * DAY), max: Math.min(xs[xs.length - 1], end) + DAY / 2 }; }

    // ---- y range: the data in view and the thresholds near it ----------------------------------------------------
    var thresholds = (D.thresholds || []).filter(function (t) { return num(t.value) !== null; });
    function yRange(u, min, max) {
      if (min === null || max === null || !isFinite(min) || !isFinite(max)) { min = 0; max = 1; }
      thresholds.forEach(function (t) { if (t.value <= max * 1.6 && t.value > max) max = t.value; });
      var lo = min <= 0.35 * max && min >= 0 ? 0 : min - 0.05 * (max - min);
      var hi = max + 0.06 * (max - lo || 1);
      return [lo, hi];
    }

    // ---- thresholds and the issue day drawn on the canvas -------------------------------------------------------
    function drawExtras(u) {
      var ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio || 1;
      ctx.save();
      ctx.font = Math.round(12 * px) + "px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif";
      ctx.textAlign = "right";
      var yMax = u.scales.y.max, stack = 0;
      thresholds.forEach(function (t) {
        var col = KIND_COLOURS[t.kind] || "#555", text = (t.label || t.kind) + " " + fmtNum.format(t.value);
        if (t.value > yMax) {  // above the view: a small marker at the top
          ctx.fillStyle = KIND_TEXT[t.kind] || "#555";
          ctx.fillText("\u25b2 " + text, b.left + b.width - 4 * px, b.top + (13 + 14 * stack++) * px);
          return;
        }
        var y = Math.round(u.valToPos(t.value, "y", true));
        ctx.strokeStyle = col;
        ctx.lineWidth = 1.6 * px;
        ctx.setLineDash([7 * px, 4 * px]);
        ctx.beginPath();
        ctx.moveTo(b.left, y);
        ctx.lineTo(b.left + b.width, y);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.lineWidth = 3 * px;
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.strokeText(text, b.left + b.width - 4 * px, y - 4 * px);
        ctx.fillStyle = KIND_TEXT[t.kind] || "#555";
        ctx.fillText(text, b.left + b.width - 4 * px, y - 4 * px);
      });
      if (D.issue_date) {
        var x = Math.round(u.valToPos(tsOf(D.issue_date), "x", true));
        if (x >= b.left && x <= b.left + b.width) {
          ctx.strokeStyle = "#44505b";
          ctx.lineWidth = 1 * px;
          ctx.setLineDash([4 * px, 3 * px]);
          ctx.beginPath();
          ctx.moveTo(x, b.top);
          ctx.lineTo(x, b.top + b.height);
          ctx.stroke();
        }
      }
      ctx.restore();
    }

    // ---- hover values --------------------------------------------------------------------------------------------
    var readout = document.createElement("div");
    readout.className = "tq-readout";
    readout.setAttribute("aria-live", "polite");
    function v(i, idx) { var x = data[i] && data[i][idx]; return x === null || x === undefined ? null : x; }
    function showReadout(u) {
      var idx = u.cursor.idx;
      if (idx === null || idx === undefined) { readout.textContent = "\u00a0"; return; }
      var parts = [fmtFull.format(new Date(xs[idx] * 1000))];
      function item(txt, val, lo, hi) {
        if (val === null) return;
        var s = txt + ": " + fmtNum.format(val) + (lo !== null && hi !== null && lo !== undefined ? " (" + fmtNum.format(lo) + "\u2013" + fmtNum.format(hi) + ")" : "");
        parts.push(s + " " + units);
      }
      function shown(g) { return groups[g] && u.series[groups[g][0]].show; }
      item(label("observed"), v(iObs, idx));
      if (fan && shown("fan")) item(label("forecast"), v(iMed, idx), v(groups.fan[1], idx), v(groups.fan[0], idx));
      if (clim && shown("clim")) item(label("clim").split("(")[0].trim(), v(groups.clim[2], idx), v(groups.clim[1], idx), v(groups.clim[0], idx));
      if (shown("history")) {
        for (var h = groups.history.length - 1; h >= 0; h--) {
          var hv = v(groups.history[h], idx);
          if (hv !== null) { item(u.series[groups.history[h]].label, hv); break; }
        }
      }
      if (shown("last_year")) item(label("last_year"), v(groups.last_year[0], idx));
      if (shown("record_year")) item(u.series[groups.record_year[0]].label, v(groups.record_year[0], idx));
      readout.textContent = parts.join(" \u00b7 ");
    }

    // ---- the chart -----------------------------------------------------------------------------------------------
    container.textContent = "";
    var keep = dataEl.__tqPrint;
    if (keep) { var holder = document.createElement("div"); holder.className = "tq-print-only"; holder.appendChild(keep); container.appendChild(holder); }
    container.classList.add("tq-chart-app");
    var toolbar = document.createElement("div");
    toolbar.className = "tq-windows";
    toolbar.setAttribute("role", "group");
    toolbar.setAttribute("aria-label", label("window"));
    var buttons = [];
    windows.forEach(function (n) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "tq-win";
      b.setAttribute("data-days", n);
      b.textContent = (LB.windows && LB.windows[String(n)]) || (n + " d");
      b.addEventListener("click", function () { setWindow(n); });
      buttons.push(b);
      toolbar.appendChild(b);
    });
    var plotDiv = document.createElement("div");
    plotDiv.className = "tq-chart";
    var legend = document.createElement("div");
    legend.className = "tq-legend";
    var hint = document.createElement("p");
    hint.className = "tq-hint";
    hint.textContent = label("zoom_hint");
    container.appendChild(toolbar);
    container.appendChild(plotDiv);
    container.appendChild(readout);
    container.appendChild(legend);
    container.appendChild(hint);

    function size() {
      var w = Math.max(260, Math.floor(plotDiv.clientWidth || container.clientWidth || 600));
      return { width: w, height: Math.round(Math.max(240, Math.min(420, w * 0.55))) };
    }
    var font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif";
    var sz = size();
    var opts = {
      width: sz.width, height: sz.height, series: series, bands: bands,
      legend: { show: false },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true }, y: { range: yRange } },
      cursor: { drag: { x: true, y: false, setScale: true }, points: { show: false },
                bind: { dblclick: function () { return function () { setWindow(current); return null; }; } } },
      axes: [
        { font: font, stroke: "#44505b", grid: { stroke: "#edf0f2", width: 1 }, ticks: { stroke: "#c5ccd3", width: 1 }, space: 60,
          values: function (u, splits) {
            var span = (u.scales.x.max - u.scales.x.min) / DAY;
            return splits.map(function (ts) {
              var d = new Date(ts * 1000);
              if (span <= 120) return fmtDay.format(d);
              return fmtMonth.format(d) + (d.getUTCMonth() === 0 ? " " + d.getUTCFullYear() : "");
            });
          } },
        { font: font, stroke: "#44505b", grid: { stroke: "#edf0f2", width: 1 }, ticks: { stroke: "#c5ccd3", width: 1 },
          label: units, labelFont: font, labelSize: 18, size: 52, space: 36,
          values: function (u, splits) { return splits.map(function (s) { return fmtNum.format(s); }); } }
      ],
      hooks: { draw: [drawExtras], setCursor: [showReadout] }
    };
    var u = new uPlot(opts, data, plotDiv);
    window.TasqynCharts.push(u);

    function setWindow(n) {
      current = n;
      var r = range(n);
      u.setScale("x", r);
      buttons.forEach(function (b) {
        var on = Number(b.getAttribute("data-days")) === n;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
    }
    setWindow(current);

    // legend: one toggle per group (the forecast history and the bands as a whole)
    var LEGEND = [
      ["obs", label("observed"), "tq-sw-obs"], ["fan", label("forecast") + " \u00b7 " + label("fan50") + " \u00b7 " + label("fan90"), "tq-sw-fan"],
      ["clim", label("clim"), "tq-sw-clim"], ["history", label("history"), "tq-sw-hist"],
      ["last_year", label("last_year"), "tq-sw-last"],
      ["record_year", S.record_year ? label("record_year").replace("{year}", S.record_year.year) : "", "tq-sw-rec"]
    ];
    LEGEND.forEach(function (g) {
      if (!groups[g[0]]) return;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "tq-leg on";
      b.setAttribute("data-group", g[0]);
      b.setAttribute("aria-pressed", "true");
      b.innerHTML = '<span class="tq-sw ' + g[2] + '"></span>';
      b.appendChild(document.createTextNode(g[1]));
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "true";
        u.batch(function () { groups[g[0]].forEach(function (i) { u.setSeries(i, { show: on }); }); });
        b.setAttribute("aria-pressed", on ? "true" : "false");
        b.classList.toggle("on", on);
      });
      legend.appendChild(b);
    });
    thresholds.forEach(function (t) {
      var s = document.createElement("span");
      s.className = "tq-leg tq-thr";
      s.innerHTML = '<span class="tq-sw tq-sw-thr" style="border-color:' + (KIND_COLOURS[t.kind] || "#555") + '"></span>';
      s.appendChild(document.createTextNode((t.label || t.kind) + " " + fmtNum.format(t.value) + " " + units));
      legend.appendChild(s);
    });
    readout.textContent = "\u00a0";

    if (window.ResizeObserver) {
      var last = sz.width;
      new ResizeObserver(function () {
        var s2 = size();
        if (Math.abs(s2.width - last) >= 2) { last = s2.width; u.setSize(s2); }
      }).observe(container);
    }
    container.setAttribute("data-ready", "1");
  }

  function init() {
    var pairsList = [];
    var main = document.getElementById("chart-app"), mainData = document.getElementById("chart-data");
    if (main && mainData) pairsList.push([main, mainData]);
    document.querySelectorAll("[data-chart-data]").forEach(function (el) {
      var d = document.getElementById(el.getAttribute("data-chart-data"));
      if (d && el !== main) pairsList.push([el, d]);
    });
    pairsList.forEach(function (p) {
      var keep = p[0].querySelector("[data-print]");
      if (keep) p[1].__tqPrint = keep;
      try { build(p[0], p[1]); } catch (e) { if (window.console) console.error("chart", e); }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
