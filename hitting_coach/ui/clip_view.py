"""The last swing's clip on the live page, beside its numbers (issue 27).

The camera page (``/sensor/camera``) records the take; each swing's clip is the seconds of that
video around its peak (:func:`hitting_coach.store.video.swing_clips`). This shows the newest
swing's clip of the page's device, looped (the video's own ``#t=start,end`` media fragment,
and back to its start when it passes the end), at the speed the coach picks, with the pelvis
and hand peaks marked on a timeline under it and a playhead that follows the video. Nothing
shows until a swing has a clip (no camera recording: nothing changes on the page).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import panel as pn
import param

from hitting_coach.store.video import swing_clips
from hitting_coach.ui.periodic import every

__all__ = ["ClipView", "clip_html"]

_RATES = (1.0, 0.5, 0.25, 0.1)
_COLOURS = {"pelvis": "#1f77b4", "hand": "#d62728"}


def clip_html(swing: dict[str, Any]) -> str:
    """The clip player of one swing of ``swing_clips`` (which has a clip)."""
    clip = swing["clip"]
    a, b = float(clip["start_s"]), float(clip["end_s"])
    span = max(b - a, 1e-3)
    src = escape(f"{clip['video']}#t={a:.3f},{b:.3f}")
    loop = (
        f"if(this.currentTime>={b:.3f}||this.currentTime<{a:.3f}-0.05){{this.currentTime={a:.3f};"
        "this.play();}"
        "var h=this.parentNode.querySelector('.hc-clip-head');"
        f"if(h)h.setAttribute('x',(100*(this.currentTime-{a:.3f})/{span:.3f}).toFixed(2)+'%');"
    )
    marks = "".join(
        f'<line x1="{100 * (t - a) / span:.2f}%" x2="{100 * (t - a) / span:.2f}%" y1="0" y2="18" '
        f'stroke="{_COLOURS[name]}" stroke-width="3"><title>{name} peak</title></line>'
        f'<text x="{100 * (t - a) / span:.2f}%" y="30" font-size="11" fill="{_COLOURS[name]}" '
        f'text-anchor="middle">{name}</text>'
        for name, t in sorted(clip["marks"].items())
        if a <= t <= b
    )
    rates = "".join(
        f'<option value="{r}"{" selected" if r == 1.0 else ""}>{r:g}×</option>' for r in _RATES
    )
    return (
        f'<div class="hc-clip" data-video="{escape(clip["video_id"])}" '
        f'data-start="{a:.3f}" data-end="{b:.3f}">'
        f"<b>Swing {escape(str(swing['swing']))}</b> "
        f"<small>{CLIP_TEXT}</small><br>"
        f'<video class="hc-clip-video" src="{src}" muted autoplay playsinline preload="auto" '
        f'style="width:100%;max-width:480px;background:#000" ontimeupdate="{escape(loop)}" '
        f'onended="this.currentTime={a:.3f};this.play()"></video>'
        '<svg class="hc-clip-timeline" width="100%" height="34" '
        'style="max-width:480px;display:block;background:#f4f4f4">'
        f"{marks}"
        '<rect class="hc-clip-head" x="0%" y="0" width="2" height="34" fill="#333"></rect></svg>'
        '<label>speed <select class="hc-clip-rate" '
        "onchange=\"this.closest('.hc-clip').querySelector('video').playbackRate=+this.value\">"
        f"{rates}</select></label></div>"
    )


CLIP_TEXT = "the camera's view, 1.5 s before the peak to 1 s after"


class ClipView(pn.viewable.Viewer):
    """The newest swing's clip of ``device``, checked every ``period_ms``."""

    device = param.String(
        default=None, allow_None=True, allow_refs=True, doc="Device whose swings are shown."
    )

    def __init__(
        self,
        rows_of: Callable[[str], list[dict[str, Any]]],
        data_dir: Path,
        period_ms: int = 1000,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.rows_of = rows_of
        self.data_dir = Path(data_dir)
        self.pane = pn.pane.HTML("", css_classes=["hc-clip-view"], sizing_mode="stretch_width")
        self._shown: tuple[Any, ...] | None = None
        self.update()
        self._stop = every(self.update, period_ms)

    def update(self) -> None:
        """Show the newest swing's clip (sent to the browser only when it changed)."""
        swing = None
        if self.device:
            rows = self.rows_of(self.device)
            clips = swing_clips(self.data_dir, self.device, rows[-1:]) if rows else []
            swing = clips[0] if clips and clips[0]["clip"] else None
        key = None if swing is None else (swing["swing"], tuple(sorted(swing["clip"].items())))
        if key == self._shown:
            return
        self._shown = key
        self.pane.object = "" if swing is None else clip_html(swing)
        self.pane.visible = swing is not None

    def __panel__(self) -> pn.pane.HTML:
        return self.pane
