"""Loopback stand-in for the Hugging Face Hub API, for protocol tests (the real Hub cannot be reached from tests).

It answers the calls that the installed huggingface_hub makes for `whoami`, `create_repo`, `repo_info` and
`upload_folder` over the plain LFS protocol, records every request and keeps what was committed.

huggingface_hub decides on the client side, without asking the server, to upload through Xet whenever `hf_xet` is
installed; Xet needs a separate storage (CAS) service that this fake does not provide. Clients must therefore turn
Xet off: `HF_HUB_DISABLE_XET=1` in a subprocess's environment (see `FakeHub.client_env`), or
`allow_calls_to_fake_hub(monkeypatch)` in this process. A client that still tries Xet gets a 501 naming the fix.
"""

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

# Paths that the Hub's default `.gitattributes` sends to LFS; binary or large content goes there too.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack", ".npz", ".pkl", ".zip")
LFS_MIN_SIZE = 10 * 1024 * 1024
DEFAULT_BRANCH = "main"

_REPO = r"(?P<repo_id>[^/]+/[^/]+)"
_API_REPO = rf"/api/(?P<repo_type>model|dataset|space)s/{_REPO}"
_GIT_REPO = rf"/(?:(?P<repo_type>dataset|space)s/)?{_REPO}\.git/info/lfs/objects"
AGENT_REGISTRY = ("GET", "/api/agent-harnesses")
_ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami"),
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("GET", rf"{_API_REPO}(?:/revision/(?P<revision>[^/]+))?", "repo_info"),
    ("POST", rf"{_API_REPO}/preupload/(?P<revision>[^/]+)", "preupload"),
    ("POST", rf"{_API_REPO}/commit/(?P<revision>[^/]+)", "commit"),
    ("GET", rf"{_API_REPO}/xet-write-token/(?P<revision>[^/]+)", "xet_token"),
    ("POST", rf"{_GIT_REPO}/batch", "lfs_batch"),
    ("POST", rf"{_GIT_REPO}/verify", "lfs_verify"),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
]


