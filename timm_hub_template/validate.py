"""Checks of the user's variables, made before anything is generated: one clear line per problem."""

from __future__ import annotations

import difflib
import keyword
import re
from pathlib import Path
from typing import Any

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# The answers cookiecutter's own yes/no prompts accept.
YES = {"yes", "y", "true", "1", "on"}
NO = {"no", "n", "false", "0", "off"}
# Names Windows cannot use for a folder; a repo must clone everywhere.
RESERVED_FOLDER_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def validation_error(context: dict[str, Any]) -> str:
    """The first problem with the variables, as one line saying what to do; "" when they are all valid."""
    for check in (
        _check_architecture,
        _check_repo_name,
        _check_identifiers,
        _check_model_type,
        _check_num_labels,
        _check_weights,
        _check_publishing,
    ):
        error = check(context)
        if error:
            return error
    return ""


def _check_architecture(context: dict[str, Any]) -> str:
    import timm
    from timm.models import get_arch_pretrained_cfgs, split_model_name_tag

    architecture = str(context["architecture"]).strip()
    name, tag = split_model_name_tag(architecture)
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
        return f"unknown timm architecture {architecture!r}{hint}"
    tags = [full.split(".", 1)[1] for full in get_arch_pretrained_cfgs(name) if "." in full]
    if tag and tag not in tags:
        available = ", ".join(tags) if tags else "none"
        return f"{name} has no pretrained tag {tag!r}; available tags: {available}"
    return ""


def _check_repo_name(context: dict[str, Any]) -> str:
    return repo_name_error(str(context["repo_name"]))


def repo_name_error(repo_name: str) -> str:
    """Why `repo_name` is not a safe folder and Hub repository name, or ""."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not repo_name or repo_name in (".", "..") or "/" in repo_name or "\\" in repo_name:
        return f"repo_name {repo_name!r} must be a single folder name, without '/', '\\' or '..'"
    if repo_name.split(".")[0].lower() in RESERVED_FOLDER_NAMES:
        return f"repo_name {repo_name!r} is a reserved device name on Windows; choose another"
    try:
        validate_repo_id(repo_name)
    except HFValidationError as error:
        return f"repo_name {repo_name!r} is not a valid Hub repository name: {str(error).splitlines()[0]}"
    return ""


def _check_identifiers(context: dict[str, Any]) -> str:
    for variable in ("module_name", "class_prefix"):
        value = str(context[variable])
        if not value.isidentifier() or not value.isascii() or keyword.iskeyword(value):
            return f"{variable} {value!r} must be a Python identifier (ASCII letters, digits, '_'), not a keyword"
    return ""


def _check_model_type(context: dict[str, Any]) -> str:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    model_type = str(context["model_type"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", model_type):
        return f"model_type {model_type!r} must be lower-case letters, digits and '_', like 'custom_resnet50d'"
    if model_type in CONFIG_MAPPING_NAMES:
        return f"model_type {model_type!r} is one of Transformers' own model types; choose another, like 'custom_{model_type}'"
    return ""


def _check_num_labels(context: dict[str, Any]) -> str:
    value = str(context.get("num_labels", "auto")).strip()
    if value != "auto" and not (value.isdigit() and int(value) <= 1_000_000):
        return f"num_labels {value!r} must be 'auto' (the architecture's head) or a whole number from 0 to 1000000"
    return ""


def _check_weights(context: dict[str, Any]) -> str:
    weights = str(context["weights"]).strip()
    if weights in ("random", "pretrained"):
        return _check_pretrained_exists(context) if weights == "pretrained" else ""
    path = Path(weights).expanduser()
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        return (
            f"weights {weights!r} must be 'pretrained', 'random' or a checkpoint file ending in "
            f"{', '.join(CHECKPOINT_SUFFIXES)}"
        )
    if not path.is_file():
        return f"weights file {weights!r} does not exist"
    return ""


def _check_pretrained_exists(context: dict[str, Any]) -> str:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(str(context["architecture"]).strip())
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        return f"timm has no pretrained weights for {context['architecture']}: use weights=random or a checkpoint path"
    return ""


def _check_publishing(context: dict[str, Any]) -> str:
    owner = str(context.get("hub_owner", "")).strip()
    if owner and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?", owner):
        return (
            f"hub_owner {owner!r} must be a Hub user or organisation name (letters, digits, '-', '_', '.'), or empty"
        )
    license_id = str(context.get("license", "auto")).strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", license_id):
        return f"license {license_id!r} must be 'auto' or a Hub license id in lower case, like 'apache-2.0', 'mit' or 'other'"
    description = str(context.get("description", ""))
    if len(description) > 300 or not description.isprintable():
        return "description must be one line of at most 300 printable characters"
    for variable in ("git_init", "push_to_hub", "private"):
        if variable in context and str(context[variable]).strip().lower() not in YES | NO:
            return f"{variable} must be yes or no, not {context[variable]!r}"
    return ""


def is_yes(context: dict[str, Any], variable: str) -> bool:
    """A yes/no variable (validated before generation); absent means no."""
    return str(context.get(variable, "no")).strip().lower() in YES
