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
