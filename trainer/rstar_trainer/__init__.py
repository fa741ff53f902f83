"""rstar_trainer: the one tiny model definition (tokenizer, policy, PPM, ONNX export).

Tests use random-weight models from make_test_models.py; a later issue trains the same
definition. Run everything with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12).
"""
