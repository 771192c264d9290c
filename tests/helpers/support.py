"""Helpers for the tests: bake the template, make timm checkpoints, check a folder in a fresh process."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
CHECK_FOLDER = Path(__file__).resolve().parent / "check_folder.py"
# Other versions of the libraries, installed for a test: under the venv (CI creates .venv afresh only when it is
# missing), or where the variable says.
PACKAGE_CACHE = Path(os.environ.get("TIMM_HUB_TEMPLATE_COMPAT_CACHE") or Path(sys.prefix) / "timm-hub-template-compat")


def bake(output_dir: Path, **context: Any) -> Path:
    """Run cookiecutter on the template with `context` (no prompts), as `cookiecutter <dir> key=value` does."""
    from cookiecutter.main import cookiecutter

    output_dir.mkdir(parents=True, exist_ok=True)
    return Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, extra_context=context, output_dir=str(output_dir)))


def template_variables(**overrides: Any) -> dict[str, Any]:
    """The template's variables as a `cookiecutter --no-input <template> key=value ...` run parses them: every key of
    cookiecutter.json, the not-asked ones without their `__` (`cookiecutter_run.public_context`), at cookiecutter's
    rendering of their defaults (the names derived from the architecture) under `overrides`, given by those names."""
    from timm_hub_template.cookiecutter_run import context_for, public_context

    return public_context(context_for(TEMPLATE_DIR, overrides, TEMPLATE_DIR)["cookiecutter"])


def bake_in_subprocess(output_dir: Path, **context: Any) -> Path:
    """The cookiecutter command line in a fresh process, which reads the environment (HF_* variables) as it starts,
    like a user's run; its output goes to this process's stdout and stderr."""
    output_dir.mkdir(parents=True, exist_ok=True)
    variables = [f"{key}={value}" for key, value in context.items()]
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir), str(TEMPLATE_DIR)]
    subprocess.run([*command, *variables], check=True)
    return output_dir / context.get("repo_name", f"custom-{str(context['architecture']).split('.')[0]}")


def install(*packages: str) -> Path:
    """`pip install --no-deps --target` into a folder of PACKAGE_CACHE named after the packages; reused when
    complete. A lock file serialises the test processes (pytest-xdist workers) that ask for the same packages."""
    digest = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:10]
    target = PACKAGE_CACHE / f"{packages[0].replace('==', '-')}-{digest}"
    PACKAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(PACKAGE_CACHE / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        staging = PACKAGE_CACHE / f".staging-{target.name}"
        shutil.rmtree(staging, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
        result = subprocess.run(
            [*command, "--target", str(staging), *packages], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"pip could not install {packages}: {result.stderr[-2000:]}"
        (staging / ".complete").write_text("\n".join(packages) + "\n")
        shutil.rmtree(target, ignore_errors=True)  # a half-made one, from an interrupted run
        staging.rename(target)
        return target


def environment(lock: Path) -> Path:
    """The Python of a virtual environment holding exactly `lock`'s pins (made once, under PACKAGE_CACHE, keyed by
    the lock's content), as a user who installed those versions has it: nothing of this one's leaks in.

    The one exception is torch: this environment's own torch, torchvision and what they require (several GB of
    CUDA libraries on Linux) are linked in through a `.pth` file, so the lock's equal pins are already satisfied;
    the lock must pin the same torch (`python -m timm_hub_template.maintenance locks` writes it so)."""
    import torch

    digest = hashlib.sha256(lock.read_bytes() + torch.__version__.encode()).hexdigest()[:10]
    target = PACKAGE_CACHE / f"{lock.stem}-{digest}"
    python = target / "bin" / "python"
    PACKAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(PACKAGE_CACHE / f".{target.name}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return python
        shutil.rmtree(target, ignore_errors=True)  # a half-made one, from an interrupted run
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(site, "_shared_torch.pth").write_text(f"{shared_torch()}\n")
        command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps"]
        result = subprocess.run([*command, "-r", str(lock)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"pip could not install {lock.name}: {result.stderr[-2000:]}"
        (target / ".complete").write_text(lock.read_text())
        return python


def shared_torch() -> Path:
    """A folder of links to this environment's torch, torchvision and everything they require (made once)."""
    from importlib.metadata import distribution

    import torch
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    folder = PACKAGE_CACHE / f"shared-torch-{torch.__version__}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # torch asks for its CUDA libraries through extras (`cuda-toolkit[cublas,...]`): a requirement counts when its
    # marker holds for no extra or for one of the extras asked of its package, or pip installs them again (1 GB).
    seen, pending = set(), [Requirement("torch"), Requirement("torchvision")]
    while pending:
        wanted = pending.pop()
        name = canonicalize_name(wanted.name)
        if (name, *sorted(wanted.extras)) in seen:
            continue
        seen.add((name, *sorted(wanted.extras)))
        dist = distribution(name)
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in ("", *wanted.extras)
            ):
                pending.append(requirement)
        for top in {file.parts[0] for file in dist.files or () if file.parts[0] != ".."}:
            link = folder / top
            if not link.exists() and not top.endswith(".pth"):
                link.symlink_to(Path(dist.locate_file(top)).resolve())
    (folder / ".complete").write_text("\n".join(sorted({name for name, *_ in seen})) + "\n")
    return folder


