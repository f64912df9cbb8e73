"""The walk of a corpus folder: every document file's size and modification time, one ``stat`` each.

Standard library only, so that it also runs as a script in a bare
interpreter (``python -I -S qa/listing.py FOLDER METADATA SUFFIX…``, its
result marshalled on stdout): `qa.scan.listing_soon` lists an archive in
such a process beside the store's opening.  In a thread of the same process
the two contend for the GIL — each of the walk's 330,000 system calls gives
it up, and the opening's Python takes it back for its whole switch interval
— and the overlap gained nothing (benchmarks/README.md, "Scale").
"""

from __future__ import annotations

import marshal
import os
import stat
import sys

Walked = tuple[list[str], list[int], list[int], list[str], "tuple[int, int] | None"]


def walk(corpus_dir: str, suffixes: frozenset[str], metadata_file: str) -> Walked:
    """Doc ids (posix paths inside the folder) with sizes and mtimes in ns, the other files, metadata's stat.

    Folders that are symbolic links are not entered (a link to a folder above would loop, one to a folder inside
    would give its files a second doc id); a document file is a regular file, reached through a link or not."""
    ids: list[str] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    others: list[str] = []
    metadata = None
    pending = [(corpus_dir, "")]
    while pending:
        folder, prefix = pending.pop()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)  # files stat'ed by name in it: no path walk each
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((os.path.join(folder, name), f"{prefix}{name}/"))
                    elif (dot := name.rfind(".")) > 0 and name[dot:].lower() in suffixes:
                        try:
                            st = os.stat(name, dir_fd=fd)
                        except OSError:
                            continue
                        if stat.S_ISREG(st.st_mode):
                            ids.append(prefix + name)
                            sizes.append(st.st_size)
                            mtimes.append(st.st_mtime_ns)
                    elif prefix + name == metadata_file:
                        st = os.stat(name, dir_fd=fd)
                        metadata = (st.st_size, st.st_mtime_ns)
                    elif not name.startswith(".") and entry.is_file(follow_symlinks=True):
                        others.append(prefix + name)
        finally:
            os.close(fd)
    return ids, sizes, mtimes, others, metadata


if __name__ == "__main__":
    folder, metadata_name, *known = sys.argv[1:]
    sys.stdout.buffer.write(marshal.dumps(walk(folder, frozenset(known), metadata_name)))
