#!/usr/bin/python
"""MLflow's basic-auth accounts, experiments and permissions, converged."""

import base64
import json
import os
import pwd
import traceback
import urllib.error
import urllib.parse
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: mlflow_accounts
short_description: Converge the accounts, experiments and permissions of MLflow's basic-auth
description:
  - Runs with the interpreter of the server's venv (it imports MLflow's own
    auth store) and does its work in a child process that runs as the
    server's user, so the database files it touches stay the server's.
  - Users are read and written in the auth database directly, so a password
    that no longer matches (lost or rotated on the control node), the
    admin's included, is set again; the running server needs no working
    admin password for that.
  - Experiments are created (or restored from the bin) through the server's
    REST API as the admin, who then owns them, and are found again by the
    id recorded in O(record), whatever their name is by then.
  - No account is removed unless asked (O(users[].state=absent)). The
    permissions on the listed experiments are the module's: a grant there
    that O(permissions) does not list is revoked (admins keep theirs).
options:
  database_uri:
    description: The auth database (basic_auth.ini's database_uri).
    type: str
    required: true
  run_as:
    description: The server's system user.
    type: str
    required: true
  record:
    description:
      - A file of the server's user where the module keeps the id and
        creation time of each experiment it made, to find it by them.
    type: path
    required: true
  server_url:
    description: Where the server answers on this host (plain HTTP on loopback).
    type: str
    required: true
  admin_username: {description: The admin account., type: str, required: true}
  admin_password: {description: Its password., type: str, required: true}
  users:
    description: Accounts besides the admin.
    type: list
    elements: dict
    suboptions:
      name: {type: str, required: true}
      password: {type: str, description: "Required unless state=absent."}
      admin: {type: bool, default: false}
      state: {type: str, choices: [present, absent], default: present}
      password_hash:
        description:
          - How the password is stored, as werkzeug names a method
            (C(scrypt:1024:8:1)); empty for MLflow's own (werkzeug's
            default, scrypt with N=32768). A hash made another way is made
            again at the next run.
        type: str
        default: ""
  experiments:
    description: Experiment names that must exist.
    type: list
    elements: str
    default: []
  permissions:
    description: Per-user permissions on the listed experiments; other grants on them are revoked.
    type: list
    elements: dict
    suboptions:
      experiment: {type: str, required: true}
      user: {type: str, required: true}
      permission: {type: str, required: true, choices: [READ, EDIT, MANAGE, NO_PERMISSIONS]}
"""

RETURN = r"""
created: {description: Users created., type: list, returned: always}
passwords_set:
  description: Users whose password no longer matched, or was hashed another way, and was set.
  type: list
  returned: always
admin_changed: {description: Users made or unmade admins., type: list, returned: always}
removed: {description: Users removed., type: list, returned: always}
experiments_created:
  description: Experiments created or restored.
  type: list
  returned: always
granted:
  description: "Permissions set, as user:experiment:PERMISSION."
  type: list
  returned: always
revoked:
  description: "Grants on the listed experiments that were not listed, as user:experiment."
  type: list
  returned: always
renamed_back:
  description: "The module's experiments someone renamed, named back, as old -> name."
  type: list
  returned: always
squatters_renamed:
  description: "Experiments of others that held a listed name, renamed away, as id: name -> new."
  type: list
  returned: always
recorded:
  description: Experiments whose id and creation time were recorded (made, or first seen).
  type: list
  returned: always
