"""The origin notebook's experiment, answered with the product's method: `charcomplete compare`.

Research code, kept apart from the editor's modules: notebook.py (the notebook's own method,
for reference), compare.py (both models through the shared trainer, side by side), plots.py
(the two plots, in the terminal with plotext and as a PNG with matplotlib; both optional:
`pip install 'charcomplete[compare]'`).
"""
