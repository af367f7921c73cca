/* Tasqyn map of Kazakhstan: Leaflet 1.9 + Leaflet.markercluster (vendored under /static/vendor/leaflet/), offline
 * vector layers from /static/layers/, no request leaves the server unless tile_url is set.
 *
 * Page contract (also in service/static/vendor/README.md):
 *   <div id="map-app"> ...server-rendered SVG map for browsers without JavaScript... </div>
 *   <script type="application/json" id="map-data">{
 *     "lang": "ru" | "kk" | "en",
 *     "labels": {                      // every text the script shows; a missing one falls back to English
 *       "search": "Пост, река или бассейн", "search_hint": "название или код поста",
 *       "no_results": "Ничего не найдено",
 *       "levels": {"0": "Норма", "1": "Неблагоприятная", "2": "Опасная", "3": "Критическая"},
 *       "no_level": "Нет текущих данных",
 *       "states": {"stale": "Данные устарели", "climatology": "Только климатический прогноз", "no_forecast": "Нет прогноза"},
 *       "trends": {"rising": "подъём", "steady": "без изменений", "falling": "спад"},
 *       "risk": "Степень опасности", "river": "Река", "basin": "Бассейн", "post_code": "Код поста",
 *       "open": "Открыть страницу поста",
 *       "kinds": {"station": "пост", "river": "река", "basin": "бассейн", "subbasin": "подбассейн"},
 *       "layers": {"wm_basins": "Водохозяйственные бассейны", "subbasins": "Подбассейны", "rivers": "Реки",
 *                  "lakes": "Озёра", "oblasts": "Границы областей (без изменений 2018–2022 гг.)",
 *                  "stations": "Посты"},
 *       "n_stations": "Постов: {n}", "zoom_in": "Приблизить", "zoom_out": "Отдалить",
 *       "reset": "Весь Казахстан", "no_coords": "без координат",
 *       "attribution": "Бассейны, реки, озёра © А. Маханов (MIT) · Natural Earth"
 *     },
 *     "tile_url": null | "https://tiles.example/{z}/{x}/{y}.png",  "tile_attribution": "",
 *     "layers_base": "/static/layers/",
 *     "stations": [{"id": "11433", "name": "Атбасар", "names": {"ru": "Атбасар", "kk": "Атбасар", "en": "Atbasar"},
 *                   "river": "Есіл", "basin_id": "ESIL", "wm_basin": "Yesil" | null, "lat": 51.8, "lon": 68.37,
 *                   "level": 0 | 1 | 2 | 3 | null, "state": "ok" | "stale" | "climatology" | "no_forecast",
 *                   "reason": "текст" | null, "trend": "rising" | "steady" | "falling" | null,
 *                   "url": "/stations/11433"}],
 *     "wm_basin_levels": {"Yesil": 2, "Ertis": null}   // by basin name (or id WMB_0000n); highest level of its
 *   }</script>                                          // current stations, null (grey) when none is current
 *
 * A station is coloured by its level only when state is "ok" and level is not null; otherwise it is grey and its
 * popup gives the state and the reason. The colours are the custom properties --l0..--l3 and --none of
 * dashboard.css (their one definition). An element of #map-app with the attribute data-print (the server's SVG map)
 * is kept, hidden on screen and shown when printing. The script replaces the contents of #map-app only; without JavaScript (or
 * if Leaflet did not load) the server's SVG stays. window.TasqynMap exposes {map, cluster, markers, select} for
 * tests. */