"""


def api(server_url, admin, method, path, body=None):
    """One call to the server's REST API as the admin; (status, json)."""
    data = json.dumps(body).encode() if body is not None else None
    token = base64.b64encode(f"{admin[0]}:{admin[1]}".encode()).decode()
    request = urllib.request.Request(
        server_url.rstrip("/") + "/api/2.0/mlflow/" + path,
        data=data,
        method=method,
        headers={"Authorization": "Basic " + token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


def load_record(path):
    """The experiments this module made: name -> {id, created}."""
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        return {}


def save_record(path, record):
    staged = f"{path}.new"
    with open(staged, "w") as stream:
        json.dump(record, stream, indent=2, sort_keys=True)
    os.replace(staged, path)


def experiment(call, query):
    """The experiment experiments/get or get-by-name finds, or None."""
    path = "experiments/get" if "experiment_id" in query else "experiments/get-by-name"
    status, found = call("GET", path + "?" + urllib.parse.urlencode(query))
    if status in (400, 404):  # no such id, no such name
        return None
    if status != 200:
        raise RuntimeError(f"{path} {query} answered HTTP {status}")
    return found["experiment"]


def ensure_experiments(params, admin, check_mode, report, managed_by_others):
    """Experiment name -> id (None for one that check mode would create).

    Each experiment is found by the id and creation time recorded when this
    module made it, so a rename cannot move the class elsewhere: a renamed
    one gets its name back, and an experiment of someone else's that took
    the name is renamed away (reported), never adopted. A name with no
    record (made before records were kept, or the record lost) is adopted by
    name only when it looks like the admin's: no other account manages it
    (its creator does) and its artifacts are where MLflow puts them
    (mlflow-artifacts:/<id>); otherwise it is renamed away too.
    """

    def call(method, path, body=None):
        return api(params["server_url"], admin, method, path, body)

    def rename(experiment_id, new_name):
        # A name taken already (someone made it first): another, random.
        for suffix in ("", f" {os.urandom(4).hex()}", f" {os.urandom(8).hex()}"):
            body = {"experiment_id": experiment_id, "new_name": new_name + suffix}
            status, _ = call("POST", "experiments/update", body)
            if status == 200:
                return
        raise RuntimeError(f"renaming experiment {experiment_id} answered HTTP {status}")

    def looks_like_the_admins(found):
        where = f"mlflow-artifacts:/{found['experiment_id']}"
        return found["artifact_location"] == where and not managed_by_others(found["experiment_id"])

    record = load_record(params["record"])
    ids = {}
    for name in params["experiments"]:
        kept = record.get(name)
        ours = experiment(call, {"experiment_id": kept["id"]}) if kept else None
        if ours is not None and ours.get("creation_time") != kept["created"]:
            ours = None  # the id was reused after a restore: someone else's
        named = experiment(call, {"experiment_name": name})
        if ours is None and kept is None and named is not None and looks_like_the_admins(named):
            ours = named
        if named is not None and (ours is None or named["experiment_id"] != ours["experiment_id"]):
            away = f"{name} (experiment {named['experiment_id']}, renamed: the name is the lab's)"
            report["squatters_renamed"].append(f"{named['experiment_id']}: {name} -> {away}")
            if not check_mode:
                rename(named["experiment_id"], away)
        if ours is not None and ours["name"] != name:
            report["renamed_back"].append(f"{ours['name']} -> {name}")
            if not check_mode:
                rename(ours["experiment_id"], name)
        if ours is None:
            report["experiments_created"].append(name)
            ids[name] = None
            if check_mode:
                continue
            status, made = call("POST", "experiments/create", {"name": name})
            if status != 200:
                raise RuntimeError(f"experiments/create of {name!r} answered HTTP {status}")
            ours = experiment(call, {"experiment_id": made["experiment_id"]})
        elif ours.get("lifecycle_stage") == "deleted":
            report["experiments_created"].append(name)
            if not check_mode:
                body = {"experiment_id": ours["experiment_id"]}
                status, _ = call("POST", "experiments/restore", body)
                if status != 200:
                    raise RuntimeError(f"experiments/restore of {name!r} answered HTTP {status}")
        ids[name] = ours["experiment_id"]
        entry = {"id": ours["experiment_id"], "created": ours.get("creation_time")}
        if record.get(name) != entry:
            record[name] = entry
            report["recorded"].append(name)
    if report["recorded"] and not check_mode:
        save_record(params["record"], record)
    return ids


def converge(params, check_mode):
    # Imported here, in the child: MLflow comes from the venv this runs in.
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.db.models import SqlUser
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
    from werkzeug.security import check_password_hash, generate_password_hash

    report = {
        key: []
        for key in (
            "created",
            "passwords_set",
            "admin_changed",
            "removed",
            "experiments_created",
            "granted",
            "revoked",
            "renamed_back",
            "squatters_renamed",
            "recorded",
        )
    }
    store = SqlAlchemyStore()
    store.init_db(params["database_uri"])

    def stored_hash(name):
        with store.ManagedSessionMaker(read_only=True) as session:
            return session.query(SqlUser).filter(SqlUser.username == name).one().password_hash

    prefixes = {}

    def method_prefix(method):
        """What werkzeug writes before the salt for method, its defaults
        filled in (scrypt -> scrypt:32768:8:1); "" is MLflow's own."""
        if method not in prefixes:
            # MLflow hashes with werkzeug's default method.
            made = generate_password_hash("-", **({"method": method} if method else {}))
            prefixes[method] = made.split("$", 1)[0]
        return prefixes[method]

    def set_password(name, password, method):
        if not method:
            store.update_user(name, password=password)
            return
        with store.ManagedSessionMaker(read_only=False) as session:
            session.query(SqlUser).filter(
                SqlUser.username == name
            ).one().password_hash = generate_password_hash(password, method=method)

    admin = (params["admin_username"], params["admin_password"])
    wanted = [{"name": admin[0], "password": admin[1], "admin": True, "state": "present"}] + params[
        "users"
    ]
    for user in wanted:
        name = user["name"]
        method = user.get("password_hash") or ""
        if not store.has_user(name):
            if user["state"] == "present":
                report["created"].append(name)
                if not check_mode:
                    store.create_user(name, user["password"], is_admin=user["admin"])
                    if method:
                        set_password(name, user["password"], method)
            continue
        if user["state"] == "absent":
            report["removed"].append(name)
            if not check_mode:
                store.delete_user(name)
            continue
        stored = stored_hash(name)
        same_method = stored.split("$", 1)[0] == method_prefix(method)
        if not (same_method and check_password_hash(stored, user["password"])):
            report["passwords_set"].append(name)
            if not check_mode:
                set_password(name, user["password"], method)
        if store.get_user(name).is_admin != user["admin"]:
            report["admin_changed"].append(name)
            if not check_mode:
                store.update_user(name, is_admin=user["admin"])

    # The admin's password is right from here on, or would be: check mode
    # cannot ask the server with a password it has not been given yet.
    if check_mode and admin[0] in report["created"] + report["passwords_set"]:
        report["experiments_created"] = ["(not checked: the admin password is not set yet)"]
        return report

    def managed_by_others(experiment_id):
        for user in store.list_users():
            if user.is_admin:
                continue
            try:
                grant = store.get_experiment_permission(experiment_id, user.username)
            except MlflowException:
                continue
            if grant.permission == "MANAGE":
                return True
        return False

    ids = ensure_experiments(params, admin, check_mode, report, managed_by_others)
    for grant in params["permissions"]:
        experiment_id = ids.get(grant["experiment"])
        try:
            current = store.get_experiment_permission(experiment_id, grant["user"]).permission
        except MlflowException:  # no such grant, experiment or (in check mode) user yet
            current = None
        if current == grant["permission"]:
            continue
        report["granted"].append(f"{grant['user']}:{grant['experiment']}:{grant['permission']}")
        if check_mode:
            continue
        if current is None:
            store.create_experiment_permission(experiment_id, grant["user"], grant["permission"])
        else:
            store.update_experiment_permission(experiment_id, grant["user"], grant["permission"])

    # The listed experiments' permissions are the role's: any other grant on
    # them (a student who created one of the names first holds MANAGE on
    # it; a student or instructor no longer listed) is revoked. Admins need
    # no grant and keep theirs.
    wanted_grants = {(grant["user"], grant["experiment"]) for grant in params["permissions"]}
    users = [user.username for user in store.list_users() if not user.is_admin]
    for name, experiment_id in ids.items():
        if experiment_id is None:
            continue
        for user in users:
            if (user, name) in wanted_grants:
                continue
            try:
                store.get_experiment_permission(experiment_id, user)
            except MlflowException:
                continue
            report["revoked"].append(f"{user}:{name}")
            if not check_mode:
                store.delete_experiment_permission(experiment_id, user)
    return report


def run_as(account, work):
    """work() in a child process running as account; its result or its error."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        try:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.environ["HOME"] = account.pw_dir
            os.umask(0o027)
            result = {"ok": work()}
        except Exception as error:  # reported to the parent, which fails the task
            result = {
                "error": f"{type(error).__name__}: {error}",
                "trace": traceback.format_exc(limit=4),
            }
        with os.fdopen(writer, "w") as stream:
            json.dump(result, stream)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as stream:
        text = stream.read()
    os.waitpid(child, 0)
    return json.loads(text) if text else {"error": "the child process died"}


def main():
    user_spec = {
        "name": {"type": "str", "required": True},
        "password": {"type": "str", "no_log": True},
        "admin": {"type": "bool", "default": False},
        "password_hash": {"type": "str", "default": ""},
        "state": {
            "type": "str",
            "choices": ["present", "absent"],
            "default": "present",
        },
    }
    grant_spec = {
        "experiment": {"type": "str", "required": True},
        "user": {"type": "str", "required": True},
        "permission": {
            "type": "str",
            "required": True,
            "choices": ["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"],
        },
    }
    module = AnsibleModule(
        argument_spec={
            "database_uri": {"type": "str", "required": True, "no_log": True},
            "run_as": {"type": "str", "required": True},
            "record": {"type": "path", "required": True},
            "server_url": {"type": "str", "required": True},
            "admin_username": {"type": "str", "required": True},
            "admin_password": {"type": "str", "required": True, "no_log": True},
            "users": {
                "type": "list",
                "elements": "dict",
                "options": user_spec,
                "default": [],
            },
            "experiments": {"type": "list", "elements": "str", "default": []},
            "permissions": {
                "type": "list",
                "elements": "dict",
                "options": grant_spec,
                "default": [],
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    names = [params["admin_username"]] + [user["name"] for user in params["users"]]
    problems = [
        f"users: {name} is listed twice"
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    problems += [
        f"users: {user['name']} needs a password of 12 characters or more"
        for user in params["users"]
        if user["state"] == "present" and len(user["password"] or "") < 12
    ]
    present = {user["name"] for user in params["users"] if user["state"] == "present"} | {
        params["admin_username"]
    }
    problems += [
        f"permissions: {grant['user']} on {grant['experiment']} is no user of the server"
        for grant in params["permissions"]
        if grant["user"] not in present
    ]
    problems += [
        f"permissions: {grant['experiment']} is not in experiments"
        for grant in params["permissions"]
        if grant["experiment"] not in params["experiments"]
    ]
    # In the venv's interpreter, which has MLflow's werkzeug.
    from werkzeug.security import generate_password_hash

    for method in sorted(
        {user["password_hash"] for user in params["users"] if user["password_hash"]}
    ):
        try:
            generate_password_hash("-", method=method)
        except (ValueError, TypeError) as error:
            problems.append(f"users: password_hash {method} is not a werkzeug method ({error})")
    if problems:
        module.fail_json(msg="; ".join(problems))
    try:
        account = pwd.getpwnam(params["run_as"])
    except KeyError:
        module.fail_json(msg=f"run_as: no user {params['run_as']}")

    result = run_as(account, lambda: converge(params, module.check_mode))
    if "error" in result:
        module.fail_json(msg=result["error"], trace=result.get("trace", ""))
    report = result["ok"]
    module.exit_json(changed=any(report.values()), **report)


if __name__ == "__main__":
    main()
