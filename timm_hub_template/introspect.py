"""The former path of the introspection, which is the package `timm_hub_template.introspection`."""

from timm_hub_template.introspection import *
from timm_hub_template.introspection import __all__  # noqa: F401
