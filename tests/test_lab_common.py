"""The lab_common role's quoting filters: what systemd reads back is the value."""

import importlib.util

from conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "systemd_quote", ROOT / "roles/lab_common/filter_plugins/systemd_quote.py"
)
systemd_quote = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(systemd_quote)


def test_environment_file_values_escape_what_systemd_would_expand():
    quoted = systemd_quote.systemd_env_file_quote('p@ss "w0rd" $HOME `id` \\n')
    assert quoted == '"p@ss \\"w0rd\\" \\$HOME \\`id\\` \\\\n"'


def test_unit_file_values_double_percent_specifiers():
    assert systemd_quote.systemd_quote('a%i "b" \\c') == '"a%%i \\"b\\" \\\\c"'
    assert systemd_quote.systemd_quote(5000) == '"5000"'


_spec = importlib.util.spec_from_file_location(
    "setting_errors", ROOT / "roles/lab_common/filter_plugins/setting_errors.py"
)
setting_errors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(setting_errors)


def test_setting_errors_name_every_failed_check_and_only_those():
    checks = [
        {"var": "a_port", "ok": False, "msg": "must be a port"},
        {"var": "a_dir", "ok": True, "msg": "unused"},
        # As a template renders a condition without native types.
        {"var": "a_url", "ok": "False", "msg": "must be a URL"},
        {"var": "a_name", "ok": "True", "msg": "unused"},
    ]
    expected = ["a_port: must be a port", "a_url: must be a URL"]
    assert setting_errors.setting_errors(checks) == expected
    assert setting_errors.setting_errors([]) == []
