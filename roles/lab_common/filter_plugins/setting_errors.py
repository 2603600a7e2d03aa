"""The checks of a role's settings, as a Jinja filter of the lab's roles."""


def setting_errors(checks):
    """The "VAR: MSG" of each check whose ok is false; the role asserts it is empty.

    checks: dicts with var, ok (a boolean, or its text as a template renders
    it) and msg. One assert over every check instead of a loop of asserts:
    one task, and a bad run names every rejected variable at once.
    """
    return [
        f"{check['var']}: {check['msg']}"
        for check in checks
        if str(check["ok"]).strip().lower() not in ("true", "yes", "1")
    ]


class FilterModule:
    def filters(self):
        return {"setting_errors": setting_errors}
