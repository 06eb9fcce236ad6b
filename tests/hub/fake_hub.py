"""A small stand-in for the Hugging Face Hub on 127.0.0.1, for offline upload and download tests.

It implements the requests huggingface_hub (>= 1.0) sends for ``create_repo``, ``create_branch``,
``create_commit`` (``validate-yaml``, ``preupload``, the NDJSON ``commit``) and for downloads
(``repo_info``, ``list_repo_tree``, ``HEAD`` / ``GET .../resolve/...``), keeps the repos in memory and
records every request. Files are always committed as regular (inline, base64) files: the preupload
answer says so, which keeps LFS / Xet out of the tests.

Safety: binds the loopback interface only; stops itself after ``lifetime_s`` seconds or
``max_requests`` requests, whichever comes first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from huggingface_hub import ModelCard

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
    ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
    ("POST", re.compile(rf"^/api/models/{_REPO}/branch/(?P<branch>[^/]+)$"), "create_branch"),
    ("POST", re.compile(rf"^/api/models/{_REPO}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"^/api/models/{_REPO}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("GET", re.compile(rf"^/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), "tree"),
    ("GET", re.compile(rf"^/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?$"), "repo_info"),
    ("HEAD", re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ("GET", re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Branch:
    files: dict[str, bytes] = field(default_factory=dict)
    sha: str = "0" * 40


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, Branch] = field(default_factory=lambda: {"main": Branch()})
    commits: list[dict] = field(default_factory=list)


class FakeHub:
    """The server. Use as a context manager; ``url`` is the endpoint to give huggingface_hub.

    Args:
        echo_token_in_errors: error and warning texts quote the Authorization header received (to
            test that the client never shows it).
        fail: request kind (e.g. "commit", "create_repo") -> HTTP status to answer it with.
        warn_on_validate: a warning returned by validate-yaml (the token is appended if echoing).
        lifetime_s, max_requests: the server stops itself after either.
    """

    def __init__(
        self,
        *,
        echo_token_in_errors: bool = False,
        fail: dict[str, int] | None = None,
        warn_on_validate: str | None = None,
        lifetime_s: float = 180.0,
        max_requests: int = 3000,
    ):
        self.repos: dict[str, Repo] = {}
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []
        self.echo_token_in_errors = echo_token_in_errors
        self.fail = dict(fail or {})
        self.warn_on_validate = warn_on_validate
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self._stopped = threading.Event()

    def __enter__(self) -> FakeHub:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (idempotent; safe from any thread but the serving one)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    # --- what tests inspect ----------------------------------------------------------------

    def files(self, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return dict(self.repos[repo_id].branches[branch].files)

    def requests_to(self, kind_pattern: str) -> list[RecordedRequest]:
        return [r for r in self.requests if re.search(kind_pattern, r.path)]

    # --- request handling (called from the handler threads) --------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes):
        """-> (status, headers, body bytes)."""
        split = urlsplit(raw_path)
        with self._lock:
            self.requests.append(RecordedRequest(method, split.path, parse_qs(split.query), headers, body))
            count = len(self.requests)
        if count > self.max_requests:
            threading.Thread(target=self.stop, daemon=True).start()
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "fake hub: request budget used up"})
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(split.path)
            if match and route_method == method:
                params = {
                    key: unquote(value) for key, value in match.groupdict().items() if value is not None
                }
                if name in self.fail:
                    return self._error(self.fail[name], f"fake hub refuses {name}", headers)
                with self._lock:
                    return getattr(self, f"_{name}")(headers=headers, body=body, method=method, **params)
        self.unhandled.append(f"{method} {raw_path}")
        return self._json(HTTPStatus.NOT_FOUND, {"error": f"fake hub: no route for {method} {split.path}"})

    def _auth_required(self, headers: dict[str, str]):
        if not headers.get("authorization", "").startswith("Bearer "):
            return self._json(
                HTTPStatus.UNAUTHORIZED, {"error": "Invalid credentials in Authorization header"}
            )
        return None

    def _error(self, status: int, message: str, headers: dict[str, str]):
        if self.echo_token_in_errors:
            message += f" (you sent {headers.get('authorization', '')!r})"
        return self._json(status, {"error": message}, {"X-Error-Message": message})

    @staticmethod
    def _json(status: int, content, extra_headers: dict[str, str] | None = None):
        return (
            int(status),
            {"Content-Type": "application/json", **(extra_headers or {})},
            json.dumps(content).encode(),
        )

    def _validate_yaml(self, headers, body, **_):
        content = json.loads(body)["content"]
        try:
            ModelCard(content, ignore_metadata_errors=False)
        except Exception as error:
            return self._json(HTTPStatus.BAD_REQUEST, {"errors": [{"message": str(error)}]})
        warnings = []
        if self.warn_on_validate:
            message = self.warn_on_validate
            if self.echo_token_in_errors:
                message += f" (you sent {headers.get('authorization', '')!r})"
            warnings.append({"message": message})
        return self._json(HTTPStatus.OK, {"errors": [], "warnings": warnings})

    def _create_repo(self, headers, body, **_):
        if refused := self._auth_required(headers):
            return refused
        payload = json.loads(body)
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        if repo_id in self.repos:
            return self._json(
                HTTPStatus.CONFLICT,
                {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"},
            )
        self.repos[repo_id] = Repo(
            repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private"))
        )
        return self._json(HTTPStatus.OK, {"url": f"{self.url}/{repo_id}", "name": repo_id})

    def _create_branch(self, headers, repo, branch, **_):
        if refused := self._auth_required(headers):
            return refused
        if repo not in self.repos:
            return self._not_found("RepoNotFound", "Repository not found")
        branches = self.repos[repo].branches
        if branch in branches:
            return self._json(HTTPStatus.CONFLICT, {"error": "Reference already exists"})
        main = branches["main"]
        branches[branch] = Branch(files=dict(main.files), sha=main.sha)
        return self._json(HTTPStatus.OK, {})

    def _branch(self, repo: str, rev: str):
        if repo not in self.repos:
            return None, self._not_found("RepoNotFound", "Repository not found")
        branch = self.repos[repo].branches.get(rev)
        if branch is None:
            branch = next((b for b in self.repos[repo].branches.values() if b.sha == rev), None)
        if branch is None:
            return None, self._not_found("RevisionNotFound", f"Invalid rev id: {rev}")
        return branch, None

    def _preupload(self, headers, body, repo, rev, **_):
        if refused := self._auth_required(headers):
            return refused
        _, missing = self._branch(repo, rev)
        if missing:
            return missing
        files = json.loads(body)["files"]
        answer = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files
        ]
        return self._json(HTTPStatus.OK, {"files": answer})

    def _commit(self, headers, body, repo, rev, **_):
        if refused := self._auth_required(headers):
            return refused
        branch, missing = self._branch(repo, rev)
        if missing:
            return missing
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "the first NDJSON line must be the header"})
        changed = {}
        for line in lines[1:]:
            if line["key"] != "file" or line["value"].get("encoding") != "base64":
                return self._json(
                    HTTPStatus.BAD_REQUEST, {"error": f"fake hub takes regular files only, got {line['key']}"}
                )
            changed[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        branch.files.update(changed)
        digest = hashlib.sha1(
            json.dumps(sorted((p, hashlib.sha1(c).hexdigest()) for p, c in branch.files.items())).encode()
        )
        branch.sha = digest.hexdigest()
        self.repos[repo].commits.append(
            {"header": lines[0]["value"], "branch": rev, "paths": sorted(changed)}
        )
        return self._json(
            HTTPStatus.OK,
            {"commitUrl": f"{self.url}/{repo}/commit/{branch.sha}", "commitOid": branch.sha, "success": True},
        )

    def _repo_info(self, repo, rev="main", **_):
        branch, missing = self._branch(repo, rev)
        if missing:
            return missing
        siblings = [{"rfilename": path} for path in sorted(branch.files)]
        return self._json(
            HTTPStatus.OK,
            {
                "id": repo,
                "sha": branch.sha,
                "private": self.repos[repo].private,
                "siblings": siblings,
                "tags": [],
            },
        )

    def _tree(self, repo, rev, path="", **_):
        branch, missing = self._branch(repo, rev)
        if missing:
            return missing
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        entries, folders = [], set()
        for name, content in sorted(branch.files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if "/" in rest:
                folders.add(prefix + rest.split("/", 1)[0])
            entries.append(
                {"type": "file", "path": name, "size": len(content), "oid": hashlib.sha1(content).hexdigest()}
            )
        if prefix and not entries:
            return self._not_found("EntryNotFound", f"{path} does not exist on {rev}")
        entries += [{"type": "directory", "path": folder, "oid": "0" * 40} for folder in sorted(folders)]
        return self._json(HTTPStatus.OK, entries)

    def _resolve(self, method, repo, rev, path, **_):
        branch, missing = self._branch(repo, rev)
        if missing:
            return missing
        content = branch.files.get(path)
        if content is None:
            return self._not_found("EntryNotFound", f"{path} does not exist on {rev}")
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": branch.sha,
            "ETag": f'"{hashlib.sha1(content).hexdigest()}"',
        }
        return int(HTTPStatus.OK), headers, content

    def _not_found(self, code: str, message: str):
        return self._json(
            HTTPStatus.NOT_FOUND, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message}
        )


def _handler_class(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, response_headers, content = hub.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in response_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    return Handler
