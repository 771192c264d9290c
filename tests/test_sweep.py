"""The coverage sweep's per-architecture check and its table."""

from timm_hub_template.maintenance import sweep

ARCHITECTURE = "test_byobnet"  # timm's smallest byobnet, about 0.5M parameters


def test_check_one_runs_small_models_exactly_and_big_ones_on_the_meta_device():
    exact = sweep.check_one(ARCHITECTURE, sweep.Limits(max_params=10**9))
    assert (exact.status, exact.family, exact.explicit, exact.reason) == ("exact", "byobnet", True, "")
    structure = sweep.check_one(ARCHITECTURE, sweep.Limits(max_params=exact.params - 1))
    assert (structure.status, structure.params, structure.reason) == ("structure", exact.params, "")
    # Per loader: the three ways exact; structure-only runs build only the repository's code (on the meta device).
    assert exact.loaders == {"custom code": "exact", "TimmWrapper": "exact", "timm": "exact"}
    assert structure.loaders == {"custom code": "structure"}


def test_check_one_says_why_an_architecture_is_built_by_name():
    result = sweep.check_one("repvgg_b1g4", sweep.Limits(max_params=0))  # structure only: 40M parameters
    assert (result.status, result.explicit) == ("structure", False)
    assert result.fallback.startswith("argument `cfg` holds `_rep_vgg_bcfg.<locals>.<lambda>`")


def test_check_one_records_a_failure_instead_of_raising():
    result = sweep.check_one(ARCHITECTURE + ".no_such_tag", sweep.Limits(max_params=10**9))
    assert result.status == "fail"
    assert "no_such_tag" in result.reason


def test_report_counts_each_status_and_lists_failures_with_their_reason():
    results = [
        sweep.Result("a_small", "alpha", True, 10, "exact"),
        sweep.Result("a_big", "alpha", True, 900_000_000, "structure"),
        sweep.Result("a_large", "alpha", True, 300_000_000, "exact", dtype="bfloat16"),
        sweep.Result("b_odd", "beta", False, 10, "fail", "ruff: modeling_b_odd.py:1:8: F401 `os` imported but unused"),
        sweep.Result("b_lambda", "beta", False, 2_000_000, "exact", fallback="argument `cfg` holds `<lambda>`"),
    ]
    limits = sweep.Limits(max_params=100_000_000, bf16_max_params=400_000_000)
    text = sweep.report(results, 6, wall_seconds=120.0, peak_rss_mb=512.0, workers=2, limits=limits, command="sweep")
    assert "- architectures: 5 of 6 in 2 families" in text
    assert "- exact: 3 (2 in float32, 1 in bfloat16), structure only: 1, failed: 1" in text
    assert "- explicit fields: 3, fallback: 2" in text
    assert "| alpha | 3 | 3 | 2 | 1 | 1 | 0 |" in text
    assert "| beta | 2 | 0 | 1 | 0 | 0 | 1 |" in text
    assert "## Exact in bfloat16\n\n- `a_large` (alpha, 300M)\n" in text
    assert "- `b_lambda` (beta, 2M): argument `cfg` holds `<lambda>`" in text
    assert "- `b_odd` (beta, 0M): ruff: modeling_b_odd.py:1:8: F401 `os` imported but unused" in text
    assert "- wall time: 2.0 min with 2 workers; peak RSS of one worker: 512 MB" in text


def test_coverage_repeats_the_sibling_totals(tmp_path):
    import json
    from dataclasses import asdict

    from timm_hub_template.maintenance.siblings import ClassReach, Reach

    assert sweep.siblings_section(tmp_path / "SIBLINGS.jsonl") == ""  # no sibling sweep yet: no section
    reach = ClassReach(
        "timm.models.resnet:ResNet",
        "resnet18",
        [Reach("resnet34", True, logits=True), Reach("resnet50", False, "keys differ", same_code=False)],
    )
    (tmp_path / "SIBLINGS.jsonl").write_text(json.dumps(asdict(reach)) + "\n")
    section = sweep.siblings_section(tmp_path / "SIBLINGS.jsonl")
    assert "## Siblings: the config decides the model" in section
    assert "- classes: 1; siblings: 2, reached: 1, not reached: 1" in section
    assert "- same modeling file: 1 of 2" in section
