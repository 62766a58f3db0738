"""Posts events with the attempt's agent token, probes what the token must not open, and keeps
the token in ``params.token_file`` for the test to try after the attempt ended. It never
prints the token."""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

envelope = json.loads(sys.stdin.read())
identity = envelope["identity"]
token, url = identity["token"], identity["events_url"]
base = url.split("/api/v1/")[0]
run = envelope["run"]


def call(method, target, body=None, bearer=token):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(target, data=data, method=method)  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if bearer is not None:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http only
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


Path(envelope["params"]["token_file"]).write_text(token)
events = [
    {"type": "log", "message": "hello over HTTP"},
    {"type": "progress", "percent": 40, "message": "halfway, over HTTP"},
    {"type": "output", "pin": "via_http", "value": "reported"},
]
probes = {
    "own": call("POST", url, {"events": events}),
    "other_node": call(
        "POST", url.replace(f"/nodes/{run['node']}/", "/nodes/other/"), {"events": events[:1]}
    ),
    "other_run": call(
        "POST", url.replace(f"/runs/{run['id']}/", "/runs/r-other/"), {"events": events[:1]}
    ),
    "read_own_run": call("GET", f"{base}/api/v1/runs/{run['id']}"),
    "list_runs": call("GET", f"{base}/api/v1/runs"),
    "no_token": call("POST", url, {"events": events[:1]}, bearer=None),
    "bad_event": call("POST", url, {"events": [{"type": "log"}]}),
}
print(json.dumps({"type": "output", "pin": "probes", "value": probes}), flush=True)
