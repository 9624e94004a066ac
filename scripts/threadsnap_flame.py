"""A self-contained interactive flame graph (SVG) of a threadsnap recording.

No network and no external script: the frames are laid out here, in Python,
as <rect>s with a <title> each (so the picture is right without JavaScript),
and a small inline script adds what a user expects: hover shows the frame,
its thread-seconds and share; click zooms into a frame (its ancestors stay,
dimmed; everything else is hidden); "Search" (or Ctrl-F) highlights the
frames matching a regular expression and shows what share of all the time
they cover; "Reset zoom" and Escape undo. The URL may carry ?s=REGEX to
search on load (the headless browser check uses it).

Width is wall time (thread-seconds); colour is the state under the frame:
orange running, red waiting for a lock, blue a condvar or semaphore wait,
green I/O, grey sleeping or joining, purple anything else; a frame over
stacks of several states takes the colour of the state that weighs most.

Standard library only.
"""

import html
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from threadsnap_record_out import folded_lines, state_class  # noqa: E402

WIDTH = 1200
ROW = 17
PAD_TOP = 54
PAD_BOTTOM = 30
MIN_PX = 0.3
PALETTE = {   # state class -> (hue base, label)
    "running": ((230, 120, 30), "running (on CPU or runnable)"),
    "lock": ((215, 50, 50), "waiting for a lock"),
    "condvar": ((60, 110, 210), "condvar / semaphore wait"),
    "io": ((60, 160, 80), "I/O (fd) wait"),
    "sleep": ((140, 140, 140), "sleep / join"),
    "other": ((150, 90, 190), "other wait"),
}


class Node:
    __slots__ = ("name", "children", "total", "by_state")

    def __init__(self, name):
        self.name = name
        self.children = {}
        self.total = 0
        self.by_state = {}


def build_tree(lines):
    root = Node("all")
    for stack, n in lines:
        names = stack.split(";")
        leaf = names[-1]
        cls = state_class(leaf[1:-1] if leaf.startswith("[") and leaf != "[no answer]" else None)
        node = root
        for step in [None] + names:
            if step is not None:
                child = node.children.get(step)
                if child is None:
                    child = node.children[step] = Node(step)
                node = child
            node.total += n
            node.by_state[cls] = node.by_state.get(cls, 0) + n
    return root


def _color(node):
    cls = max(node.by_state.items(), key=lambda kv: (kv[1], kv[0]))[0]
    r, g, b = PALETTE[cls][0]
    # Vary the shade by name, so that neighbours are told apart (stable per name).
    h = sum(node.name.encode("utf-8", "replace")) % 40 - 20
    return cls, "rgb(%d,%d,%d)" % (max(0, min(255, r + h)), max(0, min(255, g + h)),
                                   max(0, min(255, b + h)))


