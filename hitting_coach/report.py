"""Session reports: the analysis behind them, and one self-contained HTML file per session.

:func:`write_report` runs ``notebooks/02-session-report.ipynb`` from a clean kernel with the
session injected as parameters (the cell after the one tagged ``parameters``, as papermill
does), then exports it with nbconvert to ONE HTML file: BokehJS, Panel's JavaScript and every
stylesheet are inline (the notebook runs ``pn.extension(inline=True)``), and the template has
no require.js, MathJax or widget loader from a CDN, so the file opens with no network and its
plots stay interactive (zoom, pan, hover, the swing slider all run in the browser)::

    hitting-coach report latest -o report.html

:class:`ReportData` is what the notebook's cells show: the session, its swings and the
derived tables. It imports no plotting library, so it runs headless.
"""

from __future__ import annotations

import argparse
import html
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hitting_coach.config import Settings
from hitting_coach.errors import ReportError, SessionError
from hitting_coach.sessions import (
    Session,
    data_path,
    list_takes,
    load_session,
    resolve_session,
)
from hitting_coach.swings import angular_speed_dps, guess_placement, swing_traces, swings

__all__ = [
    "REPORT_NOTEBOOK",
    "ReportData",
    "execute_notebook",
    "headline_metrics",
    "inject_parameters",
    "notebook_to_html",
    "project_settings",
    "report_command",
    "write_report",
]

log = logging.getLogger(__name__)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REPORT_NOTEBOOK = NOTEBOOKS / "02-session-report.ipynb"
Progress = Callable[[str], None]

_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
#: A URL the browser would fetch: script/img/iframe src, link href, CSS @import or url(http...).
_FETCHED_URL = re.compile(
    rb"""<(?:script|img|iframe)\b[^>]*\bsrc=["']?(https?:)?//|<link\b[^>]*\bhref=["']?(https?:)?//"""
    rb"""|@import\s+(?:url\()?["']?https?://""",
    re.IGNORECASE,
)


# ----------------------------------------------------------------------------- analysis
_HEADLINES: dict[str, list[tuple[str, str, str]]] = {
    "pelvis": [("pelvis_peak_dps", "peak pelvis speed", "°/s")],
    "wrist": [("hand_peak_dps", "peak hand speed", "°/s")],
    "pelvis+wrist": [
        ("pelvis_peak_dps", "peak pelvis speed", "°/s"),
        ("hand_peak_dps", "peak hand speed", "°/s"),
        ("peak_gap_ms", "pelvis-to-hand gap", "ms"),
    ],
    "bat": [
        ("bat_speed_mph", "bat speed", "mph"),
        ("time_to_contact_ms", "time to contact", "ms"),
        ("rot_accel_g", "rotational acceleration", "g"),
    ],
}
_SEGMENTS = {
    "pelvis": [("pelvis", "gyroscope")],
    "wrist": [("hand", "wrist motion")],
    "pelvis+wrist": [("pelvis", "gyroscope"), ("hand", "wrist motion")],
    "bat": [("bat", "gyroscope")],
}
_TABLE_COLUMNS = {
    "pelvis": ["pelvis_peak_dps", "pelvis_peak_after_fp_ms", "foot_plant_g"],
    "wrist": ["hand_peak_dps"],
    "pelvis+wrist": [
        "pelvis_peak_dps",
        "hand_peak_dps",
        "pelvis_peak_after_fp_ms",
        "hand_peak_after_fp_ms",
        "peak_gap_ms",
        "speed_gain",
        "sequence_ok",
    ],
    "bat": ["bat_speed_mph", "bat_peak_dps", "time_to_contact_ms", "rot_accel_g", "impact_found"],
}
_EVENT_COLUMNS = {
    "foot_plant_ns": "foot plant",
    "pelvis_peak_ns": "pelvis peak",
    "hand_peak_ns": "hand peak",
    "downswing_start_ns": "downswing start",
    "bat_peak_ns": "bat peak",
    "impact_ns": "impact",
}


