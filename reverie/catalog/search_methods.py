"""The embedding-index methods of ``Table`` (issue 23): thin delegates to the index layer.

Kept apart so the ``Table`` handle stays small. ``catalog/embeddings.py`` and
``catalog/similarity.py`` are imported where used: numpy and the vector code load only for
tables with an index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from reverie.catalog.catalog import Catalog
from reverie.catalog.propagate import forget_indexes
from reverie.display.resultset import ResultSet
from reverie.exec.schema import TableSchema
from reverie.exprs.expr import Expr

if TYPE_CHECKING:
    from reverie.catalog.embeddings import EmbeddingFn


class SearchMethods:
    """``add_embedding_index``, ``drop_embedding_index`` and ``near_duplicates``."""

    _catalog: Catalog

    def _schema(self) -> TableSchema:
        raise NotImplementedError

    def _writable(self, what: str, *, rows: bool = False) -> TableSchema:
        raise NotImplementedError

    def add_embedding_index(
        self,
        column: str | Expr,
        *,
        idx_name: str | None = None,
        embedding: EmbeddingFn | None = None,
        string_embed: EmbeddingFn | None = None,
        image_embed: EmbeddingFn | None = None,
        metric: Literal['cosine', 'ip', 'l2'] = 'cosine',
        if_exists: Literal['error', 'ignore', 'replace', 'replace_force'] = 'error',
    ) -> None:
        """Add an embedding index on ``column``, for ``t.col.similarity(...)`` in queries.

        ``embedding`` embeds the column's values (and query items of the same kind);
        ``string_embed`` / ``image_embed`` name one per kind (CLIP: text and images).
        ``metric``: 'cosine' and 'ip' give a similarity (sort with ``asc=False``), 'l2' a
        distance. The index follows inserts, updates, deletes, reverts and versions.

        Examples:
            >>> t.add_embedding_index('img', string_embed=clip.embed_text,
            ...     image_embed=clip.embed_image)  # doctest: +SKIP
            >>> sim = t.img.similarity('a red fox')  # doctest: +SKIP
            >>> t.order_by(sim, asc=False).limit(5).select(t.img, sim).collect()  # doctest: +SKIP
        """
        from reverie.catalog import embeddings

        schema = self._writable('add an index to')
        forget_indexes(self._catalog, schema.id)
        embeddings.add_embedding_index(
            self._catalog,
            schema,
            column,
            idx_name=idx_name,
            embedding=embedding,
            string_embed=string_embed,
            image_embed=image_embed,
            metric=metric,
            if_exists=if_exists,
        )

    def drop_embedding_index(
        self,
        *,
        column: str | Expr | None = None,
        idx_name: str | None = None,
        if_not_exists: Literal['error', 'ignore'] = 'error',
    ) -> None:
        """Drop the embedding index on ``column`` (its only one) or the one named ``idx_name``."""
        from reverie.catalog import embeddings

        schema = self._writable('drop an index of')
        forget_indexes(self._catalog, schema.id)
        embeddings.drop_embedding_index(
            self._catalog,
            schema,
            column=column,
            idx_name=idx_name,
            if_not_exists=if_not_exists,
        )

    def near_duplicates(
        self,
        column: str | Expr,
        *,
        threshold: float = 0.95,
        idx: str | None = None,
        select: Sequence[Any] | None = None,
    ) -> ResultSet:
        """Rows whose ``column`` is nearly the same as another's, grouped into clusters.

        Uses the column's embedding index: rows with similarity >= ``threshold`` (cosine,
        ip) or distance <= ``threshold`` (l2) are linked, and linked rows form a cluster.
        Returns ``cluster`` (0 = the largest) and the ``select`` expressions (default: every
        column), one row per member, in insertion order within a cluster. See docs/search.md.
        """
        from reverie.catalog.similarity import near_duplicates

        return near_duplicates(
            self._catalog, self._schema(), column, threshold=threshold, idx=idx, select=select
        )