def answer_on_a_terminal(
    command: list[str], cwd: Path, env: dict[str, str], answers: list[str], questions: int | None = None
) -> tuple[int, str, int]:
    """Run `command` on a pseudo-terminal (cookiecutter's prompts then ask, as in a person's terminal), typing
    answers[i] once the prompt `[i+1/N]` appears (N: `questions`, or as many as the answers); returns the exit code,
    everything shown, and how many answers were typed. Answering all of them is required when N is not given."""
    import pty
    import select
    import time

    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    total = questions or len(answers)
    output, answered, deadline = b"", 0, time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal closed: the process ended
                    break
                if not chunk:
                    break
                output += chunk
            if answered < len(answers) and f"[{answered + 1}/{total}]".encode() in output:
                os.write(controller, answers[answered].encode() + b"\r")
                answered += 1
            if not ready and process.poll() is not None:
                break
        returncode = process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    if questions is None:
        assert answered == len(answers), output.decode(errors="replace")[-4000:]
    return returncode, output.decode(errors="replace"), answered


def save_timm_checkpoint(architecture: str, path: Path, seed: int = 0) -> Path:
    """A timm-format checkpoint (timm's own state dict of a randomly initialised model) as safetensors."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model(architecture, pretrained=False)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(path))
    return path


HUB_REVISION = "0123456789abcdef0123456789abcdef01234567"


def seed_hub_cache(cache_dir: Path, repo_id: str, weights_file: Path) -> None:
    """Lay out a Hugging Face cache entry as `hf_hub_download` leaves it: snapshots/<rev>/ and refs/main."""
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / HUB_REVISION
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(weights_file.read_bytes())
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(HUB_REVISION)


def seed_hub_snapshot(cache_dir: Path, repo_id: str, folder: Path) -> None:
    """The Hugging Face cache entry of a repository holding `folder`'s files, as a download leaves it."""
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / HUB_REVISION
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        if path.is_file():
            (snapshot / path.name).write_bytes(path.read_bytes())
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(HUB_REVISION)


def check_folder(
    folder: Path | str,
    architecture: str,
    weights: Path,
    create_kwargs: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    data_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `check_folder.py` in a fresh process, as a user loading the folder would, and return its report."""
    import os

    result = subprocess.run(
        [
            sys.executable,
            str(CHECK_FOLDER),
            str(folder),
            architecture,
            str(weights),
            json.dumps(create_kwargs or {}),
            json.dumps(data_config or {}),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
