"""The template's maintenance tools: they measure and rebuild what the template ships, and no generation runs them.

- `sweep`: the coverage sweep, every architecture generated and verified (COVERAGE.md, COVERAGE.jsonl);
- `siblings`: every architecture of a class built from one repository's config (SIBLINGS.md, SIBLINGS.jsonl);
- `onnx_sweep`: `onnx=yes` on one small architecture per family of a sample (ONNX.md);
- `class_table`: `timm_classes.json`, every timm class with its architectures and what they share;
- `timm_history`: `timm_history.json`, since which timm 1.0.x release each name exists (read by `timm_floor`);
- `locks`: constraints.txt and the compatibility matrix's locks;
- `render`: the code files of a sample of architectures, without export, to compare before and after a template
  change.

One command line runs them: `python -m timm_hub_template.maintenance {sweep,siblings,onnx-sweep,classes,
timm-history,locks,render}`. The code a generation runs (the hooks' `jinja_extension`, `generate`, `batch`) never imports this
package (`tests/test_maintenance.py` generates with it unimportable).
"""
