"""Session reports: the analysis behind them, and one self-contained HTML file per session.

:func:`write_report` runs ``notebooks/02-session-report.ipynb`` from a clean kernel with the
session injected as parameters (the cell after the one tagged ``parameters``, as papermill
does), then exports it with nbconvert to ONE HTML file: BokehJS, Panel's JavaScript and every
stylesheet are inline (the notebook runs ``pn.extension(inline=True)``), and the template has
no require.js, MathJax or widget loader from a CDN, so the file opens with no network and its
plots stay interactive (zoom, pan, hover, the swing slider all run in the browser)::

    hitting-coach report latest -o report.html

What the notebook shows is :class:`hitting_coach.analysis.report_data.ReportData`.

Fixed costs, kept off a report's path: each report runs in its own kernel, a
:class:`WarmKernel` started ahead that imports the notebook's libraries (:data:`WARM_IMPORTS`)
before it answers. ``write_report`` starts one before it resolves the session, so the kernel's
start-up and imports run beside the caller's own; the sessions page's report jobs
(:mod:`hitting_coach.report_jobs`) keep one ready between reports. The HTML exporter and its
templates are built once per process, in a thread while the first notebook runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hitting_coach.compat import import_nbformat
from hitting_coach.config import Settings
from hitting_coach.errors import ReportError, SessionError
from hitting_coach.resources import notebook_path

__all__ = [
    "NOTEBOOK_ONLY",
    "REPORT_NOTEBOOK",
    "WARM_IMPORTS",
    "WarmKernel",
    "close_event_loop",
    "execute_notebook",
    "inject_parameters",
    "notebook_to_html",
    "prepare_exporter",
    "report_command",
    "write_report",
]

log = logging.getLogger(__name__)

REPORT_NOTEBOOK = notebook_path("02-session-report.ipynb")
#: Cells with this tag are shown in JupyterLab and left out of the exported report.
NOTEBOOK_ONLY = "notebook-only"
Progress = Callable[[str], None]
#: What a report kernel imports as it starts, before it answers: the report notebook's own
#: imports (then no-ops in its first cell), most of a cold report's time.
WARM_IMPORTS = (
    "panel",
    "hitting_coach.analysis.report_data",
    "hitting_coach.config",
    "hitting_coach.ui.report_plots",
)

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


# ------------------------------------------------------------------------------ kernels
class WarmKernel:
    """A Jupyter kernel of this environment, started now in ``cwd``, that imports
    :data:`WARM_IMPORTS` before it answers (IPython's ``exec_lines``; they leave no name in
    the notebook's namespace). Started ahead of a report, it spends its start-up and imports
    while the caller does something else.

    One notebook per kernel: :func:`execute_notebook` shuts it down after its run, so every
    report still starts from a clean namespace. Use it from the thread that made it (its
    manager runs on that thread's event loop); :meth:`shutdown` is safe to call twice."""

    def __init__(self, cwd: str | Path, *, nice: int = 0) -> None:
        """``nice``: how much lower the kernel's CPU priority is than this process's (a
        server's report kernel yields the CPU to the phones' POSTs and the pages)."""
        from jupyter_client.manager import AsyncKernelManager

        self.cwd = Path(cwd)
        self.used = False
        self.manager = AsyncKernelManager(kernel_name="python3")
        warm = f"import importlib as _i; [_i.import_module(m) for m in {WARM_IMPORTS!r}]; del _i"
        started = time.monotonic()
        # The kernel's own stderr is only start-up chatter; cell output arrives as messages.
        _run_sync(self.manager.start_kernel)(
            cwd=str(self.cwd),
            extra_arguments=[f"--IPKernelApp.exec_lines={warm}"],
            stderr=subprocess.DEVNULL,
        )
        if nice and self.pid is not None:
            try:  # (still importing: its start-up runs at the lower priority too)
                mine = os.getpriority(os.PRIO_PROCESS, 0)
                os.setpriority(os.PRIO_PROCESS, self.pid, min(19, mine + nice))
            except OSError as e:
                log.debug("cannot lower the report kernel's priority: %s", e)
        log.debug("report kernel started in %.2f s (pid %s)", time.monotonic() - started, self.pid)

    @property
    def pid(self) -> int | None:
        process = getattr(self.manager.provisioner, "process", None)
        return getattr(process, "pid", None)

    def alive(self) -> bool:
        """Whether the kernel's process still runs (it may still be importing)."""
        try:
            return bool(_run_sync(self.manager.is_alive)())
        except Exception:  # a manager whose kernel is gone
            return False

    def shutdown(self) -> None:
        """Stop the kernel now (no grace period: it holds nothing to save)."""
        if not self.manager.has_kernel:
            return
        try:
            _run_sync(self.manager.shutdown_kernel)(now=True)
        except Exception as e:  # already gone: nothing to stop
            log.debug("report kernel shutdown: %s", e)


def _run_sync(coroutine_function: Callable[..., Any]) -> Callable[..., Any]:
    from jupyter_core.utils import run_sync

    return run_sync(coroutine_function)


def close_event_loop() -> None:
    """Close the event loop this thread ran kernels on (jupyter_core keeps one per thread);
    a thread that made reports calls it as it ends."""
    from jupyter_core.utils import ensure_event_loop

    ensure_event_loop().close()


# ---------------------------------------------------------------------------- notebooks
def inject_parameters(nb: Any, parameters: dict[str, Any]) -> Any:
    """Insert a cell assigning ``parameters`` after the cell tagged ``parameters`` (or first)."""
    nbformat = import_nbformat()
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
    kernel: WarmKernel | None = None,
) -> Any:
    """Run a notebook top to bottom in a fresh kernel of this environment; returns the
    executed notebook node. ``progress`` gets a line as each section starts. ``kernel``: one
    started ahead, used if it is alive, unused and in the notebook's working directory
    (otherwise a new one is started); the kernel is shut down after the run either way.
    Raises :class:`ReportError` naming the failing cell's error, or saying the kernel died."""
    nbformat = import_nbformat()
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    workdir = Path(cwd or path.parent)
    try:
        try:
            nb = nbformat.read(path, as_version=4)
        except OSError as e:
            raise ReportError(f"cannot read notebook {path}: {e.strerror}") from None
        if kernel is not None and (kernel.used or kernel.cwd != workdir or not kernel.alive()):
            log.warning("the report kernel kept ready is gone or unusable; starting a new one")
            kernel.shutdown()
            kernel = None
        kernel = kernel or WarmKernel(workdir)
        kernel.used = True
        if parameters:
            inject_parameters(nb, parameters)
        quiet = logging.getLogger(f"{__name__}.nbclient")
        quiet.setLevel(logging.WARNING)
        client = NotebookClient(
            nb,
            km=kernel.manager,
            timeout=int(timeout_s),
            resources={"metadata": {"path": str(workdir)}},
            on_cell_start=_progress_lines(nb, progress),
            log=quiet,
            shutdown_kernel="immediate",  # it holds nothing to save; the report waits on it
        )
        client.execute(cleanup_kc=True)
    except CellExecutionError as e:
        raise ReportError(f"{path.name}: {_last_line(e)}") from None
    except CellTimeoutError:
        raise ReportError(f"{path.name}: a cell ran longer than {timeout_s:.0f} s") from None
    except DeadKernelError as e:
        raise ReportError(f"{path.name}: the kernel died while running it ({e})") from None
    finally:
        if kernel is not None:
            kernel.shutdown()
    return nb


def _progress_lines(nb: Any, progress: Progress | None) -> Callable[[Any, int], None]:
    """nbclient's ``on_cell_start``: a line to ``progress`` as each section of the report
    starts (its first code cell): ``[2/7] The session at a glance``, each step once."""
    skip = {"parameters", "injected-parameters"}
    code = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and not skip & set(c.metadata.get("tags", []))
    ]
    sections = _sections(nb)
    steps = list(dict.fromkeys(sections.get(i, "setup") for i in code))
    said: set[str] = set()
    started = time.monotonic()

    def on_cell_start(cell: Any, cell_index: int) -> None:
        if progress is None or cell_index not in code:
            return
        section = sections.get(cell_index, "setup")
        if section in said:
            return
        said.add(section)
        progress(
            f"[{steps.index(section) + 1}/{len(steps)}] {section}"
            f" ({time.monotonic() - started:.1f} s)"
        )

    return on_cell_start


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
    """An executed notebook as one self-contained HTML page: code hidden, outputs only, and
    no cell tagged ``notebook-only`` (how to run the notebook: for Lab, not for the reader).

    Raises :class:`ReportError` if the page would fetch anything from the network."""
    if title:
        nb.metadata["title"] = title
    nb.cells = [c for c in nb.cells if NOTEBOOK_ONLY not in c.metadata.get("tags", [])]
    for cell in nb.cells:  # Panel publishes empty display data as it sets up comms
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.outputs if o.get("output_type") != "display_data" or o.get("data")
            ]
    with _exporter_lock:
        body, _ = _html_exporter().from_notebook_node(nb)
    fetched = _FETCHED_URL.search(body.encode())
    if fetched:
        raise ReportError(
            "the report would load something from the network: "
            + fetched.group(0)[:120].decode(errors="replace")
        )
    return body


