"""Load the weights into the generated model, save the Hub files, prove they load like timm, and publish."""

import sys

sys.path.insert(0, {{ template_root() | pyrepr }})

from timm_hub_template.generate import main  # noqa: E402

sys.exit(main({{ cookiecutter | public_context | pyrepr }}, cruft_update={{ cruft_update() | pyrepr }}))
