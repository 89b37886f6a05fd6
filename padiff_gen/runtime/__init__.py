"""Code that generated scripts inline (via libcst) and that never imports padiff_gen.

Each module here is written as plain, standalone Python: the renderer copies the functions a
script needs, with their imports, into the script. ``copy_torch`` and ``copy_paddle`` offer the
same functions for the two copy back-ends; a script gets the torch one whenever torch is on
either side, so only a paddle -> paddle script does without torch.
"""
