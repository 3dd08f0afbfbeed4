"""A checkpoint's weights stored as float16: half the size on disk, read back as float32.

    python training/half.py runs/prose-h512.safetensors runs/prose-h512-half.safetensors

The loaders (charcomplete/checkpoint.py) accept float16 tensors and run the network in float32;
the metadata (config, vocabulary, training record) is kept as it was. The 512-wide `prose`
candidate (training/README.md, "On a GPU") fits 40 MB with its memory only so (3.3 MB).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from charcomplete.checkpoint import read_safetensors, write_safetensors  # noqa: E402


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python training/half.py IN.safetensors OUT.safetensors")
    tensors, metadata = read_safetensors(sys.argv[1])
    out = write_safetensors(sys.argv[2], {k: v.half() for k, v in tensors.items()}, metadata)
    print(f"{out}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