@dataclass
class Request:
    """One request as the fake Hub received it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any  # parsed JSON body, a list of parsed lines for NDJSON, None otherwise


@dataclass
class Commit:
    repo_id: str
    repo_type: str
    revision: str
    message: str
    description: str
    oid: str
    files: dict[str, bytes]  # added files with their full content; LFS files resolved from the uploaded bytes
    lfs_paths: set[str]  # which of `files` were committed as LFS pointers
    deleted: list[str]


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)  # current content of the default branch
    lfs_paths: set[str] = field(default_factory=set)
    head: str = ""


class HubError(Exception):
    """An error answer, shaped like the Hub's: JSON `{"error": ...}` plus the `X-Error-*` headers."""

    def __init__(self, status: int, message: str, error_code: str | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.error_code, self.extra = status, message, error_code, extra


class FakeHub:
    """Loopback stand-in for the Hub API (protocol test: the real Hub cannot be reached here)."""

    def __init__(self, user: str = "test-user"):
        self.user = user
        self.url = ""
        self.requests: list[Request] = []
        self.registry_requests: list[Request] = []  # huggingface_hub's daily fetch of the agent registry
        self.created: list[dict] = []  # bodies of repo-create calls
        self.commits: list[Commit] = []
        self.repos: dict[tuple[str, str], Repo] = {}  # by (repo_type, repo_id)
        self.lfs_objects: dict[str, bytes] = {}  # uploaded LFS content by sha256
        self._lock = threading.Lock()  # LFS uploads arrive on several threads at once
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval keeps `shutdown()`, which waits for the next poll, from adding half a second per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def client_env(self) -> dict[str, str]:
        """Environment for a subprocess whose huggingface_hub should talk to this fake Hub."""
        return {"HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1"}

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[repo_type, repo_id]

    # -- request handling (called on the server's threads) ---------------------------------------------------------

    def _answer(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            if (request.method, request.path) == AGENT_REGISTRY:
                # huggingface_hub 2.5 builds its user agent from a registry it fetches at most once a day: no
                # request about any repository, so not among `requests`. The Hub's empty registry.
                self.registry_requests.append(request)
                return 200, {"standardEnvVars": [], "harnesses": {}}
            self.requests.append(request)
            for method, pattern, name in _ROUTES:
                match = re.fullmatch(pattern, request.path)
                if match and method == request.method:
                    params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                    return 200, getattr(self, f"_{name}")(request, **params)
            raise HubError(404, f"FakeHub does not handle {request.method} {request.path}")

    def _require_token(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HubError(401, "Authentication required: send an `Authorization: Bearer <token>` header")
        return token

    def _find_repo(self, repo_type: str, repo_id: str, revision: str = DEFAULT_BRANCH) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository {repo_type}s/{repo_id} not found", "RepoNotFound")
        if revision != DEFAULT_BRANCH:  # only the default branch exists: no branches, tags or PRs here
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo

    def _web_url(self, repo: Repo) -> str:
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return f"{self.url}/{prefix}{repo.repo_id}"

    def _whoami(self, request: Request) -> dict:
        self._require_token(request)
        return {"type": "user", "name": self.user, "fullname": self.user, "orgs": [], "auth": {"type": "access_token"}}

    def _create_repo(self, request: Request) -> dict:
        self._require_token(request)
        body = request.json
        self.created.append(body)
        repo_type = body.get("type") or "model"
        repo_id = f"{body.get('organization') or self.user}/{body['name']}"
        if (repo_type, repo_id) in self.repos:  # create_repo(exist_ok=True) reads the URL from this answer
            raise HubError(
                409, f"You already created this {repo_type} repo", url=self._web_url(self.repos[repo_type, repo_id])
            )
        private = body.get("visibility") == "private" or body.get("private") is True
        repo = Repo(repo_id, repo_type, private, head=hashlib.sha1(f"initial {repo_id}".encode()).hexdigest())
        self.repos[repo_type, repo_id] = repo
        return {"url": self._web_url(repo), "name": repo_id}

    def _validate_yaml(self, request: Request) -> dict:
        return {"errors": [], "warnings": []}  # the Hub checks the model card's metadata; nothing to check here

    def _repo_info(self, request: Request, repo_type: str, repo_id: str, revision: str = DEFAULT_BRANCH) -> dict:
        repo = self._find_repo(repo_type, repo_id, revision)
        if repo.private:
            self._require_token(request)
        siblings = [{"rfilename": path} for path in sorted(repo.files)]
        return {
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "private": repo.private,
            "sha": repo.head,
            "siblings": siblings,
        }

    def _preupload(self, request: Request, repo_type: str, repo_id: str, revision: str) -> dict:
        self._require_token(request)
        repo = self._find_repo(repo_type, repo_id, revision)
        if request.query.get("create_pr"):
            raise HubError(400, "FakeHub does not support pull requests")
        answers = []
        for entry in request.json["files"]:
            path, sample = entry["path"], base64.b64decode(entry["sample"])
            is_lfs = path.endswith(LFS_SUFFIXES) or entry["size"] >= LFS_MIN_SIZE or b"\0" in sample
            # The remote oid lets the client skip unchanged files: sha256 for LFS files, git's blob sha1 otherwise.
            oid = _content_oid(repo.files[path], path in repo.lfs_paths) if path in repo.files else None
            answers.append(
                {"path": path, "uploadMode": "lfs" if is_lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        return {"files": answers}

    def _lfs_batch(self, request: Request, repo_id: str, repo_type: str | None = None) -> dict:
        self._require_token(request)
        self._find_repo(repo_type or "model", repo_id)
        if "basic" not in request.json.get("transfers", ["basic"]):
            raise HubError(422, "FakeHub only offers the basic LFS transfer")
        objects = []
        for obj in request.json["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs_objects:  # without "actions" the client knows the content is there already
                verify_url = request.path.replace("/batch", "/verify")
                answer["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{obj['oid']}"},
                    "verify": {"href": f"{self.url}{verify_url}"},
                }
            objects.append(answer)
        return {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def _lfs_upload(self, request: Request, oid: str) -> dict:
        # Stands for the presigned storage URL that the Hub hands out: no token expected here.
        if hashlib.sha256(request.body).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match its sha256 {oid}")
        self.lfs_objects[oid] = request.body
        return {}

    def _lfs_verify(self, request: Request, repo_id: str, repo_type: str | None = None) -> dict:
        self._require_token(request)
        content = self.lfs_objects.get(request.json["oid"])
        if content is None or len(content) != request.json["size"]:
            raise HubError(404, f"LFS object {request.json['oid']} was not uploaded with size {request.json['size']}")
        return {"success": True}

    def _commit(self, request: Request, repo_type: str, repo_id: str, revision: str) -> dict:
        self._require_token(request)
        repo = self._find_repo(repo_type, repo_id, revision)
        if request.query.get("create_pr"):
            raise HubError(400, "FakeHub does not support pull requests")
        header, files, lfs_paths, deleted = {}, {}, set(), []
        for line in request.json:
            key, value = line["key"], line["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    raise HubError(400, f"LFS file {value['path']} ({value['oid']}) was never uploaded")
                files[value["path"]] = self.lfs_objects[value["oid"]]
                lfs_paths.add(value["path"])
            elif key in ("deletedFile", "deletedFolder"):
                prefix = value["path"].rstrip("/") + "/"
                deleted += [path for path in repo.files if path == value["path"] or path.startswith(prefix)]
            else:
                raise HubError(400, f"FakeHub does not handle commit operation {key!r}")
        if header.get("parentCommit") not in (None, repo.head):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        for path in deleted:
            del repo.files[path]
            repo.lfs_paths.discard(path)
        repo.files.update(files)
        repo.lfs_paths = (repo.lfs_paths - set(files)) | lfs_paths
        repo.head = hashlib.sha1(f"{repo.head} {len(self.commits)}".encode()).hexdigest()
        self.commits.append(
            Commit(
                repo_id=repo_id,
                repo_type=repo_type,
                revision=revision,
                message=header.get("summary", ""),
                description=header.get("description", ""),
                oid=repo.head,
                files=files,
                lfs_paths=lfs_paths,
                deleted=deleted,
            )
        )
        commit_url = f"{self._web_url(repo)}/commit/{repo.head}"
        return {"success": True, "commitOid": repo.head, "commitUrl": commit_url, "pullRequestUrl": None}

    def _xet_token(self, request: Request, **_) -> dict:
        raise HubError(501, "FakeHub has no Xet storage: set HF_HUB_DISABLE_XET=1 so that the LFS protocol is used")


def _content_oid(content: bytes, is_lfs: bool) -> str:
    if is_lfs:
        return hashlib.sha256(content).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def allow_calls_to_fake_hub(monkeypatch) -> None:
    """Let this process's huggingface_hub reach a FakeHub, whatever the environment said at its import.

    huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_DISABLE_XET into `constants` once, at import (tests/conftest.py
    sets HF_HUB_OFFLINE=1 before that), but reads the constants themselves at each call: patching them is enough.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._handle()

        do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

        def _handle(self) -> None:
            url = urlsplit(self.path)
            body = self._read_body()
            request = Request(
                method=self.command,
                path=url.path,
                query=dict(parse_qsl(url.query)),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                json=_parse_json(body, self.headers.get("Content-Type", "")),
            )
            try:
                status, payload = hub._answer(request)
                headers = {}
            except HubError as error:
                status, payload = error.status, {"error": error.message, **error.extra}
                headers = {"X-Error-Message": error.message}
                if error.error_code:
                    headers["X-Error-Code"] = error.error_code
            except Exception as error:  # noqa: BLE001 - a bug here must answer: the client waits without a timeout
                status, payload, headers = 500, {"error": f"FakeHub failed: {error!r}"}, {}
            self._send_json(status, payload, headers)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # streamed uploads may come chunked
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send_json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format, *args) -> None:
            pass  # tests read `FakeHub.requests` instead of a log on stderr

    return Handler


def _parse_json(body: bytes, content_type: str) -> Any:
    try:
        if "ndjson" in content_type:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        if "json" in content_type:
            return json.loads(body)
    except ValueError:
        pass
    return None