(function () {
  "use strict";
  var root = document.getElementById("map-app"), dataEl = document.getElementById("map-data");
  if (!root || !dataEl || !window.L || !L.markerClusterGroup) return;
  var D;
  try { D = JSON.parse(dataEl.textContent); } catch (e) { if (window.console) console.error("map-data:", e); return; }

  // the layers are requested first, so that the downloads overlap with building the map and the markers
  var hasTiles = typeof D.tile_url === "string" && D.tile_url.length > 0;
  var base = D.layers_base || "/static/layers/", requests = {};
  ["world_110m.geojson", "kz_outline.geojson", "wm_basins.geojson", "subbasins.geojson", "rivers.geojson",
   "lakes.geojson", "oblast_lines.geojson"].forEach(function (name) {
    if (name === "world_110m.geojson" && hasTiles) return;
    requests[name] = window.fetch(base + name, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(name + ": HTTP " + r.status);
      return r.json();
    });
  });

  var LANG = D.lang || "ru";
  // the level colours have one definition, the custom properties --l0..--l3 and --none of dashboard.css
  var CSS = window.getComputedStyle(document.documentElement);
  function cssColour(name) { return (CSS.getPropertyValue(name) || "").trim() || "#808080"; }
  var COLOURS = { 0: cssColour("--l0"), 1: cssColour("--l1"), 2: cssColour("--l2"), 3: cssColour("--l3") };
  var GREY = cssColour("--none");
  var ARROWS = { rising: "\u2191", steady: "\u2192", falling: "\u2193" };
  var KZ_BOUNDS = [[40.56, 46.47], [55.45, 87.36]];  // lat, lon of Kazakhstan's outline
  var DEFAULTS = {
    search: "Station, river or basin", search_hint: "name or post code", no_results: "Nothing found",
    levels: { 0: "Normal", 1: "Warning", 2: "Danger", 3: "Extreme" }, no_level: "No current data",
    states: { stale: "Data out of date", climatology: "Climatology only", fallback: "Persistence only",
              no_thresholds: "No marks", failed: "Forecast failed", no_forecast: "No forecast" },
    overridden: "set by a hydrologist",
    trends: { rising: "rising", steady: "steady", falling: "falling" },
    risk: "Risk level", river: "River", basin: "Basin", post_code: "Post code", open: "Open the station page",
    kinds: { station: "station", river: "river", basin: "basin", subbasin: "sub-basin" },
    layers: { wm_basins: "Water-management basins", subbasins: "Sub-basins", rivers: "Rivers", lakes: "Lakes",
              oblasts: "Oblast borders (without the 2018-2022 changes)", stations: "Gauging stations" },
    n_stations: "Stations: {n}", zoom_in: "Zoom in", zoom_out: "Zoom out", reset: "All of Kazakhstan",
    no_coords: "no coordinates",
    attribution: "Basins, rivers, lakes \u00a9 A. Makhanov (MIT) \u00b7 Natural Earth"
  };
  var LB = D.labels || {};
  function label(key, sub) {
    var v = LB[key], d = DEFAULTS[key];
    if (sub !== undefined) { v = v && v[sub]; d = d && d[sub]; }
    return v !== undefined && v !== null && v !== "" ? String(v) : (d !== undefined ? String(d) : String(sub || key));
  }
  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function level(st) { return st.state === "ok" && typeof st.level === "number" ? st.level : null; }
  function colour(l) { return l === null || l === undefined ? GREY : (COLOURS[l] || GREY); }
  function lvlClass(l) { return "tq-l" + (l === null || l === undefined ? "x" : l); }
  function stationName(st) { return (st.names && st.names[LANG]) || st.name || st.id; }
  function featName(p) { return (p.names && p.names[LANG]) || p.name || p.code || ""; }

  // Search keys: lower case, no diacritics, Kazakh letters folded onto their Russian neighbours, no punctuation.
  var FOLD = { "\u04d9": "\u0430", "\u0493": "\u0433", "\u049b": "\u043a", "\u04a3": "\u043d", "\u04e9": "\u043e",
               "\u04b1": "\u0443", "\u04af": "\u0443", "\u04bb": "\u0445", "\u0456": "\u0438", "\u0451": "\u0435",
               "\u0439": "\u0438", "\u044a": "", "\u044c": "" };
  function norm(s) {
    s = String(s || "").toLowerCase();
    if (s.normalize) s = s.normalize("NFD").replace(/[\u0300-\u036f]/g, "");
    s = s.replace(/[\u04d9\u0493\u049b\u04a3\u04e9\u04b1\u04af\u04bb\u0456\u0451\u0439\u044a\u044c]/g, function (c) { return FOLD[c]; });
    return s.replace(/[\s\-\u2010-\u2015_.,;:()\u00ab\u00bb"'\u2019/]+/g, " ").trim();
  }
  // Kazakhstan's main rivers under their Kazakh, Russian and English names (a station's river is matched by any).
  var RIVERS = [
    ["Ертіс", "Иртыш", "Ертис", "Ertis", "Irtysh"], ["Есіл", "Ишим", "Есиль", "Yesil", "Esil", "Ishim"],
    ["Тобыл", "Тобол", "Tobyl", "Tobol"], ["Жайық", "Урал", "Жайык", "Zhaiyk", "Ural"], ["Нұра", "Нура", "Nura"],
    ["Іле", "Или", "Ile", "Ili"], ["Сырдария", "Сырдарья", "Syr Darya", "Syrdarya"], ["Шу", "Чу", "Shu", "Chu"],
    ["Талас", "Talas"], ["Сарысу", "Sarysu"], ["Торғай", "Тургай", "Torgai", "Turgai"], ["Елек", "Илек", "Elek", "Ilek"],
    ["Ойыл", "Уил", "Oiyl", "Uil"], ["Жем", "Эмба", "Zhem", "Emba"], ["Үлбі", "Ульба", "Ulbi", "Ulba"],
    ["Бұқтырма", "Бухтарма", "Bukhtyrma", "Bukhtarma"], ["Қара Ертіс", "Черный Иртыш", "Кара Ертис", "Kara Ertis"],
    ["Шаған", "Чаган", "Shagan", "Chagan"], ["Қаратал", "Каратал", "Karatal"], ["Лепсі", "Лепсы", "Lepsi", "Lepsy"],
    ["Ақсу", "Аксу", "Aksu"], ["Тентек", "Tentek"], ["Емел", "Эмель", "Emel"], ["Күршім", "Курчум", "Kurshim", "Kurchum"],
    ["Обаған", "Убаган", "Obagan", "Ubagan"], ["Қалқұтан", "Калкутан", "Kalkutan"], ["Жабай", "Zhabai"],
    ["Шағалалы", "Чаглинка", "Shagalaly"], ["Сілеті", "Селеты", "Sileti", "Selety"], ["Өлеңті", "Оленты", "Olenti"],
    ["Қорғалжын", "Коргалжын"], ["Шідерті", "Шидерты", "Shiderti"], ["Ақбұлақ", "Акбулак", "Akbulak"]
  ];
  var RIVER_KEYS = {};
  RIVERS.forEach(function (g) {
    var keys = g.map(norm);
    keys.forEach(function (k) { RIVER_KEYS[k] = keys; });
  });
  function riverKeys(name) {
    var k = norm(name);
    return RIVER_KEYS[k] || [k];
  }

  // ---- the page structure inside #map-app -------------------------------------------------------------------
  var keep = root.querySelector("[data-print]");  // the server's SVG map: kept for print, hidden on screen
  root.textContent = "";
  root.classList.add("tq-map-app");
  if (keep) {
    var holder = document.createElement("div");
    holder.className = "tq-print-only";
    holder.appendChild(keep);
    root.appendChild(holder);
  }
  var bar = document.createElement("div");
  bar.className = "tq-search";
  var input = document.createElement("input");
  input.type = "search";
  input.id = "map-search";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.placeholder = label("search") + " (" + label("search_hint") + ")";
  input.setAttribute("aria-label", label("search"));
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", "map-search-results");
  input.setAttribute("aria-autocomplete", "list");
  var list = document.createElement("ul");
  list.id = "map-search-results";
  list.className = "tq-results";
  list.setAttribute("role", "listbox");
  list.hidden = true;
  bar.appendChild(input);
  bar.appendChild(list);
  var mapDiv = document.createElement("div");
  mapDiv.className = "tq-map";
  mapDiv.id = "map-leaflet";
  root.appendChild(bar);
  root.appendChild(mapDiv);

  var map = L.map(mapDiv, { zoomControl: false, attributionControl: false, zoomSnap: 0.25, zoomDelta: 0.5,
                            minZoom: 1.5, maxZoom: hasTiles ? 18 : 11, worldCopyJump: false });
  map.fitBounds(KZ_BOUNDS, { padding: [6, 6], animate: false });
  L.control.zoom({ zoomInTitle: label("zoom_in"), zoomOutTitle: label("zoom_out") }).addTo(map);
  var Reset = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var b = L.DomUtil.create("button", "tq-reset leaflet-bar");
      b.type = "button";
      b.title = label("reset");
      b.setAttribute("aria-label", label("reset"));
      b.textContent = "\u2302";
      L.DomEvent.disableClickPropagation(b);
      L.DomEvent.on(b, "click", function () { map.fitBounds(KZ_BOUNDS, { padding: [6, 6] }); });
      return b;
    }
  });
  new Reset().addTo(map);
  var attribution = L.control.attribution({ prefix: '<a href="https://leafletjs.com">Leaflet</a>' }).addTo(map);
  attribution.addAttribution(esc(label("attribution")));
  if (hasTiles) {
    L.tileLayer(D.tile_url, { attribution: esc(D.tile_attribution || ""), maxZoom: 18 }).addTo(map);
    root.classList.add("tq-tiles");
  }

  [["tq-world", 300], ["tq-land", 310], ["tq-basins", 350], ["tq-lakes", 360], ["tq-rivers", 370],
   ["tq-sub", 380], ["tq-oblasts", 385], ["tq-outline", 390]].forEach(function (p) {
    var pane = map.createPane(p[0]);
    pane.style.zIndex = p[1];
    if (p[0] !== "tq-basins") pane.style.pointerEvents = "none";
  });

  // ---- stations -----------------------------------------------------------------------------------------------
  var stations = Array.isArray(D.stations) ? D.stations : [];
  var levelsByBasin = D.wm_basin_levels || {};
  var basinNames = {};  // wm basin name -> names by language, from the layer
  function levelText(st) {
    var l = level(st);
    if (l !== null) return label("levels", String(l));
    return st.state && st.state !== "ok" ? label("states", st.state) : label("no_level");
  }
  function popupHtml(st) {
    var l = level(st), h = '<div class="tq-pop">';
    h += '<div class="tq-pop-name">' + esc(stationName(st)) + ' <span class="tq-code">' + esc(st.id) + "</span></div>";
    if (st.river) h += '<div class="tq-pop-row">' + esc(label("river")) + ": " + esc(st.river) + "</div>";
    var bn = st.wm_basin && basinNames[st.wm_basin];
    if (bn) h += '<div class="tq-pop-row">' + esc(label("basin")) + ": " + esc(bn[LANG] || st.wm_basin) + "</div>";
    h += '<div class="tq-pop-row">' + esc(label("risk")) + ': <span class="tq-chip ' + lvlClass(l) + '">' + esc(levelText(st)) + "</span>";
    if (st.trend && ARROWS[st.trend]) h += ' <span class="tq-trendtxt">' + ARROWS[st.trend] + " " + esc(label("trends", st.trend)) + "</span>";
    if (st.overridden) h += ' <span class="tq-over">(' + esc(label("overridden")) + ")</span>";
    h += "</div>";
    if (st.reason) h += '<div class="tq-pop-reason">' + esc(st.reason) + "</div>";
    if (st.url) h += '<a class="tq-pop-link" href="' + esc(st.url) + '">' + esc(label("open")) + "</a>";
    return h + "</div>";
  }
  function stationIcon(st) {
    var l = level(st), arrow = st.trend && ARROWS[st.trend];
    return L.divIcon({
      className: "tq-st " + lvlClass(l),
      html: '<span class="tq-dot"></span>' + (arrow ? '<span class="tq-arrow" aria-hidden="true">' + arrow + "</span>" : ""),
      iconSize: [18, 18], iconAnchor: [9, 9], popupAnchor: [0, -8]
    });
  }
  var cluster = L.markerClusterGroup({
    maxClusterRadius: 36, showCoverageOnHover: false, spiderfyOnMaxZoom: true, zoomToBoundsOnClick: true,
    chunkedLoading: true,
    iconCreateFunction: function (c) {
      var best = null, kids = c.getAllChildMarkers();
      for (var i = 0; i < kids.length; i++) {
        var l = kids[i].options.tqLevel;
        if (l !== null && (best === null || l > best)) best = l;
      }
      var n = c.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 42;
      return L.divIcon({ className: "tq-cluster " + lvlClass(best), iconSize: [size, size],
                         html: "<span>" + n + "</span>" });
    }
  });
  var markers = {}, markerList = [];
  stations.forEach(function (st) {
    var lat = Number(st.lat), lon = Number(st.lon);
    if (st.lat === null || st.lon === null || !isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return;
    var m = L.marker([lat, lon], { icon: stationIcon(st), title: stationName(st) + " \u2014 " + levelText(st),
                                   alt: stationName(st), riseOnHover: true, tqLevel: level(st), tqId: String(st.id) });
    m.bindPopup(function () { return popupHtml(st); }, { maxWidth: 260 });
    markers[String(st.id)] = m;
    markerList.push(m);
  });
  cluster.addLayers(markerList);
  cluster.on("clusterclick", function () {});  // zoomToBoundsOnClick / spiderfy do the work
  map.addLayer(cluster);

  // ---- vector layers ------------------------------------------------------------------------------------------
  var wmLayer = null, subLayer = null, pending = 0;
  var control = L.control.layers(null, null, { collapsed: true, position: "topright" }).addTo(map);
  function basinLevel(p) {
    var v = levelsByBasin[p.name];
    if (v === undefined) v = levelsByBasin[p.id];
    return typeof v === "number" ? v : null;
  }
  function load(name, make, title, on) {
    pending += 1;
    return requests[name]
      .then(function (gj) {
        var layer = make(gj);
        if (on) layer.addTo(map);
        if (title) control.addOverlay(layer, esc(title));
        return layer;
      })
      .catch(function (e) {
        root.setAttribute("data-layer-error", String(e && e.message || e));
        if (window.console) console.warn("map layer", name, e);
      })
      .then(function (layer) {
        pending -= 1;
        if (pending === 0) { buildIndex(); root.setAttribute("data-ready-ms", String(Math.round(window.performance ? performance.now() : 0))); root.setAttribute("data-ready", "1"); }
        return layer;
      });
  }
  if (!hasTiles) {
    load("world_110m.geojson", function (gj) {
      return L.geoJSON(gj, { pane: "tq-world", interactive: false,
                             style: { color: "#b9c0c6", weight: 0.8, fillColor: "#e3e1da", fillOpacity: 1 } });
    }, null, true);
  }
  load("kz_outline.geojson", function (gj) {
    var g = L.layerGroup([
      L.geoJSON(gj, { pane: "tq-land", interactive: false,
                      style: { stroke: false, fillColor: "#fbfaf5", fillOpacity: hasTiles ? 0 : 1 } }),
      L.geoJSON(gj, { pane: "tq-outline", interactive: false,
                      style: { color: "#3d4a55", weight: 1.6, fill: false, className: "tq-outline" } })
    ]);
    return g;
  }, null, true);
  load("wm_basins.geojson", function (gj) {
    (gj.features || []).forEach(function (f) { basinNames[f.properties.name] = f.properties.names || {}; });
    wmLayer = L.geoJSON(gj, {
      pane: "tq-basins",
      style: function (f) {
        var l = basinLevel(f.properties);
        return { color: l === null ? "#8a949c" : colour(l), weight: 1.4, fillColor: colour(l),
                 fillOpacity: l === null ? 0.1 : (hasTiles ? 0.22 : 0.3), className: "tq-basin " + lvlClass(l) };
      },
      onEachFeature: function (f, layer) {
        var l = basinLevel(f.properties);
        layer.feature.properties.tqLevel = l;
        layer.bindTooltip(esc(featName(f.properties)) + "<br>" + esc(label("risk")) + ": " +
                          esc(l === null ? label("no_level") : label("levels", String(l))), { sticky: true });
      }
    });
    return wmLayer;
  }, label("layers", "wm_basins"), true);
  load("subbasins.geojson", function (gj) {
    subLayer = L.geoJSON(gj, { pane: "tq-sub", interactive: false,
                               style: { color: "#55606b", weight: 0.9, dashArray: "4 4", fill: false, className: "tq-subbasin" } });
    return subLayer;
  }, label("layers", "subbasins"), true);
  load("rivers.geojson", function (gj) {
    return L.geoJSON(gj, { pane: "tq-rivers", interactive: false, style: { color: "#2f7fc1", weight: 1.1, opacity: 0.9, className: "tq-river" } });
  }, label("layers", "rivers"), true);
  load("lakes.geojson", function (gj) {
    return L.geoJSON(gj, { pane: "tq-lakes", interactive: false,
                           style: { color: "#2f7fc1", weight: 0.7, fillColor: "#a9cfe9", fillOpacity: 1, className: "tq-lake" } });
  }, label("layers", "lakes"), true);
  load("oblast_lines.geojson", function (gj) {
    return L.geoJSON(gj, { pane: "tq-oblasts", interactive: false,
                           style: { color: "#7d6b8a", weight: 0.9, dashArray: "2 3", className: "tq-oblast" } });
  }, label("layers", "oblasts"), false);
  control.addOverlay(cluster, esc(label("layers", "stations")));

  // ---- search ---------------------------------------------------------------------------------------------------
  var index = [];
  function buildIndex() {
    index = [];
    var rivers = {};
    stations.forEach(function (st) {
      var keys = [st.name, st.id].concat(st.names ? [st.names.ru, st.names.kk, st.names.en] : []);
      index.push({ kind: "station", id: String(st.id), label: stationName(st),
                   sub: [st.river, st.id].filter(Boolean).join(" \u00b7 ") + (markers[String(st.id)] ? "" : " \u00b7 " + label("no_coords")),
                   keys: keys.filter(Boolean).map(norm), code: String(st.id), st: st });
      if (st.river) {
        var rk = riverKeys(st.river), id = rk[0];
        if (!rivers[id]) rivers[id] = { kind: "river", id: id, label: st.river, keys: rk.slice(), stations: [] };
        if (rivers[id].keys.indexOf(norm(st.river)) < 0) rivers[id].keys.push(norm(st.river));
        rivers[id].stations.push(st);
      }
    });
    Object.keys(rivers).forEach(function (k) {
      var r = rivers[k];
      r.sub = label("n_stations").replace("{n}", r.stations.length);
      index.push(r);
    });
    [[wmLayer, "basin"], [subLayer, "subbasin"]].forEach(function (pair) {
      if (!pair[0]) return;
      pair[0].eachLayer(function (layer) {
        var p = layer.feature.properties, names = p.names || {};
        var keys = [p.name, p.code, names.kk, names.ru, names.en].concat(p.alt || []).filter(Boolean).map(norm);
        index.push({ kind: pair[1], id: p.id || p.code, label: featName(p), sub: "", keys: keys, layer: layer });
      });
    });
  }
  buildIndex();

  function score(item, q, digits) {
    if (digits && item.code) {
      if (item.code === q) return 0;
      if (item.code.indexOf(q) === 0) return 1;
    }
    var best = 9;
    for (var i = 0; i < item.keys.length; i++) {
      var k = item.keys[i];
      if (!k) continue;
      if (k === q) return 0;
      if (k.indexOf(q) === 0) best = Math.min(best, 1);
      else if ((" " + k).indexOf(" " + q) >= 0) best = Math.min(best, 2);
      else if (q.length >= 3 && k.indexOf(q) > 0) best = Math.min(best, 3);
    }
    return best;
  }
  var KIND_ORDER = { station: 0, river: 1, basin: 2, subbasin: 3 };
  function search(text) {
    var q = norm(text), digits = /^\d+$/.test(q);
    if (q.length < (digits ? 2 : 2)) return [];
    var found = [];
    index.forEach(function (item) {
      var s = score(item, q, digits);
      if (s < 9) found.push([s, KIND_ORDER[item.kind], item.label, item]);
    });
    found.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0); });
    return found.slice(0, 8).map(function (f) { return f[3]; });
  }
  var results = [], active = -1;
  function render() {
    list.textContent = "";
    if (!input.value.trim()) { list.hidden = true; input.setAttribute("aria-expanded", "false"); return; }
    if (!results.length) {
      var li = document.createElement("li");
      li.className = "tq-none";
      li.textContent = label("no_results");
      list.appendChild(li);
    }
    results.forEach(function (r, i) {
      var li = document.createElement("li");
      li.id = "map-search-opt-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("data-kind", r.kind);
      li.setAttribute("data-id", r.id);
      if (i === active) { li.className = "on"; li.setAttribute("aria-selected", "true"); }
      var k = document.createElement("span");
      k.className = "tq-kind";
      k.textContent = label("kinds", r.kind);
      li.appendChild(k);
      li.appendChild(document.createTextNode(" " + r.label));
      if (r.sub) {
        var s = document.createElement("span");
        s.className = "tq-sub";
        s.textContent = " " + r.sub;
        li.appendChild(s);
      }
      li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(r); });
      list.appendChild(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    if (active >= 0) input.setAttribute("aria-activedescendant", "map-search-opt-" + active);
    else input.removeAttribute("aria-activedescendant");
  }
  function flash(layer) {
    if (!layer.setStyle) return;
    layer.setStyle({ weight: 4 });
    setTimeout(function () { if (wmLayer) wmLayer.resetStyle(layer); }, 1600);
  }
  function choose(r) {
    input.value = r.label;
    results = [];
    active = -1;
    render();
    list.hidden = true;
    root.setAttribute("data-selected", r.kind + ":" + r.id);
    if (r.kind === "station") {
      var m = markers[r.id];
      if (!m) { if (r.st && r.st.url) window.location.href = r.st.url; return; }
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 9), { animate: false });
      cluster.zoomToShowLayer(m, function () { m.openPopup(); });
    } else if (r.kind === "river") {
      var pts = r.stations.filter(function (st) { return markers[String(st.id)]; })
        .map(function (st) { return markers[String(st.id)].getLatLng(); });
      if (pts.length === 1) map.setView(pts[0], 9);
      else if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 10 });
    } else if (r.layer) {
      map.fitBounds(r.layer.getBounds(), { padding: [10, 10] });
      if (r.kind === "basin") { flash(r.layer); r.layer.openTooltip(r.layer.getBounds().getCenter()); }
    }
  }
  input.addEventListener("input", function () { results = search(input.value); active = results.length ? 0 : -1; render(); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!results.length) return;
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : results.length - 1)) % results.length;
      render();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (!results.length) results = search(input.value);
      if (results.length) choose(results[Math.max(active, 0)]);
    } else if (e.key === "Escape") {
      input.value = "";
      results = [];
      render();
    }
  });
  input.addEventListener("blur", function () { setTimeout(function () { list.hidden = true; input.setAttribute("aria-expanded", "false"); }, 150); });
  input.addEventListener("focus", function () { if (input.value.trim()) { results = search(input.value); render(); } });

  // the map keeps its size when the page layout changes (phones rotating, the side panel wrapping)
  if (window.ResizeObserver) new ResizeObserver(function () { map.invalidateSize(); }).observe(mapDiv);
  window.TasqynMap = { map: map, cluster: cluster, markers: markers, select: choose, search: search };
})();
