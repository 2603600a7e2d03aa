"""Quoting for systemd's files, as Jinja filters of the lab's roles."""


def systemd_env_file_quote(value):
    """A value of an EnvironmentFile= line: double quotes, with \\ " $ ` escaped."""
    text = str(value)
    for char in '\\"$`':
        text = text.replace(char, "\\" + char)
    return f'"{text}"'


def systemd_quote(value):
    """A value in a unit file (Exec*= argument, Environment= value).

    Double quotes, with \\ and " escaped and % (a specifier) doubled.
    """
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{text}"'


class FilterModule:
    def filters(self):
        return {"systemd_env_file_quote": systemd_env_file_quote, "systemd_quote": systemd_quote}
