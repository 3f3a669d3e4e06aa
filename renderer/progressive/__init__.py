"""Progressive pages for users' own Tornado handlers: the shell first, then
each slow part swapped in as it finishes (``Suspense``)."""

from .suspense import Order, Suspense

__all__ = ["Order", "Suspense"]
