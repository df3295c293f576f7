"""The app's shell: one header on every page (the live page, sessions, players, a report) with
the project's name and links to Live, Sessions and Players, and the look the server's own
pages share. Plain HTML and CSS (no CDN, no script): a Panel page shows it in an HTML pane, the
server's pages and a report's standalone file write it as it is.

On a phone (narrow screen) the header wraps onto two lines and every page fits 390 px: text
wraps, tables scroll inside their own box, buttons and inputs never get wider than the screen.
"""

from __future__ import annotations

import html

__all__ = ["LINKS", "PAGE_CSS", "SHELL_CSS", "header", "page"]

#: The header's links: ``(key, label, absolute path)``; the server's prefix is ``/sensor``.
LINKS = (
    ("live", "Live", "/sensor/"),
    ("sessions", "Sessions", "/sensor/sessions"),
    ("players", "Players", "/sensor/players"),
)

#: The header's own look (also inside a Panel pane's shadow root: only its own classes).
SHELL_CSS = """
.hc-shell { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 18px;
  padding: 8px 12px; margin: 0 0 8px 0; background: #12324a; color: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; box-sizing: border-box;
  max-width: 100%; }
.hc-shell .hc-brand { font-weight: 700; font-size: 18px; color: #fff; text-decoration: none;
  white-space: nowrap; }
.hc-shell nav { display: flex; flex-wrap: wrap; gap: 2px 6px; }
.hc-shell nav a { color: #dbe9f5; text-decoration: none; padding: 6px 10px; border-radius: 6px;
  font-size: 16px; white-space: nowrap; }
.hc-shell nav a:hover, .hc-shell nav a:focus { background: #1f4d6e; color: #fff; }
.hc-shell nav a.hc-active { background: #fff; color: #12324a; font-weight: 600; }
@media (max-width: 600px) {
  .hc-shell { padding: 6px 8px; gap: 2px 8px; }
  .hc-shell .hc-brand { font-size: 16px; }
  .hc-shell nav a { padding: 5px 8px; font-size: 15px; }
}
"""

#: The server's own pages (sessions, players): readable on a phone and a desktop alike.
PAGE_CSS = """
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 15px; line-height: 1.45; color: #1b1b1b; background: #f6f7f9; overflow-x: hidden; }
main { max-width: 1100px; margin: 0 auto; padding: 0 10px 40px 10px; }
h1 { font-size: 22px; margin: 10px 0; } h2 { font-size: 19px; margin: 16px 0 8px 0; }
h3 { font-size: 17px; margin: 12px 0 6px 0; }
a { color: #0645ad; overflow-wrap: anywhere; }
.hc-muted, .hc-id { color: #5a5a5a; font-size: 13px; overflow-wrap: anywhere; }
.hc-box { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 12px;
  margin: 10px 0; max-width: 100%; overflow-wrap: anywhere; }
.hc-row { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-end; margin: 6px 0; }
.hc-row > * { max-width: 100%; }
label { display: flex; flex-direction: column; font-size: 13px; color: #444; max-width: 100%; }
input[type=text], select { font: inherit; font-size: 16px; padding: 6px 8px; min-width: 0;
  width: 260px; max-width: 100%; border: 1px solid #b8bec6; border-radius: 6px; background: #fff; }
button, .hc-button { font: inherit; font-size: 15px; padding: 7px 12px; border-radius: 6px;
  border: 1px solid #8a94a0; background: #fff; color: #1b1b1b; cursor: pointer;
  text-decoration: none; display: inline-block; max-width: 100%; white-space: normal; }
button:hover, .hc-button:hover { background: #eef2f6; }
button.hc-primary { background: #12324a; color: #fff; border-color: #12324a; }
button.hc-danger { background: #b00020; color: #fff; border-color: #b00020; }
button[disabled], .hc-button[aria-disabled=true] { opacity: .45; cursor: not-allowed; }
form { margin: 0; max-width: 100%; }
.hc-inline { display: inline; }
.hc-msg { padding: 8px 12px; border-radius: 6px; margin: 8px 0; font-size: 15px; }
.hc-msg.hc-ok { background: #e6f4ea; color: #1b5e20; }
.hc-msg.hc-error { background: #fdecee; color: #b00020; }
.hc-session-card { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  padding: 10px 12px; margin: 10px 0; max-width: 100%; }
.hc-session b { font-size: 17px; }
.hc-session ul { margin: 4px 0; padding-left: 20px; }
.hc-report { margin: 6px 0; }
.hc-report-state { color: #5a5a5a; }
.hc-report-stale { color: #8a5a00; }
.hc-problem { color: #b00020; }
.hc-clips { margin: 6px 0; }
.hc-clip-list { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr));
  gap: 8px; margin-top: 6px; }
.hc-clip { margin: 0; min-width: 0; }
.hc-clip video { display: block; width: 100%; background: #000; border-radius: 4px; }
.hc-clip figcaption { font-size: 14px; overflow-wrap: anywhere; }
.hc-confirm { border: 2px solid #b00020; border-radius: 8px; padding: 8px; margin: 8px 0; }
.hc-pager { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
.hc-table-wrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e6ea; }
.hc-plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
  gap: 10px; }
.hc-plot { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 6px;
  min-width: 0; }
@media (max-width: 600px) {
  main { padding: 0 6px 30px 6px; }
  .hc-plots { grid-template-columns: 100%; }
  input[type=text], select { width: 100%; }
  .hc-row > label { width: 100%; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def header(active: str = "") -> str:
    """The header: the project's name and the links, ``active`` (``live``, ``sessions``,
    ``players`` or none) marked as the page the user is on."""
    links = "".join(
        f'<a class="hc-nav-{key}{" hc-active" if key == active else ""}" href="{href}"'
        + (' aria-current="page"' if key == active else "")
        + f">{label}</a>"
        for key, label, href in LINKS
    )
    return (
        '<header class="hc-shell"><a class="hc-brand" href="/sensor/">Hitting Coach</a>'
        f'<nav aria-label="Hitting Coach">{links}</nav></header>'
    )


def page(title: str, body: str, *, active: str = "", head: str = "") -> str:
    """A whole page of the server: ``title`` (escaped here), the header, then ``body`` (HTML,
    its parts escaped by whoever made them), ``head`` added to the ``<head>``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel="icon" href="/sensor/static/extensions/panel/images/favicon.ico">'
        f"<style>{SHELL_CSS}{PAGE_CSS}</style>{head}</head>"
        f"<body>{header(active)}<main>{body}</main></body></html>"
    )