def project_settings(start: str | Path | None = None) -> Settings:
    """Settings as ``hitting-coach serve`` sees them when run from the project directory.

    A notebook's kernel runs in ``notebooks/``, but the server runs from the directory above
    it, where ``.env`` and ``./data`` are. The project directory is the nearest of ``start``
    (default: the working directory) and its parents holding a ``.env`` or a
    ``pyproject.toml``; a relative data directory is taken relative to it."""
    here = Path(start or Path.cwd()).resolve()
    root = next(
        (
            d
            for d in (here, *here.parents)
            if (d / ".env").is_file() or (d / "pyproject.toml").is_file()
        ),
        here,
    )
    settings = Settings.load(env_file=root / ".env")
    if not settings.data_path.is_absolute():
        settings = settings.replace(data_dir=str(root / settings.data_path))
    return settings


def headline_metrics(placement: str) -> list[tuple[str, str, str]]:
    """The two or three numbers a report leads with: ``(column, label, unit)``."""
    return list(_HEADLINES.get(placement, []))


@dataclass
class ReportData:
    """A session and its swings, ready to show. Build with :meth:`load` or :meth:`from_session`.

    ``table`` is :func:`hitting_coach.swings.swings` of the session, ``traces`` its
    :func:`~hitting_coach.swings.swing_traces`. Times are epoch ns unless a name says otherwise.
    """

    session: Session
    placement: str
    table: pd.DataFrame
    traces: pd.DataFrame
    placement_guessed: bool = False
    take: str | None = None
    _omega: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        session: Any = "latest",
        data_dir: str | Path | None = None,
        *,
        take: str | None = None,
        placement: str | None = None,
    ) -> ReportData:
        """Load a recorded session (any reference :func:`load_session` takes) and find its
        swings. Raises :class:`SessionError` for a missing or empty session."""
        loaded = load_session(session, data_dir, take=take)
        return cls.from_session(loaded, placement=placement, take=take)

    @classmethod
    def from_session(
        cls, session: Session, *, placement: str | None = None, take: str | None = None
    ) -> ReportData:
        """Analyse an already loaded session (or a simulated one wrapped in a Session)."""
        if not session.readings:
            raise SessionError(f"session {session.session_id} has no readings")
        guessed = placement is None
        try:
            placement = placement or guess_placement(session.frames)
            table = swings(session.frames, placement)
        except ValueError as e:
            raise SessionError(f"cannot analyse session {session.session_id}: {e}") from None
        traces = swing_traces(session.frames, table)
        return cls(session, placement, table, traces, guessed, take)

    # ------------------------------------------------------------------------ facts
    @property
    def start_ns(self) -> int:
        return int(self.session.start_ns or 0)

    @property
    def duration_s(self) -> float:
        end = self.session.end_ns
        return 0.0 if end is None else (end - self.start_ns) / 1e9

    @property
    def start_text(self) -> str:
        return datetime.fromtimestamp(self.start_ns / 1e9).astimezone().strftime("%Y-%m-%d %H:%M")

    @property
    def placement_text(self) -> str:
        return f"placement: {self.placement}" + (" (guessed)" if self.placement_guessed else "")

    @property
    def title(self) -> str:
        s = self.session
        name = s.name or s.session_id
        take = f", take {self.take}" if self.take else ""
        return f"{name} ({s.device_id}{take})"

    @property
    def rates_hz(self) -> dict[str, float]:
        rates = {}
        for sensor, frame in self.session.frames.items():
            t = frame["time_ns"].to_numpy(np.int64)
            if len(t) > 1 and t[-1] > t[0]:
                rates[sensor] = (len(t) - 1) * 1e9 / float(t[-1] - t[0])
        return rates

    def sensors_table(self) -> pd.DataFrame:
        """One row per sensor: readings, first and last reading (s from start), rate."""
        rows = []
        for sensor, frame in self.session.frames.items():
            t = frame["time_ns"].to_numpy(np.int64)
            rows.append(
                {
                    "sensor": sensor,
                    "readings": len(t),
                    "from_s": round((t[0] - self.start_ns) / 1e9, 2) if len(t) else None,
                    "to_s": round((t[-1] - self.start_ns) / 1e9, 2) if len(t) else None,
                    "rate_hz": round(self.rates_hz.get(sensor, float("nan")), 1),
                    "columns": ", ".join(c for c in frame.columns if c != "time_ns"),
                }
            )
        return pd.DataFrame(rows)

    def segments(self) -> list[tuple[str, str]]:
        """``(segment, sensor)`` pairs measured for this placement and present in the data."""
        return [(g, s) for g, s in _SEGMENTS.get(self.placement, []) if s in self.session]

    def angular_speed(self, sensor: str) -> tuple[np.ndarray, np.ndarray]:
        """``(time_ns, |ω| in °/s)`` of a gyroscope or wrist motion stream."""
        if sensor not in self._omega:
            frame = self.session[sensor]
            cols = (
                ["x", "y", "z"]
                if sensor != "wrist motion"
                else [
                    "rotationRateX",
                    "rotationRateY",
                    "rotationRateZ",
                ]
            )
            self._omega[sensor] = (
                frame["time_ns"].to_numpy(np.int64),
                angular_speed_dps(frame[cols].to_numpy(float)),
            )
        return self._omega[sensor]

    def windows(self) -> list[tuple[int, int]]:
        return [
            (int(a), int(b))
            for a, b in zip(self.table["start_ns"], self.table["end_ns"], strict=True)
        ]

    def peak_points(self) -> pd.DataFrame:
        """Per swing: time (s from start) and |ω| of the leading segment's peak, a label."""
        lead = self.segments()[-1][0] if self.segments() else "pelvis"
        rows = []
        for sw in self.table.itertuples(index=False):
            peak_ns = getattr(sw, f"{lead}_peak_ns")
            value = getattr(sw, f"{lead}_peak_measured_dps")
            if pd.isna(peak_ns):
                peak_ns, value = sw.start_ns, 0.0
            rows.append(
                {
                    "Time (s)": (int(peak_ns) - self.start_ns) / 1e9,
                    "|ω| (°/s)": float(value),
                    "swing": int(sw.swing),
                    "metric": self.swing_summary_text(sw._asdict()),
                }
            )
        return pd.DataFrame(rows, columns=["Time (s)", "|ω| (°/s)", "swing", "metric"])

    def quality_flags(self) -> list[str]:
        """Plain sentences for what lowers trust in the numbers (clipping, gaps, low rate)."""
        flags = []
        t = self.table
        for seg in ("pelvis", "hand", "bat"):
            clipped = t[f"{seg}_clipped"].fillna(False).astype(bool).sum() if len(t) else 0
            if clipped:
                flags.append(f"{seg} clipped in {clipped} swing(s)")
            gaps = t[f"{seg}_gap"].fillna(False).astype(bool).sum() if len(t) else 0
            if gaps:
                flags.append(f"sampling gap near the {seg} peak in {gaps} swing(s)")
        for sensor, rate in self.rates_hz.items():
            if sensor in ("gyroscope", "accelerometer", "wrist motion") and rate < 90:
                flags.append(f"{sensor} at {rate:.0f} Hz: peaks may be missed (100+ Hz advised)")
        return flags

    def display_table(self) -> pd.DataFrame:
        """The swing table with this placement's columns, times as s from the start."""
        t = self.table
        if t.empty:
            return pd.DataFrame()
        out = pd.DataFrame({"swing": t["swing"]})
        out["at_s"] = ((t["start_ns"].astype("float64") - self.start_ns) / 1e9).round(1)
        out["duration_ms"] = t["duration_ms"].round(0)
        for c in _TABLE_COLUMNS.get(self.placement, []):
            out[c] = t[c]
        quality = []
        for row in t.itertuples(index=False):
            notes = [
                f"{seg} {kind}"
                for seg in ("pelvis", "hand", "bat")
                for kind in ("clipped", "gap")
                if bool(pd.notna(getattr(row, f"{seg}_{kind}")) and getattr(row, f"{seg}_{kind}"))
            ]
            quality.append(", ".join(notes) or "ok")
        out["quality"] = quality
        return out

    def events(self) -> pd.DataFrame:
        """Long table of marked events: ``swing``, ``event``, ``t_ms`` (on the traces' axis)."""
        rows = []
        for sw in self.table.itertuples(index=False):
            ref = sw.foot_plant_ns if not pd.isna(sw.foot_plant_ns) else sw.start_ns
            for column, label in _EVENT_COLUMNS.items():
                value = getattr(sw, column)
                if not pd.isna(value):
                    rows.append(
                        {"swing": int(sw.swing), "event": label, "t_ms": (value - ref) / 1e6}
                    )
        return pd.DataFrame(rows, columns=["swing", "event", "t_ms"])

    @property
    def trace_axis_label(self) -> str:
        if len(self.table) and self.table["foot_plant_ns"].notna().any():
            return "ms from foot plant (from the swing start without one)"
        return "ms from the swing start"

    def swing_summary_text(self, row: dict[str, Any]) -> str:
        """One line of a swing's headline numbers, e.g. ``pelvis 712 °/s, hand 1790 °/s``."""
        parts = []
        for column, label, unit in headline_metrics(self.placement):
            value = row.get(column)
            if value is not None and not pd.isna(value):
                parts.append(f"{label} {float(value):.0f} {unit}")
        return ", ".join(parts) or "no metrics"

    def swing_summaries(self) -> dict[str, str]:
        """HTML line per swing (keyed by swing number as text) for the sequence viewer."""
        out = {}
        for row in self.table.to_dict("records"):
            at = (int(row["start_ns"]) - self.start_ns) / 1e9
            text = html.escape(self.swing_summary_text(row))
            out[str(int(row["swing"]))] = f"<b>Swing {int(row['swing'])}</b> at {at:.1f} s: {text}"
        return out


