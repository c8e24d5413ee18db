"""Motion representation: the 22-joint skeleton, HumanML3D's 263-d features, exports."""
