"""Data sets in the HumanML3D folder layout (HumanML3D, Motion-X, SynthMotion) and their splits."""
