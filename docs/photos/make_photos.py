"""Draw the README's two sample photos (run once from the repo root; the files are committed).

    python docs/photos/make_photos.py
"""

from __future__ import annotations

from pathlib import Path

from reverie.demo import make_photos

if __name__ == '__main__':
    fox, cat = make_photos(Path(__file__).parent)
    print(f'Wrote {fox} and {cat}.')
