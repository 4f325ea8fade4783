"""Copy the real SV caller files used by tests/test_sv_callers.py into tests/data/callers/.

The five files are small (4 to 11 records each), so the "slice" of each is the whole file: header and records
copied byte for byte, nothing edited. The script refuses a source whose record count differs from the one
the tests were written against (a different release of the source package).

    .venv/bin/python scripts/make_caller_slices.py /path/to/shared/data
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# file name in <shared>/sv_calls -> number of records it holds
FILES = {
    "delly-0.6.8.vcf": 4,
    "COLO829.nanopore.sniffles.vcf": 7,
    "pindel-0.2.5b6.vcf": 5,
    "breakdancer-1.4.5.vcf": 9,
    "manta-1.1.1.vcf": 11,
}


def main(shared: str) -> None:
    src_dir = Path(shared) / "sv_calls"
    out_dir = Path(__file__).resolve().parent.parent / "tests" / "data" / "callers"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, n_records in FILES.items():
        src = src_dir / name
        lines = src.read_bytes().splitlines()
        got = sum(1 for x in lines if x and not x.startswith(b"#"))
        if got != n_records:
            sys.exit(f"{src}: {got} records, expected {n_records}; is this the same source package?")
        shutil.copyfile(src, out_dir / name)
        print(f"{out_dir / name}: {got} records", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