# ---------------------------------------------------------------------------- notebooks
def inject_parameters(nb: Any, parameters: dict[str, Any]) -> Any:
    """Insert a cell assigning ``parameters`` after the cell tagged ``parameters`` (or first)."""
    import nbformat

    lines = ["# Parameters injected by hitting-coach"]
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    index = next(
        (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), 0
    )
    nb.cells.insert(index, cell)
    return nb


def execute_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    timeout_s: float = 600,
    cwd: str | Path | None = None,
) -> Any:
    """Run a notebook top to bottom in a fresh kernel of this environment; returns the
    executed notebook node. ``progress`` gets a line as each section starts. Raises
    :class:`ReportError` naming the failing cell's error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except OSError as e:
        raise ReportError(f"cannot read notebook {path}: {e.strerror}") from None
    if parameters:
        inject_parameters(nb, parameters)
    skip = {"parameters", "injected-parameters"}
    code = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and not skip & set(c.metadata.get("tags", []))
    ]
    sections = _sections(nb)
    started = time.monotonic()

    def on_cell_start(cell: Any, cell_index: int) -> None:
        if progress is None or cell_index not in code:
            return
        step = code.index(cell_index) + 1
        progress(
            f"[{step}/{len(code)}] {sections.get(cell_index, 'setup')}"
            f" ({time.monotonic() - started:.1f} s)"
        )

    quiet = logging.getLogger(f"{__name__}.nbclient")
    quiet.setLevel(logging.WARNING)
    client = NotebookClient(
        nb,
        timeout=int(timeout_s),
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd or path.parent)}},
        on_cell_start=on_cell_start,
        log=quiet,
    )
    try:
        # The kernel's own stderr is only start-up chatter; cell output arrives as messages.
        client.execute(stderr=subprocess.DEVNULL)
    except CellExecutionError as e:
        raise ReportError(f"{path.name}: {_last_line(e)}") from None
    except CellTimeoutError:
        raise ReportError(f"{path.name}: a cell ran longer than {timeout_s:.0f} s") from None
    return nb


def _sections(nb: Any) -> dict[int, str]:
    """The latest Markdown heading before each cell (for progress lines)."""
    out, heading = {}, "loading the session"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    heading = line.lstrip("#").strip()
                    break
        out[i] = heading
    return out


def _last_line(error: Exception) -> str:
    ename = getattr(error, "ename", "") or ""
    evalue = getattr(error, "evalue", "") or ""
    if ename or evalue:
        return f"{ename}: {evalue}".strip(": ")
    lines = [ln for ln in str(error).splitlines() if ln.strip()]
    return lines[-1] if lines else "a cell failed"


def notebook_to_html(nb: Any, title: str | None = None) -> str:
    """An executed notebook as one self-contained HTML page: code hidden, outputs only.

    Raises :class:`ReportError` if the page would fetch anything from the network."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"hitting-coach-report.html.j2": _TEMPLATE})],
        template_file="hitting-coach-report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    if title:
        nb.metadata["title"] = title
    for cell in nb.cells:  # Panel publishes empty display data as it sets up comms
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.outputs if o.get("output_type") != "display_data" or o.get("data")
            ]
    body, _ = exporter.from_notebook_node(nb)
    fetched = _FETCHED_URL.search(body.encode())
    if fetched:
        raise ReportError(
            "the report would load something from the network: "
            + fetched.group(0)[:120].decode(errors="replace")
        )
    return body


