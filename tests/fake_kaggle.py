"""A small fake of Kaggle's API for the unmodified kaggle CLI, on loopback.

The CLI sends its calls to http://localhost (port 80) with KAGGLE_API_ENVIRONMENT=LOCALHOST, or to
localhost:7777 with KAGGLE_API_ENVIRONMENT=TEST; both are its own settings, so what it sends is what
api.kaggle.com would receive. The fake answers the calls the project makes the way the service does
(JSON POSTs to /api/v1/<service>/<method>, file uploads as a StartBlobUpload then a PUT to the URL it
returns), records every request, and runs a pushed kernel through `runner`.
"""

from __future__ import annotations

import fcntl
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORTS = (("LOCALHOST", 80), ("TEST", 7777))


class FakeKaggle:
    def __init__(self, home: Path, username: str = "tester", runner=None, public_score: str = "17.43210"):
        self.home, self.username, self.runner, self.public_score = home, username, runner, public_score
        self.calls: list[tuple[str, dict]] = []
        self.blobs: dict[str, dict] = {}
        self.datasets: dict[str, dict] = {}
        self.kernels: dict[str, dict] = {}
        self.submissions: list[dict] = []
        self.lock = threading.Lock()

    # -- lifecycle --
    def __enter__(self) -> FakeKaggle:
        self._port_lock = open("/tmp/pawpipe-fake-kaggle.lock", "w")  # one fake per machine at a time
        fcntl.flock(self._port_lock, fcntl.LOCK_EX)
        for env, port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
                self.environment, self.port = env, port
                break
            except PermissionError:  # port 80 wants root; the CLI's TEST endpoint is unprivileged
                continue
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        fcntl.flock(self._port_lock, fcntl.LOCK_UN)
        self._port_lock.close()

    @property
    def base(self) -> str:
        return "http://localhost" if self.port == 80 else f"http://localhost:{self.port}"

    def env(self) -> dict[str, str]:
        """What a user's shell would hold, pointed at the fake: a token login (no kaggle.json, no username)."""
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        return {
            "KAGGLE_API_ENVIRONMENT": self.environment,
            "KAGGLE_API_TOKEN": "fake-token",
            "HOME": str(self.home),
            "KAGGLE_CONFIG_DIR": str(self.home / ".kaggle"),
            "TMPDIR": str(self.home / "tmp"),  # the CLI keeps upload state in $TMPDIR/.kaggle
        }

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def bodies(self, method: str) -> list[dict]:
        return [body for name, body in self.calls if name == method]

    # -- the service --
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        chunk = self.rfile.read(size + 2)[:size]
                        if not size:
                            return data
                        data += chunk
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, code: int, payload: dict | bytes, content_type="application/json"):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                method = self.path.rstrip("/").split("/")[-1]
                body = json.loads(self._body() or b"{}")
                if self.headers.get("Authorization") != "Bearer fake-token":
                    return self._send(401, {"code": 401, "message": "Unauthenticated"})
                with fake.lock:
                    fake.calls.append((method, body))
                    try:
                        code, answer = getattr(fake, method, fake.unknown)(body)
                    except Exception as exc:  # a request the real service would refuse: fail the client fast
                        code, answer = 400, {"code": 400, "message": f"fake Kaggle: {type(exc).__name__}: {exc}"}
                self._send(code, answer)

            def do_PUT(self):
                token = self.path.split("/")[-1]
                data = self._body()
                with fake.lock:
                    fake.calls.append(("PUT", {"token": token, "bytes": len(data)}))
                    fake.blobs[token]["data"] = data
                self._send(200, {})

            def do_GET(self):
                owner, slug, name = self.path.split("/")[-3:]
                data = fake.kernels[f"{owner}/{slug}"]["output"].get(name)
                self._send(200 if data is not None else 404, data or b"", "application/octet-stream")

        return Handler

    def unknown(self, body):
        return 404, {"code": 404, "message": "the fake does not serve this call"}

    def IntrospectToken(self, body):
        return 200, {"active": body.get("token") == "fake-token", "username": self.username}

    def StartBlobUpload(self, body):
        token = f"blob{len(self.blobs)}"
        self.blobs[token] = {"name": body["name"], "contentLength": body.get("contentLength", 0), "data": None}
        return 200, {"token": token, "createUrl": f"{self.base}/upload/{token}"}

    def _files(self, files: list[dict]) -> dict[str, bytes]:
        return {self.blobs[f["token"]]["name"]: self.blobs[f["token"]]["data"] for f in files}

    def GetDatasetStatus(self, body):
        ds = self.datasets.get(f"{body['ownerSlug']}/{body['datasetSlug']}")
        if ds is None:
            return 404, {"code": 404, "message": "Not found"}
        ds["polls"] += 1
        return 200, {"status": "READY" if ds["polls"] > 1 else "BLOBS_RECEIVED"}  # processing, then ready

    def CreateDataset(self, body):
        ref = f"{body['ownerSlug']}/{body['slug']}"
        if ref in self.datasets:
            return 200, {"status": "error", "error": f'The requested title "{body["title"]}" is already in use'}
        self.datasets[ref] = {"versions": [self._files(body["files"])], "request": body, "polls": 0}
        return 200, {"ref": ref, "url": f"{self.base}/datasets/{ref}", "status": "ok", "error": ""}

    def CreateDatasetVersion(self, body):
        ref = f"{body['ownerSlug']}/{body['datasetSlug']}"
        if ref not in self.datasets:
            return 404, {"code": 404, "message": "Not found"}
        self.datasets[ref]["versions"].append(self._files(body["body"]["files"]))
        self.datasets[ref]["polls"] = 0
        return 200, {"ref": ref, "url": f"{self.base}/datasets/{ref}", "status": "ok", "error": ""}

    def SaveKernel(self, body):
        kernel = self.kernels.setdefault(body["slug"], {"versions": [], "output": {}, "log": ""})
        kernel["versions"].append(body)
        kernel["status"] = "RUNNING"
        threading.Thread(target=self._run_kernel, args=(body["slug"], body), daemon=True).start()
        version = len(kernel["versions"])
        return 200, {
            "ref": f"/code/{body['slug']}",
            "url": f"{self.base}/code/{body['slug']}",
            "versionNumber": version,
        }

    def _run_kernel(self, slug: str, request: dict) -> None:
        dataset = self.datasets[request["datasetDataSources"][0]]["versions"][-1] if self.runner else {}
        try:
            ok, outputs, log = self.runner(request, dataset) if self.runner else (True, {}, "")
        except Exception:  # a runner that breaks fails the kernel, as an error in the notebook would
            import traceback

            ok, outputs, log = False, {}, traceback.format_exc()
        with self.lock:
            self.kernels[slug].update(status="COMPLETE" if ok else "ERROR", output=outputs, log=log)

    def GetKernelSessionStatus(self, body):
        kernel = self.kernels.get(f"{body['userName']}/{body['kernelSlug']}")
        if kernel is None:
            return 404, {"code": 404, "message": "Not found"}
        failure = "" if kernel["status"] != "ERROR" else "Your notebook tried to allocate more memory than is available"
        return 200, {"status": kernel["status"], "failureMessage": failure}

    def ListKernelSessionOutput(self, body):
        slug = f"{body['userName']}/{body['kernelSlug']}"
        files = [{"fileName": n, "url": f"{self.base}/output/{slug}/{n}"} for n in self.kernels[slug]["output"]]
        return 200, {"files": files, "log": self.kernels[slug]["log"]}

    def CreateCodeSubmission(self, body):
        ref = 50000000 + len(self.submissions)
        date = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        self.submissions.append({**body, "ref": ref, "date": date, "listed": 0})
        return 200, {"message": "Your submission was successfully saved", "ref": ref}

    def GetSubmissionLimits(self, body):
        return 200, {"numToday": len(self.submissions), "numAllowedNow": 5 - len(self.submissions)}

    def ListSubmissions(self, body):
        rows = []
        for sub in reversed(self.submissions):
            sub["listed"] += 1
            scored = sub["listed"] > 1  # pending when first listed, then scored
            rows.append({
                "ref": sub["ref"], "date": sub["date"], "description": sub["submissionDescription"],
                "fileName": sub["fileName"], "status": "COMPLETE" if scored else "PENDING",
                "publicScore": self.public_score if scored else "", "privateScore": "",
            })  # fmt: skip
        return 200, {"submissions": rows}
