"""timm's pretrained weights on the Hugging Face Hub: whether timm can fetch them now, and which revision it took.

`pretrained_unreachable` is asked while the answers are checked (`weights=pretrained` offline fails then, with one
line, not after the files are rendered); `cached_revision` names the release's commit on the card.
"""

from __future__ import annotations

from pathlib import Path

from timm_hub_template.errors import first_line

# Files timm's Hub loader looks for, in its order (timm.models._hub.load_state_dict_from_hf).
HUB_WEIGHT_FILES = (
    "model.safetensors",
    "open_clip_model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
)


PROBE_SECONDS = 10  # one answer of the Hub, not its download


def pretrained_unreachable(hub_id: str | None, filename: str | None = None) -> str:
    """Why timm could not fetch the weights of Hub repository `hub_id` now ("" when it can, or when they are in the
    Hugging Face cache), found with one short request: offline, huggingface_hub retries for about a minute."""
    if not hub_id:
        return ""  # a URL or a file: timm's own download, not the Hub's
    from huggingface_hub import constants, get_session, try_to_load_from_cache

    repo_id, _, revision = hub_id.partition("@")
    for name in (filename, *HUB_WEIGHT_FILES):
        if name and isinstance(try_to_load_from_cache(repo_id, name, revision=revision or None), str):
            return ""
    if constants.HF_HUB_OFFLINE:
        return f"HF_HUB_OFFLINE is set and {repo_id} is not in the Hugging Face cache"
    try:
        get_session().head(f"{constants.ENDPOINT}/api/models/{repo_id}", timeout=PROBE_SECONDS)
    except Exception as error:  # noqa: BLE001 - any transport failure means: timm's download would fail too
        return f"the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached ({first_line(error) or type(error).__name__})"
    return ""


def cached_revision(repo_id: str, filename: str | None) -> str:
    """The Hub commit of the cached file timm loaded (its snapshot folder's name), or ""."""
    from huggingface_hub import try_to_load_from_cache

    for name in (filename, *HUB_WEIGHT_FILES):
        if name:
            path = try_to_load_from_cache(repo_id, name)
            if isinstance(path, str):
                return Path(path).parent.name
    return ""
