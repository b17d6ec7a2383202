"""The worker process's garbage collector, tuned for a heap that is mostly its cache of
complaints.

Each cached complaint keeps about 700 objects the collector tracks (its sandbox's copy of the
workflow module, its state), so a worker holding 1,000 complaints has about 0.8 million. With
CPython's default thresholds (700, 10, 10) whatever an activation allocates and still holds a
few milliseconds later is soon promoted to the oldest generation, and every few thousand
activations a full collection walks the whole cache with the GIL held: 0.5 to 0.8 s measured in
the middle of a timer storm, during which no complaint's deadline was worked on. A young
generation of 20,000 lets an activation's objects die young instead (one young collection per
storm of 1,000 deadlines instead of about 110; a full one at most every 20 young ones, so seldom
inside a storm), and the objects loaded at start (modules, schemas) are frozen out of every
collection.

The price is memory: cyclic garbage, such as a complaint's sandbox once it leaves the cache,
waits for the next full collection. Starting 2,000 complaints through a cache of 1,000 left the
worker at 665 MB, against 563 MB with CPython's thresholds and 799 MB with the older
generations left at (10, 10); its full collections took 2.1 s in all over that run, against
8.0 s and 0.2 s.
"""

import gc

YOUNG_GENERATION = 20_000  # container objects allocated, net, before a young collection
# The middle generation collected every 10 young collections, the old one every 2 of those
# (when a quarter of it is new, CPython's own rule): with (10, 10), what left the cache
# waited five times as long to be freed.
OLDER_GENERATIONS = (10, 2)


def settle_heap() -> None:
    """Once the worker is built: collect what starting left, freeze the rest, raise the young
    generation's threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *OLDER_GENERATIONS)
