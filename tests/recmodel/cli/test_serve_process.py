"""``fedrec serve`` as a real process on a free port, queried over HTTP, then stopped by its pid."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from recmodel.processes import free_port, stop_processes

FEDREC = str(Path(sys.executable).parent / "fedrec")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_fedrec_serve_answers_over_http_and_names_its_model(trained_run):
    run_dir, events_file, _ = trained_run
    port = free_port()
    process = subprocess.Popen([FEDREC, "serve", "--run", str(run_dir), "--data", str(events_file), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert _get(f"{base}/health")[1]["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "fedrec serve did not answer within 120 s"
                time.sleep(0.3)
        status, answer = _get(f"{base}/users/u000003/recommendations?k=3")
        assert status == 200 and len(answer["items"]) == 3 and answer["path"] == "history"
        request = urllib.request.Request(f"{base}/recommendations", data=json.dumps({"items": ["i000001"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["path"] == "session"
        assert "paths" in _get(f"{base}/openapi.json")[1]
        try:
            _get(f"{base}/items/nope/similar")
            raise AssertionError("an unknown item was answered")
        except urllib.error.HTTPError as error:
            assert error.code == 404
    finally:
        stop_processes([process.pid], grace_s=10)
        output = process.communicate()[0]
    assert "fedrec serve: model the folder given" in output and f"http://127.0.0.1:{port}/docs" in output
