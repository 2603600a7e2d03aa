import importlib

import src.utils.config


def load_config(monkeypatch, **environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(src.utils.config).Config


def test_debug_is_a_boolean(monkeypatch):
    assert load_config(monkeypatch, DEBUG="True").DEBUG is True
    assert load_config(monkeypatch, DEBUG="false").DEBUG is False


def test_api_port_is_an_integer(monkeypatch):
    assert load_config(monkeypatch, API_PORT="8080").API_PORT == 8080


def test_log_level(monkeypatch):
    assert load_config(monkeypatch, LOG_LEVEL="debug").LOG_LEVEL == "DEBUG"