def render_svg(p, title):
    lines = folded_lines(p)
    root = build_tree(lines)
    total = max(root.total, 1)
    per_px = total / (WIDTH - 20)
    rects = []
    depth_max = 0
    # Iterative layout, children sorted by name (as flamegraph.pl), root at the bottom.
    stack = [(root, 0, 10.0)]
    order = 0
    while stack:
        node, depth, x = stack.pop()
        w = node.total / per_px
        if w < MIN_PX:
            continue
        depth_max = max(depth_max, depth)
        cls, fill = _color(node)
        rects.append((order, node, depth, x, w, cls, fill))
        order += 1
        cx = x
        kids = []
        for name in sorted(node.children):
            c = node.children[name]
            kids.append((c, depth + 1, cx))
            cx += c.total / per_px
        stack.extend(reversed(kids))
    height = PAD_TOP + (depth_max + 1) * ROW + PAD_BOTTOM
    secs = p.period_ns / 1e9
    out = ['<?xml version="1.0" standalone="no"?>',
           '<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" '
           'xmlns="http://www.w3.org/2000/svg" data-total="%d" data-secs="%r">'
           % (WIDTH, height, WIDTH, height, total, secs),
           "<style>text{font:12px Verdana,sans-serif;fill:#000}"
           " .f text{pointer-events:none} .f:hover rect{stroke:#000;stroke-width:0.5}"
           " .hit rect{fill:rgb(230,0,230)!important} .dim{opacity:0.55}"
           " .hidden{display:none} .btn{cursor:pointer;fill:#225} #info{font-size:12px}</style>",
           '<rect x="0" y="0" width="100%" height="100%" fill="#fdfdf6"/>',
           '<text x="%d" y="20" text-anchor="middle" style="font-size:16px">%s</text>'
           % (WIDTH // 2, html.escape(title)),
           '<text id="legend" x="10" y="40">%s</text>'
           % "".join('<tspan fill="rgb(%d,%d,%d)">&#9632;</tspan><tspan> %s   </tspan>'
                     % (PALETTE[k][0] + (html.escape(PALETTE[k][1]),)) for k in PALETTE
                     if any(r[5] == k for r in rects)),
           '<text id="reset" class="btn hidden" x="10" y="%d">Reset zoom</text>' % (height - 10),
           '<text id="search" class="btn" x="%d" y="40" text-anchor="end">Search</text>'
           % (WIDTH - 10),
           '<text id="matched" x="%d" y="%d" text-anchor="end"></text>' % (WIDTH - 10, height - 10),
           '<text id="info" x="120" y="%d"></text>' % (height - 10),
           '<g id="frames">']
    for order, node, depth, x, w, cls, fill in rects:
        y = height - PAD_BOTTOM - (depth + 1) * ROW
        label = node.name
        tip = "%s (%.2f thread-s, %.2f%%)" % (label, node.total * secs, 100.0 * node.total / total)
        out.append('<g class="f" data-n="%d" data-d="%d" data-x="%.2f" data-w="%.2f" data-s="%s">'
                   '<title>%s</title><rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" '
                   'rx="2"/><text x="%.2f" y="%d">%s</text></g>'
                   % (node.total, depth, x, w, cls, html.escape(tip), x, y, w, ROW - 1, fill,
                      x + 3, y + ROW - 5, html.escape(_fit(label, w))))
    out.append("</g>")
    out.append("<script><![CDATA[\n%s\n]]></script>" % _SCRIPT)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _fit(label, w):
    n = int((w - 6) / 7)
    if n < 3:
        return ""
    return label if len(label) <= n else label[:n - 2] + ".."


_SCRIPT = r"""
"use strict";
var svg = document.documentElement, W = @WIDTH@, total = +svg.getAttribute("data-total");
var secs = +svg.getAttribute("data-secs");
var frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
var info = document.getElementById("info"), matched = document.getElementById("matched");
var reset = document.getElementById("reset");
frames.forEach(function (g, i) { g.idx = i; g.addEventListener("click", function () { zoom(g); });
  g.addEventListener("mouseover", function () {
    info.textContent = g.querySelector("title").textContent; });
  g.addEventListener("mouseout", function () { info.textContent = ""; }); });
function attr(g, k) { return +g.getAttribute("data-" + k); }
function place(g, x, w) {
  var r = g.querySelector("rect"), t = g.querySelector("text");
  r.setAttribute("x", x.toFixed(2)); r.setAttribute("width", w.toFixed(2));
  t.setAttribute("x", (x + 3).toFixed(2));
  var name = g.querySelector("title").textContent.replace(/ \([^()]*\)$/, "");
  var n = Math.floor((w - 6) / 7);
  t.textContent = n < 3 ? "" : (name.length <= n ? name : name.slice(0, n - 2) + "..");
}
function zoom(z) {
  var zx = attr(z, "x"), zw = attr(z, "w"), zd = attr(z, "d"), scale = (W - 20) / zw;
  frames.forEach(function (g) {
    var x = attr(g, "x"), w = attr(g, "w"), d = attr(g, "d");
    g.classList.remove("dim"); g.classList.remove("hidden");
    if (d < zd) {           // an ancestor spans the zoomed frame, or is out of the way
      if (x <= zx + 0.01 && x + w >= zx + zw - 0.01) { g.classList.add("dim"); place(g, 10, W - 20); }
      else g.classList.add("hidden");
    } else if (x >= zx - 0.01 && x + w <= zx + zw + 0.01) {
      place(g, 10 + (x - zx) * scale, w * scale);
    } else g.classList.add("hidden");
  });
  reset.classList.remove("hidden");
}
function unzoom() {
  frames.forEach(function (g) { g.classList.remove("dim"); g.classList.remove("hidden");
    place(g, attr(g, "x"), attr(g, "w")); });
  reset.classList.add("hidden");
}
function search(re) {
  var rx;
  try { rx = new RegExp(re); } catch (e) { matched.textContent = "bad regular expression"; return; }
  var hit = 0, spans = [];
  frames.forEach(function (g) {
    var name = g.querySelector("title").textContent.replace(/ \([^()]*\)$/, "");
    if (re !== "" && rx.test(name)) {
      g.classList.add("hit");
      // Count each stretch of time once: skip frames inside an already counted one.
      var x = attr(g, "x"), w = attr(g, "w");
      if (!spans.some(function (s) { return x >= s[0] - 0.01 && x + w <= s[1] + 0.01; })) {
        spans.push([x, x + w]); hit += attr(g, "n");
      }
    } else g.classList.remove("hit");
  });
  matched.textContent = re === "" ? "" : "Matched: " + (100 * hit / total).toFixed(1) + "% (" +
      (hit * secs).toFixed(2) + " thread-s)";
  svg.setAttribute("data-matched", re === "" ? "" : String(hit));
}
reset.addEventListener("click", unzoom);
document.getElementById("search").addEventListener("click", function () {
  var re = prompt("Search for (regular expression):", ""); if (re !== null) search(re); });
window.addEventListener("keydown", function (e) {
  if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault();
    var re = prompt("Search for (regular expression):", ""); if (re !== null) search(re); }
  if (e.key === "Escape") { unzoom(); search(""); } });
var q = /[?&]s=([^&]*)/.exec(location.search);
if (q) search(decodeURIComponent(q[1]));
var zq = /[?&]z=([^&]*)/.exec(location.search);
if (zq) { var zr = new RegExp(decodeURIComponent(zq[1]));
  var zf = frames.filter(function (g) {
    return zr.test(g.querySelector("title").textContent.replace(/ \([^()]*\)$/, "")); })[0];
  if (zf) zoom(zf); }
svg.setAttribute("data-ready", "1");
""".replace("@WIDTH@", str(WIDTH))