def write_report(
    session: Any,
    output: str | Path,
    *,
    data_dir: str | Path | None = None,
    take: str | None = None,
    placement: str | None = None,
    progress: Progress | None = None,
    notebook: str | Path = REPORT_NOTEBOOK,
    timeout_s: float = 600,
) -> Path:
    """Write the report of ``session`` (any reference :func:`resolve_session` takes) to
    ``output`` as one self-contained HTML file; returns its path.

    Raises :class:`SessionError` for an unknown session and :class:`ReportError` if the
    notebook fails or the file cannot be written."""
    say = progress or (lambda text: None)
    root = data_path(data_dir).resolve()
    device, session_id = resolve_session(session, root)
    if take is not None:
        takes = list_takes((device, session_id), root)
        if take not in set(takes["take_id"]) | set(takes["name"]):
            names = ", ".join(repr(n) for n in takes["name"]) or "none"
            raise SessionError(f"no take {take!r} in session {session_id} (takes: {names})")
    output = Path(output)
    if output.is_dir():
        raise ReportError(f"{output} is a directory; give a file name such as report.html")
    say(f"report of {device}/{session_id}" + (f", take {take}" if take else ""))
    parameters = {
        "SESSION": f"{device}/{session_id}",
        "DATA_DIR": str(root),
        "TAKE": take,
        "PLACEMENT": placement,
    }
    nb = execute_notebook(notebook, parameters, progress=say, timeout_s=timeout_s)
    say("exporting HTML")
    body = notebook_to_html(nb, title=f"Hitting Coach report: {session_id}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(body, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write {output}: {e.strerror}") from None
    say(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")
    return output


# ----------------------------------------------------------------------------------- CLI
def report_command(args: argparse.Namespace, settings: Settings) -> int:
    """``hitting-coach report`` (its parser is in :mod:`hitting_coach.cli`): progress lines on
    stderr unless ``--quiet``, the file written on stdout."""
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"report: {text}", file=sys.stderr, flush=True)

    path = write_report(
        args.session,
        args.output,
        data_dir=args.data_dir or settings.data_dir,
        take=args.take,
        placement=args.placement,
        progress=None if args.quiet else say,
    )
    print(f"{path} ({time.monotonic() - started:.1f} s)")
    return 0
