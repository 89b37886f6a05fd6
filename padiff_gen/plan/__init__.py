"""The plan: what the analysis found and the renderer lays out, as plain frozen data.

``plan``: units, tensor copies, the plan itself; ``operations``: a row's transform as typed,
reversible operations; ``fold``: repeated rows said once; ``choices``: a layout the shapes
allow several ways, chosen by the user or asked about.
"""
