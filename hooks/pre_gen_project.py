"""Refuse bad input before anything is generated.

The checks (timm_hub_template.answers) ran when cookiecutter rendered this file, in its own process where
timm is already imported; this script only reports their result. A folder that passes says it is incomplete
(GENERATION_INCOMPLETE.txt) until the post-generation step has verified it, so that an interrupted run never
looks finished.
"""

import sys

ERROR = {{cookiecutter | prepare_generation | pyrepr}}

if ERROR:
    sys.exit(f"Error: {ERROR}")

for warning in {{cookiecutter | public_context | answer_warnings | pyrepr}}:
    print(f"Warning: {warning}", file=sys.stderr)
