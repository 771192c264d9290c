"""Report the generation, which ran in cookiecutter's own process while it rendered this file.

The export, the verification and publishing (timm_hub_template.generate) ran there, where the pre-generation
checks had already imported torch, timm and transformers: they are imported once per run. This script only
reports the outcome; a failure makes cookiecutter remove the folder it created.
"""

import sys

ERROR = {{cookiecutter | complete_generation | pyrepr}}

if ERROR:
    sys.exit(f"Error: {ERROR}")
