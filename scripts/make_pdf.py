"""Write data/club-handbook.pdf, the small real PDF (text only, Helvetica) that lesson 09 uploads.

Usage: .venv/bin/python scripts/make_pdf.py
"""

from __future__ import annotations

from pathlib import Path

HANDBOOK = [
    "Riverside Chess Club - Member Handbook",
    "",
    "Opening hours",
    "The club room opens on Tuesdays and Thursdays from 18:30 to 22:00.",
    "",
    "Fees",
    "Adult membership costs 40 EUR per year. Students pay 15 EUR per year.",
    "Guests may attend two evenings for free before joining.",
    "",
    "Tournaments",
    "The winter rapid tournament starts on 14 January. Entry closes on 7 January.",
    "Time control: 15 minutes plus 10 seconds per move.",
    "",
    "Equipment",
    "Boards and clocks are provided. Please return clocks to the blue cabinet.",
]


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(lines: list[str]) -> bytes:
    text = ["BT", "/F1 11 Tf", "14 TL", "56 790 Td"] + [f"({_escape(line)}) Tj T*" for line in lines] + ["ET"]
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "data" / "club-handbook.pdf"
    target.write_bytes(pdf_bytes(HANDBOOK))
    print(f"wrote {target} ({target.stat().st_size} bytes)")
