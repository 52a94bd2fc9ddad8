"""A small fake of Kaggle's API for the unmodified kaggle CLI, on loopback.

The CLI sends its calls to http://localhost (port 80) with KAGGLE_API_ENVIRONMENT=LOCALHOST, or to
localhost:7777 with KAGGLE_API_ENVIRONMENT=TEST; both are its own settings, so what it sends is what
api.kaggle.com would receive. The fake answers the calls the project makes the way the service does
(JSON POSTs to /api/v1/<service>/<method>, file uploads as a StartBlobUpload then a PUT to the URL it
returns), records every request, and runs a pushed kernel through `runner`.

What Kaggle does on a bad day is a switch of `Misbehaviour` a test turns on (`fake.bad`): a stale
session after a push, dropped kernel sources, 403 from dataset status, failed calls, a failed upload,
a submission that fails scoring, a spent daily limit; and `hold` stops one request before the fake
acts on it (a test kills the client there).
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORTS = (("LOCALHOST", 80), ("TEST", 7777))


@dataclass
class Misbehaviour:
    """Each switch off by default."""

    stale_polls: int = 0  # after a push, status and output report the kernel's previous session this often
    invalid_sources: dict[str, list[str]] = field(default_factory=dict)  # {"dataset": [ref]}: dropped at push
    forbidden_status: int = 0  # GetDatasetStatus answers 403 this many times, whether or not the dataset exists
    fail: dict[str, list] = field(default_factory=dict)  # method -> calls in turn: an HTTP code, "drop", or "ok"
    fail_upload: set[str] = field(default_factory=set)  # files whose upload (the PUT) is refused
    score_error: str | None = None  # the next submission fails scoring with this message
    limit_left: int | None = None  # submissions left today (None: 5 a day, less those made)


class FakeKaggle:
    def __init__(self, home: Path, username: str = "tester", runner=None, public_score: str = "17.43210"):
        self.home, self.username, self.runner, self.public_score = home, username, runner, public_score
        self.bad = Misbehaviour()
        # hold(method) -> "before" | "after" | None: the request waits for `released` before the fake acts on
        # it (then it is dropped), or after (then it is answered): a test kills the client meanwhile.
        self.hold: Callable[[str], str | None] | None = None
        self.held, self.released = threading.Event(), threading.Event()
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

    def release(self) -> None:
        """Let a held request go on, hold nothing more, and be ready to hold again."""
        self.hold = None
        self.released.set()
        self.held.clear()
        self.released.clear()

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

            def _misbehave(self, method: str) -> bool:
                """Hold the request, or fail it as a bad day would; True when it was answered so."""
                if fake.hold and fake.hold(method) == "before":
                    fake.held.set()
                    fake.released.wait(timeout=600)
                    self._send(503, {"code": 503, "message": "held, then dropped"})
                    return True
                failures = fake.bad.fail.get(method)
                if not failures:
                    return False
                failure = failures.pop(0)
                if failure == "ok":  # this call is answered
                    return False
                with fake.lock:
                    fake.calls.append((f"failed:{method}", {"as": failure}))
                if failure == "drop":  # the connection ends without an answer
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:
                    self._send(failure, {"code": failure, "message": f"fake Kaggle: {failure}"})
                return True

            def do_POST(self):
                method = self.path.rstrip("/").split("/")[-1]
                body = json.loads(self._body() or b"{}")
                if self.headers.get("Authorization") != "Bearer fake-token":
                    return self._send(401, {"code": 401, "message": "Unauthenticated"})
                if self._misbehave(method):
                    return
                with fake.lock:
                    fake.calls.append((method, body))
                    try:
                        code, answer = getattr(fake, method, fake.unknown)(body)
                    except Exception as exc:  # a request the real service would refuse: fail the client fast
                        code, answer = 400, {"code": 400, "message": f"fake Kaggle: {type(exc).__name__}: {exc}"}
                if fake.hold and fake.hold(method) == "after":  # done, not yet answered
                    fake.held.set()
                    fake.released.wait(timeout=600)
                try:
                    self._send(code, answer)
                except OSError:  # the client was killed meanwhile
                    pass

            def do_PUT(self):
                token = self.path.split("/")[-1]
                data = self._body()
                if self._misbehave("PUT"):
                    return
                with fake.lock:
                    fake.calls.append(("PUT", {"token": token, "bytes": len(data)}))
                    if fake.blobs[token]["name"] in fake.bad.fail_upload:
                        return self._send(400, {"code": 400, "message": "fake Kaggle: upload refused"})
                    fake.blobs[token]["data"] = data
                self._send(200, {})

            def do_GET(self):
                owner, slug, name = self.path.split("/")[-3:]
                session = int(self.path.split("/")[-4])
                data = fake.kernels[f"{owner}/{slug}"]["sessions"][session]["output"].get(name)
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

    def uploads(self) -> int:
        """Dataset uploads Kaggle accepted: creates and new versions."""
        return len(self.bodies("CreateDataset")) + len(self.bodies("CreateDatasetVersion"))

    def GetDatasetStatus(self, body):
        if self.bad.forbidden_status > 0:
            self.bad.forbidden_status -= 1
            return 403, {"code": 403, "message": "Permission 'datasets.get' was denied"}
        ds = self.datasets.get(f"{body['ownerSlug']}/{body['datasetSlug']}")
        if ds is None:
            return 404, {"code": 404, "message": "Not found"}
        ds["polls"] += 1
        return 200, {"status": "READY" if ds["polls"] > 1 else "BLOBS_RECEIVED"}  # processing, then ready

    def GetDataset(self, body):
        ds = self.datasets.get(f"{body['ownerSlug']}/{body['datasetSlug']}")
        if ds is None:
            return 404, {"code": 404, "message": "Not found"}
        return 200, {"ref": f"{body['ownerSlug']}/{body['datasetSlug']}", "currentVersionNumber": len(ds["versions"])}

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
        kernel = self.kernels.setdefault(body["slug"], {"versions": [], "sessions": [], "stale": 0})
        kernel["versions"].append(body)
        version = len(kernel["versions"])
        kernel["stale"] = self.bad.stale_polls if kernel["sessions"] else 0
        kernel["sessions"].append({"version": version, "status": "RUNNING", "output": {}, "log": ""})
        threading.Thread(target=self._run_kernel, args=(kernel["sessions"][-1], body), daemon=True).start()
        invalid = {f"invalid{kind.title()}Sources": refs for kind, refs in self.bad.invalid_sources.items()}
        return 200, {
            "ref": f"/code/{body['slug']}",
            "url": f"{self.base}/code/{body['slug']}",
            "versionNumber": version,
            **invalid,
        }

    def seed_kernel(self, slug: str, output: dict[str, bytes], log: str) -> None:
        """A kernel as an earlier publish left it: one version, its session complete."""
        session = {"version": 1, "status": "COMPLETE", "output": output, "log": log}
        self.kernels[slug] = {"versions": [{"slug": slug, "seeded": True}], "sessions": [session], "stale": 0}

    def _run_kernel(self, session: dict, request: dict) -> None:
        dataset = self.datasets[request["datasetDataSources"][0]]["versions"][-1] if self.runner else {}
        try:
            ok, outputs, log = self.runner(request, dataset) if self.runner else (True, {}, "")
        except Exception:  # a runner that breaks fails the kernel, as an error in the notebook would
            import traceback

            ok, outputs, log = False, {}, traceback.format_exc()
        with self.lock:
            session.update(status="COMPLETE" if ok else "ERROR", output=outputs,
                           log=log + f"\n[session of version {session['version']}]")  # fmt: skip

    def _session(self, body, count: bool) -> tuple[dict | None, int]:
        """The session Kaggle calls the latest: right after a push, for `stale_polls` calls, the one before."""
        kernel = self.kernels.get(f"{body['userName']}/{body['kernelSlug']}")
        if kernel is None:
            return None, -1
        index = len(kernel["sessions"]) - 1
        if kernel["stale"] > 0:
            index -= 1
            kernel["stale"] -= count
        return kernel["sessions"][index], index

    def GetKernelSessionStatus(self, body):
        session, _ = self._session(body, count=True)
        if session is None:
            return 404, {"code": 404, "message": "Not found"}
        failure = (
            "" if session["status"] != "ERROR" else "Your notebook tried to allocate more memory than is available"
        )
        return 200, {"status": session["status"], "failureMessage": failure}

    def ListKernelSessionOutput(self, body):
        session, index = self._session(body, count=False)
        if session is None:
            return 404, {"code": 404, "message": "Not found"}
        slug = f"{body['userName']}/{body['kernelSlug']}"
        files = [{"fileName": n, "url": f"{self.base}/output/{index}/{slug}/{n}"} for n in session["output"]]
        return 200, {"files": files, "log": session["log"]}

    def CreateCodeSubmission(self, body):
        ref = 50000000 + len(self.submissions)
        date = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        self.submissions.append({**body, "ref": ref, "date": date, "listed": 0, "error": self.bad.score_error})
        self.bad.score_error = None
        return 200, {"message": "Your submission was successfully saved", "ref": ref}

    def GetSubmissionLimits(self, body):
        today = len(self.submissions) if self.bad.limit_left is None else 5 - self.bad.limit_left
        return 200, {"numToday": today, "numTotal": today, "numAllowedNow": 5 - today}

    def ListSubmissions(self, body):
        rows = []
        for sub in reversed(self.submissions):
            sub["listed"] += 1
            scored = sub["listed"] > 1  # pending when first listed, then scored
            status = "PENDING" if not scored else "ERROR" if sub["error"] else "COMPLETE"
            rows.append({
                "ref": sub["ref"], "date": sub["date"], "description": sub["submissionDescription"],
                "fileName": sub["fileName"], "status": status,
                "publicScore": self.public_score if status == "COMPLETE" else "", "privateScore": "",
                **({"errorDescription": sub["error"]} if status == "ERROR" else {}),
            })  # fmt: skip
        return 200, {"submissions": rows}
