raise RuntimeError("module init exploded")
