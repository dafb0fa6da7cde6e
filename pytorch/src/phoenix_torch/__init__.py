"""Phoenix pod contract for PyTorch."""
