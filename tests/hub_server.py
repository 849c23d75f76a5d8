"""A local stand-in for the Hugging Face Hub HTTP API, limited to what `push_to_hub.py` and loading a model back
(`from_pretrained`, `pipeline`, `hf_hub_download`, `snapshot_download`) call, answered the way huggingface_hub
expects (routes and headers read from huggingface_hub's hf_api.py, _commit_api.py and file_download.py):

    POST /api/repos/create                           create a model repo (409 when it exists)
    POST /api/validate-yaml                          README metadata check (model-index must parse)
    GET  /api/whoami-v2                              the token's user
    POST /api/models/{repo}/preupload/{rev}          upload mode of each file: always "regular" (no LFS)
    POST /api/models/{repo}/commit/{rev}[?create_pr=1]  NDJSON commit: header, file (base64), deletedFile/Folder;
                                                     with create_pr, onto a new pull request ref refs/pr/<n>
                                                     opened against {rev}
    POST /api/models/{repo}/branch/{branch}          create a branch (409 when it exists)
    GET  /api/models/{repo}[/revision/{rev}]         model info (sha, siblings)
    GET  /api/models/{repo}/tree/{rev}[/{path}]      file listing
    HEAD|GET /{repo}/resolve/{rev}/{path}            file metadata (ETag, X-Repo-Commit, Content-Length) and bytes

Repos live in memory. Writes need a token from `tokens`; private repos need one to be read. `fail(route, status)`
makes a route answer an error. The server listens on 127.0.0.1 only and shuts itself down after `lifetime` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from huggingface_hub import ModelCard
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import sha, validate_repo_id

USER = "test-user"
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"

_REPO = r"(?P<repo>[^/]+/[^/]+)"
ROUTES = [
    ("create", "POST", re.compile(r"/api/repos/create")),
    ("validate-yaml", "POST", re.compile(r"/api/validate-yaml")),
    ("whoami", "GET", re.compile(r"/api/whoami-v2")),
    ("preupload", "POST", re.compile(rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)")),
    ("commit", "POST", re.compile(rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)")),
    ("branch", "POST", re.compile(rf"/api/models/{_REPO}/branch/(?P<branch>[^/]+)")),
    ("tree", "GET", re.compile(rf"/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?")),
    ("info", "GET", re.compile(rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?")),
    ("resolve", "HEAD", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)")),
    ("resolve", "GET", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)")),
]
WRITE_ROUTES = {"create", "preupload", "commit", "branch"}


class HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict | None = None, body: dict | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.body = {"error": message, **(body or {})}


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, bytes]


@dataclass
class Repo:
    private: bool
    commits: list[Commit] = field(default_factory=list)  # of main
    refs: dict[str, list[Commit]] = field(default_factory=dict)  # other branches and pull requests (refs/pr/<n>)

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def history(self, revision: str) -> list[Commit]:
        """The commits of a branch or pull request."""
        if revision == "main":
            return self.commits
        if revision in self.refs:
            return self.refs[revision]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def at(self, revision: str) -> Commit:
        if revision == "main" or revision in self.refs:
            return self.history(revision)[-1]
        for commit in [*self.commits, *(c for history in self.refs.values() for c in history)]:
            if commit.oid == revision:
                return commit
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


class HubServer:
    """`with HubServer() as hub:` ... `hub.url` is the HF_ENDPOINT to use."""

    def __init__(self, tokens: tuple[str, ...] = ("hf_test_token",), lifetime: float = 300.0):
        self.tokens = set(tokens)
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.failures: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        # Bounded: a test run that never stops the server still ends it.
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def __enter__(self) -> HubServer:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, route: str, status: int, message: str = "refused by the test server") -> None:
        """Answer every request to `route` (a ROUTES name) with this error until `clear_failures()`."""
        self.failures[route] = (status, message)

    def clear_failures(self) -> None:
        self.failures.clear()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        return dict(self.repos[repo_id].at(revision).files)

    # -- request handling ---------------------------------------------------------------------------------------

    def handle(self, route: str, method: str, params: dict, headers, body: bytes, query: dict | None = None):
        """(status, extra headers, body bytes) for one request; raises HubError."""
        if route in self.failures:
            raise HubError(*self.failures[route])
        token = (headers.get("authorization") or "").removeprefix("Bearer ").strip()
        authorised = token in self.tokens
        if route in WRITE_ROUTES and not authorised:
            raise HubError(401, INVALID_CREDENTIALS)
        with self._lock:
            if route == "create":
                return self._create(json.loads(body))
            if route == "validate-yaml":
                return self._validate_yaml(json.loads(body)["content"])
            if route == "whoami":
                if not authorised:
                    raise HubError(401, INVALID_CREDENTIALS)
                return _json({"type": "user", "name": USER, "auth": {"accessToken": {"role": "write"}}})
            repo = self._repo(params["repo"], authorised)
            revision = unquote(params.get("rev") or "main")
            if route == "preupload":
                return self._preupload(repo, revision, json.loads(body))
            if route == "commit":
                create_pr = (query or {}).get("create_pr", ["0"])[0] in ("1", "true", "True")
                return self._commit(params["repo"], repo, revision, body, create_pr)
            if route == "branch":
                return self._branch(repo, unquote(params["branch"]), json.loads(body or b"{}"))
            commit = repo.at(revision)
            if route == "info":
                return self._info(params["repo"], repo, commit)
            if route == "tree":
                return self._tree(commit, unquote(params.get("path") or ""))
            return self._resolve(commit, unquote(params["path"]), method)

    def _repo(self, repo_id: str, authorised: bool) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not authorised):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _create(self, payload: dict):
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        if payload.get("type", "model") != "model":
            raise HubError(400, "this test server only hosts model repos")
        if repo_id in self.repos:
            # huggingface_hub's create_repo(exist_ok=True) reads the url from this 409 answer.
            raise HubError(409, "You already created this model repo", body={"url": f"{self.url}/{repo_id}"})
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        initial = Commit(_oid(repo_id, "initial commit"), "initial commit", {})
        self.repos[repo_id] = Repo(private=private, commits=[initial])
        return _json({"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def _validate_yaml(self, content: str):
        # As the Hub does: the metadata, model-index included, must parse; empty metadata is only a warning.
        if not content.startswith("---"):
            return _json({"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]})
        try:
            card = ModelCard(content)
        except Exception as error:  # any parse failure is the client's fault: 400 with the reason
            return _json({"errors": [{"message": str(error)}], "warnings": []}, status=400)
        base_models = card.data.base_model or []
        for name in [base_models] if isinstance(base_models, str) else base_models:
            try:
                validate_repo_id(name)
            except HFValidationError:
                return _json({"errors": [{"message": f'"base_model" must be a model id, got {name!r}'}]}, status=400)
        return _json({"errors": [], "warnings": []})

    def _preupload(self, repo: Repo, revision: str, payload: dict):
        existing = repo.at(revision).files
        return _json(
            {
                "files": [
                    {
                        "path": item["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": sha.git_hash(existing[item["path"]]) if item["path"] in existing else None,
                    }
                    for item in payload["files"]
                ]
            }
        )

    def _branch(self, repo: Repo, branch: str, payload: dict):
        if branch == "main" or branch in repo.refs:
            raise HubError(409, f"Reference {branch} already exists")
        repo.refs[branch] = [repo.at(payload.get("startingPoint") or "main")]
        return _json({})

    def _commit(self, repo_id: str, repo: Repo, revision: str, body: bytes, create_pr: bool = False):
        pull_request = None
        if create_pr:
            # As the Hub does: the pull request is opened against the branch committed to (main by default).
            number = 1 + sum(ref.startswith("refs/pr/") for ref in repo.refs)
            base = repo.history(revision)[-1]
            revision, pull_request = f"refs/pr/{number}", f"{self.url}/{repo_id}/discussions/{number}"
            repo.refs[revision] = [base]
        history = repo.history(revision)
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit must start with a header line")
        message = lines[0]["value"]["summary"]
        files = dict(history[-1].files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {path: data for path, data in files.items() if not path.startswith(folder)}
            else:
                raise HubError(400, f"unsupported commit operation {key!r} (this test server takes no LFS files)")
        commit = Commit(
            _oid(history[-1].oid, message, *sorted(f"{p}:{sha.git_hash(d)}" for p, d in files.items())), message, files
        )
        history.append(commit)
        return _json(
            {
                "commitUrl": f"{self.url}/{repo_id}/commit/{commit.oid}",
                "commitOid": commit.oid,
                "pullRequestUrl": pull_request,
                "success": True,
            }
        )

    def _info(self, repo_id: str, repo: Repo, commit: Commit):
        return _json(
            {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "tags": [],
                "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            }
        )

    def _tree(self, commit: Commit, folder: str):
        prefix = folder.rstrip("/") + "/" if folder else ""
        entries = [
            {"type": "file", "oid": sha.git_hash(data), "size": len(data), "path": path}
            for path, data in sorted(commit.files.items())
            if path.startswith(prefix)
        ]
        if folder and not entries:
            raise HubError(404, f"{folder} does not exist on main", "EntryNotFound")
        return _json(entries)

    def _resolve(self, commit: Commit, path: str, method: str):
        if path not in commit.files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        data = commit.files[path]
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{sha.git_hash(data)}"',
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(data)),
        }
        return 200, headers, b"" if method == "HEAD" else data


def _oid(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _json(payload, status: int = 200):
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _make_handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        timeout = 30  # seconds a connection may stay silent: a stuck client cannot hold a thread forever

        def do_GET(self):
            self._dispatch("GET")

        def do_HEAD(self):
            self._dispatch("HEAD")

        def do_POST(self):
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            hub.requests.append((method, path))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            for name, route_method, pattern in ROUTES:  # noqa: B007 (name: the route found, used after the loop)
                match = pattern.fullmatch(path)
                if match and route_method == method:
                    break
            else:
                return self._send(
                    404,
                    {"X-Error-Message": f"no route {method} {path}"},
                    json.dumps({"error": f"no route {method} {path}"}).encode(),
                    method,
                )
            try:
                status, headers, payload = hub.handle(name, method, match.groupdict(), self.headers, body, query)
            except HubError as error:
                status, payload = error.status, json.dumps(error.body).encode()
                headers = {"Content-Type": "application/json", "X-Error-Message": error.message, **error.headers}
                if error.code:
                    headers["X-Error-Code"] = error.code
            self._send(status, headers, payload, method)

        def _send(self, status: int, headers: dict, payload: bytes, method: str) -> None:
            self.send_response(status)
            headers = {"Content-Length": str(len(payload)), **headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format, *args):  # requests are recorded in hub.requests instead of stderr
            pass

    return Handler
