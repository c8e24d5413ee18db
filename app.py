"""HMU Studio: ``python app.py`` starts the web app on the embedded models (offline, CPU or GPU).

Options: ``--host`` / ``--port`` (default 127.0.0.1:7860, or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT as
Hugging Face Spaces sets them), ``--safe`` (serve only the unlearned model; same as HMU_SAFE_MODE=1),
``--no-warm-up``, ``--bundle`` / ``--judge`` / ``--index`` (other checkpoints). The models load once at
start; a part that is missing or corrupt is named with its fix, and the app starts with the rest. A
warm-up comparison then runs in the background so the first click does not pay for it.
"""

from __future__ import annotations

import os

# Before gradio is imported: no analytics thread, no hub access, offscreen GL on Mesa/EGL.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from hmu_demo.ui.server import Checkpoints, launch  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or the next free one)")
    parser.add_argument("--safe", action="store_true", help="safe deployment: serve only the unlearned model")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the background warm-up comparison")
    parser.add_argument("--bundle", type=Path, default=Checkpoints.bundle_dir,
                        help="model bundle folder (default: the shipped checkpoints/embedded)")
    parser.add_argument("--judge", type=Path, default=None, help="judge folder (default: checkpoints/judge)")
    parser.add_argument("--index", type=Path, default=None,
                        help="code index file (default: the bundle's shipped code_index.json.gz)")
    args = parser.parse_args(argv)
    launch(host=args.host, port=args.port, safe_mode=True if args.safe else None, warm=not args.no_warm_up,
           checkpoints=Checkpoints(args.bundle, args.judge, args.index))
    return 0


if __name__ == "__main__":
    sys.exit(main())
