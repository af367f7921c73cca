// Pan and zoom of the SVG map (wheel, drag, buttons); station points keep their size on screen. No libraries.
(function () {
  var svg = document.getElementById("map");
  if (!svg) return;
  var vb0 = svg.getAttribute("viewBox").split(" ").map(Number), vb = vb0.slice();
  var r0 = Number(svg.getAttribute("data-r")) || 1, circles = svg.querySelectorAll("circle.st");
  var f0 = Number(svg.getAttribute("data-fs")) || 1, labels = svg.querySelectorAll("text.stlabel");
  var lx = [], ly = [], ls = [];
  for (var j = 0; j < labels.length; j++) {
    ls.push(Number(labels[j].getAttribute("data-s") || 1));
    lx.push(Number(labels[j].getAttribute("x")) - ls[j] * r0 * 1.4);  // the point's x
    ly.push(Number(labels[j].getAttribute("y")) - f0 * 0.35);  // the point's y
  }
  function apply() {
    svg.setAttribute("viewBox", vb.join(" "));
    var k = vb[2] / vb0[2];
    for (var i = 0; i < circles.length; i++) circles[i].setAttribute("r", (r0 * k).toFixed(1));
    // labels keep their size on screen and their offset from the point
    for (var j = 0; j < labels.length; j++) {
      labels[j].setAttribute("font-size", (f0 * k).toFixed(1));
      labels[j].setAttribute("x", (lx[j] + ls[j] * r0 * 1.4 * k).toFixed(1));
      labels[j].setAttribute("y", (ly[j] + f0 * 0.35 * k).toFixed(1));
    }
    layout();
  }
  // show the labels that fit (in priority order, as the server sorted them) and hide those that would overlap
  function layout() {
    var shown = [], pad = f0 * (vb[2] / vb0[2]) * 0.15;
    for (var j = 0; j < labels.length; j++) {
      var b = labels[j].getBBox(), ok = b.x < vb[0] + vb[2] && b.x + b.width > vb[0] && b.y < vb[1] + vb[3] && b.y + b.height > vb[1];
      for (var n = 0; ok && n < shown.length; n++) {
        var o = shown[n];
        if (b.x < o.x + o.width + pad && o.x < b.x + b.width + pad && b.y < o.y + o.height && o.y < b.y + b.height) ok = false;
      }
      labels[j].setAttribute("visibility", ok ? "visible" : "hidden");
      if (ok) shown.push(b);
    }
  }
  function zoom(f, cx, cy) {
    var w = Math.min(vb0[2] * 1.5, Math.max(vb0[2] / 200, vb[2] * f)), h = w * vb[3] / vb[2];
    if (cx === undefined) { cx = vb[0] + vb[2] / 2; cy = vb[1] + vb[3] / 2; }
    vb = [cx - (cx - vb[0]) * w / vb[2], cy - (cy - vb[1]) * h / vb[3], w, h];
    apply();
  }
  function point(e) {
    var r = svg.getBoundingClientRect(), s = Math.max(vb[2] / r.width, vb[3] / r.height);
    var ox = (r.width - vb[2] / s) / 2, oy = (r.height - vb[3] / s) / 2;
    return [vb[0] + (e.clientX - r.left - ox) * s, vb[1] + (e.clientY - r.top - oy) * s, s];
  }
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = point(e);
    zoom(e.deltaY < 0 ? 0.8 : 1.25, p[0], p[1]);
  }, { passive: false });
  var drag = null, moved = false;
  svg.addEventListener("pointerdown", function (e) { drag = [e.clientX, e.clientY, vb[0], vb[1], point(e)[2]]; moved = false; });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag[0], dy = e.clientY - drag[1];
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    if (moved) { vb[0] = drag[2] - dx * drag[4]; vb[1] = drag[3] - dy * drag[4]; apply(); }
  });
  window.addEventListener("pointerup", function () { drag = null; });
  svg.addEventListener("click", function (e) { if (moved) { e.preventDefault(); moved = false; } }, true);
  document.querySelectorAll(".mapctl button").forEach(function (b) {
    b.addEventListener("click", function () {
      var z = b.getAttribute("data-zoom");
      if (z === "in") zoom(0.6); else if (z === "out") zoom(1 / 0.6); else { vb = vb0.slice(); apply(); }
    });
  });
})();
