{#- The configuration file has one template per kind of architecture, in templates/ (cookiecutter's folder of the
    templates the project's files include): the explicit fields of timm's class, or the fallback built by name.
    Both write the parts they share with configuration_common.py.jinja. -#}
{%- set answers = cookiecutter | answers -%}
{%- set spec = answers.spec -%}
{%- set prefix = cookiecutter.__class_prefix -%}
{% include "configuration_explicit.py.jinja" if spec.explicit else "configuration_fallback.py.jinja" -%}
