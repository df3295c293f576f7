from __future__ import annotations

import re
from pathlib import Path

import pytest

from hitting_coach.config import Settings, markdown_table
from hitting_coach.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_the_seed(tmp_path):
    s = Settings.load(environ={}, env_file=tmp_path / "missing.env")
    assert (s.mqtt_topic, s.mqtt_port, s.port) == ("sensor-logger", 8883, 8000)
    assert (s.window_s, s.window_points, s.update_ms) == (10.0, 0, 500)  # 10 s, not 200 points
    assert (
        Settings.load(environ={"HITTING_COACH_WINDOW_POINTS": "200"}, env_file=None).window_points
        == 200
    )
    assert s.mqtt_broker == "" and s.mqtt_tls is True and s.mqtt_tls_insecure is False


def test_environment_wins_over_env_file_which_wins_over_default(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nMQTT_BROKER=from-file\nexport MQTT_PORT='1883'\n")
    s = Settings.load(environ={"MQTT_BROKER": "from-env"}, env_file=env_file)
    assert s.mqtt_broker == "from-env"
    assert s.mqtt_port == 1883


def test_cli_overrides_win(tmp_path):
    s = Settings.load(environ={"HITTING_COACH_PORT": "9000"}, env_file=None, port=9100)
    assert s.port == 9100


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MQTT_PORT": "eighty"}, "MQTT_PORT='eighty' is not a valid int"),
        ({"HITTING_COACH_MQTT_TRANSPORT": "udp"}, "choose one of: tcp, websockets"),
        ({"HITTING_COACH_WINDOW_POINTS": "1"}, "HITTING_COACH_WINDOW_POINTS=1 is too small"),
        ({"HITTING_COACH_MQTT_TLS": "maybe"}, "HITTING_COACH_MQTT_TLS='maybe' is not a valid bool"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.load(environ=env, env_file=None)


def test_secrets_are_never_shown():
    s = Settings.load(
        environ={"MQTT_PASSWORD": "hunter2", "HITTING_COACH_INGEST_TOKEN": "tok3n"}, env_file=None
    )
    assert "hunter2" not in repr(s) and "tok3n" not in repr(s)
    assert "hunter2" not in markdown_table()
    with pytest.raises(ConfigError) as e:
        Settings.load(environ={"MQTT_PASSWORD": "x", "MQTT_PORT": "hunter2"}, env_file=None)
    assert "hunter2" in str(e.value)  # a non-secret bad value is shown to help fix it


def test_malformed_env_file_line_is_an_error(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MQTT_BROKER\n")
    with pytest.raises(ConfigError, match=r"\.env:1: expected KEY=VALUE"):
        Settings.load(environ={}, env_file=env_file)


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    for setting in Settings.table():
        assert f"`{setting['name']}`" in readme, f"{setting['name']} is not in the README"
    assert markdown_table() in readme, "README table is stale: python -m hitting_coach.config"