_exporter_lock = threading.Lock()
_exporter: Any = None


def _html_exporter() -> Any:
    """The process's HTML exporter, its templates compiled (about 1.5 s to import nbconvert
    and build, here; a render after that is a tenth of a second). Call with the lock held."""
    global _exporter
    if _exporter is None:
        import jinja2

        nbformat = import_nbformat()
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(
            extra_loaders=[jinja2.DictLoader({"hitting-coach-report.html.j2": _TEMPLATE})],
            template_file="hitting-coach-report.html.j2",
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
        exporter.from_notebook_node(nbformat.v4.new_notebook())  # compiles the templates
        _exporter = exporter
    return _exporter


def prepare_exporter() -> threading.Thread:
    """Build the HTML exporter in a thread (while a notebook runs); returns the thread."""

    def build() -> None:
        try:
            with _exporter_lock:
                _html_exporter()
        except Exception:  # notebook_to_html tries again and raises where it is seen
            log.exception("building the HTML exporter failed")

    thread = threading.Thread(target=build, name="report-exporter", daemon=True)
    thread.start()
    return thread


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
    kernel: WarmKernel | None = None,
    clips_dir: str | Path | None = None,
) -> Path:
    """Write the report of ``session`` (any reference :func:`resolve_session` takes) to
    ``output`` as one self-contained HTML file; returns its path. ``kernel``: one started
    ahead in the notebook's folder (:class:`WarmKernel`; used once, shut down after).
    A session with video gets each swing's clip written to ``clips_dir`` (default: the
    folder ``<output's stem>-clips`` beside it; made only when there is a clip), which the
    report links to by its name: keep the two side by side.

    Raises :class:`SessionError` for an unknown session and :class:`ReportError` if the
    notebook fails or the file cannot be written."""
    say = progress or (lambda text: None)
    output = Path(output)
    if output.is_dir():
        raise ReportError(f"{output} is a directory; give a file name such as report.html")
    notebook = Path(notebook)
    # Started first, the kernel starts up and imports while this process finds the session
    # and builds its HTML exporter: the three overlap on a machine with two cores.
    kernel = kernel or WarmKernel(notebook.parent)
    try:
        prepare_exporter()
        # Imported here, after the kernel started: it imports pandas (most of a second).
        from hitting_coach.store.sessions import data_path, list_takes, resolve_session

        root = data_path(data_dir).resolve()
        device, session_id = resolve_session(session, root)
        if take is not None:
            takes = list_takes((device, session_id), root)
            if take not in set(takes["take_id"]) | set(takes["name"]):
                names = ", ".join(repr(n) for n in takes["name"]) or "none"
                raise SessionError(f"no take {take!r} in session {session_id} (takes: {names})")
        say(f"report of {device}/{session_id}" + (f", take {take}" if take else ""))
        parameters = {  # apart: a "device/session" text could name another session
            "DEVICE": device,
            "SESSION": session_id,
            "DATA_DIR": str(root),
            "TAKE": take,
            "PLACEMENT": placement,
            "CLIPS_DIR": str(
                Path(clips_dir).resolve()
                if clips_dir is not None
                else output.resolve().with_name(f"{output.stem}-clips")
            ),
        }
        nb = execute_notebook(
            notebook, parameters, progress=say, timeout_s=timeout_s, kernel=kernel
        )
    finally:
        kernel.shutdown()
    say("exporting HTML")
    body = with_header(notebook_to_html(nb, title=report_title(root, device, session_id)))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(body, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write {output}: {e.strerror}") from None
    say(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")
    return output


def report_title(data_dir: Path, device: str, session_id: str) -> str:
    """The report's ``<title>`` (the browser tab, the name a browser saves it under): the
    session's and the player's given names (their ids when they have none)."""
    from hitting_coach.store.layout import read_meta, session_dir
    from hitting_coach.store.players import display_name, read_players

    name = str(read_meta(session_dir(data_dir, device, session_id)).get("name") or session_id)
    return f"{name} · {display_name(device, read_players(data_dir))} · Hitting Coach report"


def with_header(body: str) -> str:
    """The report's HTML with the app's header (:mod:`hitting_coach.ui.shell`: plain links to
    Live, Sessions and Players) at the top of its body."""
    from hitting_coach.ui.shell import SHELL_CSS, header

    shell = f"<style>{SHELL_CSS}</style>{header()}"
    found = re.search(r"<body[^>]*>", body)
    if found is None:
        return shell + body
    return body[: found.end()] + shell + body[found.end() :]


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
        data_dir=settings.data_path,
        take=args.take,
        placement=args.placement,
        progress=None if args.quiet else say,
    )
    print(f"{path} ({time.monotonic() - started:.1f} s)")
    return 0
