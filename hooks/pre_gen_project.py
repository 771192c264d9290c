"""Refuse bad input before anything is generated.

The checks (timm_hub_template.answers) ran when cookiecutter rendered this file, in its own process where
timm is already imported; this script only reports their result.
"""

import sys

ERROR = {{ cookiecutter | public_context | validation_error | pyrepr }}

if ERROR:
    sys.exit(f"Error: {ERROR}")
