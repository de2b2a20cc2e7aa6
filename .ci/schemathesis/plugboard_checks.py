"""Hooks of the `.ci/fuzz-api` run: a check that every error is JSON in the server's
shape, and a guard that keeps the fuzzer's own access.

Every 4xx and 5xx answer is `application/json` with `{"error": {"code", "message"}}`,
both strings (the `/v1` endpoints add OpenAI's `type`, and keep `code` and `message`).
The one exception is what a plugin's route answers itself: that answer is the plugin's,
of any status and shape, and the server marks it with `Content-Security-Policy: sandbox`;
the server's own errors on those routes are held to the shape like any other.
"""

import json
import os

import schemathesis

# The fuzzer's own user and API token: a request may not name them in its path, or the
# fuzzer could revoke its token, disable, demote or delete itself (the server allows that
# once there is another administrator, which the fuzzer may create) and test nothing but
# 401 and 403 from then on. Such a path gets an id that names nothing instead.
PROTECTED_IDS = set(filter(None, os.environ.get("FUZZ_PROTECTED_IDS", "").split(",")))


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    for name, value in (case.path_parameters or {}).items():
        if isinstance(value, str) and value in PROTECTED_IDS:
            case.path_parameters[name] = "kept-by-fuzz-api"


def _is_plugin_route(case):
    path = case.operation.path
    return path.startswith("/api/plugins/") and "/http/" in path


@schemathesis.check
def house_error_shape(ctx, response, case):
    status = response.status_code
    if status < 400:
        return None
    policy = ",".join(response.headers.get("content-security-policy", []))
    if _is_plugin_route(case) and policy.startswith("sandbox"):
        return None
    content_type = ",".join(response.headers.get("content-type", []))
    if not content_type.split(";")[0].strip().lower() == "application/json":
        raise AssertionError(f"error {status} is not JSON: content-type `{content_type}`, body {response.content[:200]!r}")
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"error {status} says JSON but does not parse ({error}): {response.content[:200]!r}")
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict) or not all(isinstance(detail.get(key), str) for key in ("code", "message")):
        raise AssertionError(f'error {status} is not {{"error": {{"code", "message"}}}}: {body!r:.300}')
    if not detail["message"]:
        raise AssertionError(f"error {status} ({detail['code']}) has an empty message")
    return None
