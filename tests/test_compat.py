"""hitting_coach/compat.py: the libraries whose private API it uses are the versions it was
written against, and what it reaches for is still there."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import paho.mqtt.client as paho
import pytest
import tornado.httpserver
import tornado.web

from hitting_coach import compat


def test_the_installed_libraries_are_the_versions_compat_was_written_against():
    installed = {name: importlib.metadata.version(name) for name in compat.WRITTEN_AGAINST}
    problems = compat.versions_outside()
    assert not problems, f"installed: {installed}\n" + "\n".join(problems)


def test_a_version_outside_the_range_is_named_with_the_section_to_check(monkeypatch):
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "6.7.0" if name == "tornado" else real(name)
    )
    assert compat.versions_outside() == [
        "tornado 6.7.0 is installed, but hitting_coach/compat.py uses its private API as in "
        "6.6..6.6: check the tornado section of compat.py against 6.7.0, then widen "
        "WRITTEN_AGAINST and the bound in pyproject.toml"
    ]


def test_tornado_keeps_the_connection_state_the_sweep_reads():
    server = tornado.httpserver.HTTPServer(tornado.web.Application([]))
    assert compat.can_sweep_connections(server)
    assert compat.server_connections(server) == []


def test_tornado_reads_the_wrapped_application_for_each_request():
    app = tornado.web.Application([])
    server = tornado.httpserver.HTTPServer(app)
    compat.wrap_requests(server, lambda inner: ("wrapped", inner))
    assert server.request_callback == ("wrapped", app)
    assert "self.request_callback" in inspect.getsource(tornado.httpserver.HTTPServer.start_request)


def test_bokeh_keeps_its_http_server_where_serve_finds_it():
    from bokeh.server.server import BaseServer, Server

    http = tornado.httpserver.HTTPServer(tornado.web.Application([]))
    bokeh_app = SimpleNamespace(initialize=lambda io_loop: None)  # BokehTornado's one call
    server = BaseServer(None, bokeh_app, http)  # what Server.__init__ calls
    assert compat.bokeh_http_server(server) is http
    assert issubclass(Server, BaseServer)


def test_panel_login_page_is_made_offline_and_its_handler_validates():
    from panel.auth import BasicAuthProvider, BasicLoginHandler

    page = compat.offline_login_template("static/favicon.ico").render(
        errormessage="", PANEL_CDN="https://cdn.example/"
    )
    assert "cdn.example" not in page and "static/favicon.ico" in page
    assert "Hitting Coach" in page
    assert callable(BasicLoginHandler._validate)
    assert isinstance(BasicAuthProvider.login_handler, property)


def test_paho_still_has_the_socket_method_we_replace_and_what_it_reads():
    assert callable(paho.Client._create_socket)
    assert callable(paho.Client._create_socket_connection)
    assert compat.ClosingSocketClient._create_socket is not paho.Client._create_socket
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    for name in (
        "_ssl",
        "_ssl_context",
        "_host",
        "_port",
        "_connect_timeout",
        "_transport",
        "_websocket_path",
        "_websocket_extra_headers",
    ):
        assert hasattr(client, name), f"paho.Client has no {name} any more"
    assert hasattr(paho, "_WebsocketWrapper")


@pytest.mark.integration
@pytest.mark.parametrize("first", ["nbformat", "jsonschema"])
def test_nbformat_is_imported_without_rfc3987_syntax_unless_jsonschema_came_first(first):
    code = (
        "import sys\n"
        + ("import jsonschema\n" if first == "jsonschema" else "")
        + "from hitting_coach.compat import import_nbformat\n"
        "nbformat = import_nbformat()\n"
        "nb = nbformat.v4.new_notebook(); nbformat.validate(nb)\n"
        "print('rfc3987_syntax' in sys.modules, 'rfc3987_syntax' in sys.modules and "
        "sys.modules['rfc3987_syntax'] is None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    import importlib.util

    installed = importlib.util.find_spec("rfc3987_syntax") is not None
    if first == "nbformat":
        assert out == ["False", "False"]  # kept out, and not left blocked
    else:
        assert out == [str(installed), "False"]


def test_holoviews_buffer_still_has_the_hook_and_the_chunk_its_plots_stream():
    """A live window in seconds (ui.live_buffer) overrides Buffer._concat and sets the rows
    the plot streams; both must still be what HoloViews calls and reads."""
    import holoviews as hv
    import pandas as pd

    buffer = hv.streams.Buffer(pd.DataFrame({"t": [0.0], "v": [1.0]}), length=3, index=False)
    kept = compat.buffer_concat(buffer, pd.DataFrame({"t": [1.0, 2.0, 3.0], "v": [2.0] * 3}))
    assert kept["t"].tolist() == [1.0, 2.0, 3.0]  # trimmed to length, as the window expects
    compat.set_buffer_chunk_rows(buffer, 2)
    assert buffer._chunk_length == 2
    plotting = Path(hv.__file__).parent / "plotting" / "bokeh" / "plot.py"
    assert "stream._chunk_length" in plotting.read_text(), (
        f"holoviews {hv.__version__}: the Bokeh plot no longer streams Buffer._chunk_length "
        "rows; check the holoviews section of hitting_coach/compat.py"
    )
