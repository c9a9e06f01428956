"""Keep one GPU architecture's kernels in a CUDA shared library, so it travels small.

    python3 scripts/device/prune_fatbin.py SOURCE.so TARGET.so 90

A CUDA library carries its kernels in the ELF section ``.nv_fatbin``: fat binaries of
entries (a header, then a compressed cubin or PTX) for several architectures, of which
the driver loads only the one matching the GPU. This zeroes the payload of every entry
of another architecture, keeping all headers and sizes (nothing moves, nothing is
relinked), so the file then compresses to about what one architecture costs:
onnxruntime-gpu 1.31.1's CUDA provider goes from 231 MB (deflated in the wheel) to
52 MB (xz) keeping sm_90 (H100, H200). The result runs only on that architecture.
Used by scripts/device/stage.sh; nothing in the package imports it.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator

FATBIN_MAGIC = 0xBA55ED50


def section(elf: bytes, name: str) -> tuple[int, int]:
    """(file offset, size) of an ELF64 little-endian section."""
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    entsize, count, names = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * entsize) for i in range(count)]
    strtab = headers[names][4]
    for header in headers:
        start = strtab + header[0]
        if elf[start : elf.index(b"\0", start)].decode() == name:
            return header[4], header[5]
    raise SystemExit(f"no section {name!r} in this file: not a CUDA library?")


def entries(elf: bytes, offset: int, size: int) -> Iterator[tuple[int, int, int]]:
    """(payload offset, payload size, architecture) of every fat-binary entry."""
    position, end = offset, offset + size
    while position < end:
        magic, _, header, fat = struct.unpack_from("<IHHQ", elf, position)
        if magic != FATBIN_MAGIC:  # alignment padding between fat binaries
            position += 8
            continue
        entry, last = position + header, position + header + fat
        while entry < last:
            _, _, entry_header, payload = struct.unpack_from("<HHIQ", elf, entry)
            arch = struct.unpack_from("<I", elf, entry + 28)[0]
            yield entry + entry_header, payload, arch
            entry += entry_header + payload
        position = last


def main() -> None:
    source, target, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(source, "rb") as file:
        elf = bytearray(file.read())
    offset, size = section(bytes(elf), ".nv_fatbin")
    kept = dropped = 0
    for start, payload, arch in list(entries(bytes(elf), offset, size)):
        if arch == keep:
            kept += payload
        else:
            elf[start : start + payload] = bytes(payload)
            dropped += payload
    if kept == 0:
        raise SystemExit(f"no sm_{keep} kernels in {source}: nothing would run")
    with open(target, "wb") as file:
        file.write(elf)
    print(f"sm_{keep}: kept {kept / 2**20:.1f} MiB of kernels, zeroed {dropped / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
