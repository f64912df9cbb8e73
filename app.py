"""Hugging Face Space entry point: the chat over the index in embeddings/ of the corpus in data/."""

import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models ship in packages; never reach for a hub

from qa.ui import main  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="qa: %(message)s")  # libraries: their warnings only
    logging.getLogger("qa").setLevel(logging.INFO)  # the chat's own notes (an export, a corpus caught up with)
    main()
