"""What the tests share, apart from the test modules (tests/ is on pytest's path: `from helpers.support import bake`).

support: bake the template, the template's variables, timm checkpoints, Hugging Face cache entries, other versions'
environments, a terminal to answer the questions on, and `check_folder.py` in a fresh process.
fake_hub: a loopback stand-in for the Hub API, for the protocol tests of the push.
training_run: checkpoints exactly as timm's `train.py` saves them (its argparse defaults: train_py_args.json).
check_folder, check_compat: scripts run in a fresh process (`python tests/helpers/check_folder.py ...`) that load a
generated folder as a user does and print what the tests assert on.
"""
