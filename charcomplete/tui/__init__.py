"""The Textual editor: `charcomplete edit FILE` (see app.py for the layout)."""
