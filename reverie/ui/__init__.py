"""``reverie ui``: a local web app over the open catalog (Starlette, Jinja2, htmx).

Pages: tables (``/``, ``/t/<path>``), grid (``/grid/<path>``, ``<path>:N`` for a past
version), a cell with its provenance (``/cell/<path>?row=&col=``), compare
(``/compare/<path>``), errors (``/errors/<path>``), history (``/history/<path>``), cost
(``/cost``) and work in progress (``/work``). Needs the ``ui`` extra:
``pip install 'reverie[ui]'``.
"""
