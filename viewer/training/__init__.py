"""Optional training extra (``pip install medroute-viewer[train]``): PyTorch training, OpenVINO conversion, NNCF INT8.

The only package that imports torch.  ``viewer.training.cli`` registers ``medroute train`` / ``medroute quantize``
without importing torch; the heavy imports happen when a command runs.
"""
